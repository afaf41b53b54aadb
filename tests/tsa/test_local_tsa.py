"""The local TSA itself: an RFC 3161 authority that an independent client (`openssl ts`) accepts.

Checked with Debian's OpenSSL rather than with the code that made the token: `openssl ts
-verify` checks the token's signature and its ESS signing-certificate attribute, the message
imprint and nonce against the query, the chain to the given root, and that the TSA's
certificate has the extended key usage timeStamping, critical (RFC 3161 section 2.3).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.tsa.server import REPLY_CONTENT_TYPE, REQUEST_CONTENT_TYPE, LocalTsa, TsaMode, port_is_closed

OPENSSL_FOUND = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL_FOUND is None, reason="the openssl command is not installed")
OPENSSL = OPENSSL_FOUND or "openssl"  # run only by tests marked needs_openssl


def _query(tmp_path: Path) -> tuple[Path, bytes]:
    data = tmp_path / "data.bin"
    data.write_bytes(b"what was signed")
    query = tmp_path / "query.tsq"
    subprocess.run(
        [OPENSSL, "ts", "-query", "-data", str(data), "-sha256", "-cert", "-out", str(query)],
        check=True,
        capture_output=True,
    )
    return data, query.read_bytes()


def _post(tsa: LocalTsa, body: bytes) -> httpx.Response:
    return httpx.post(tsa.url, content=body, headers={"Content-Type": REQUEST_CONTENT_TYPE}, timeout=10)


@needs_openssl
def test_openssl_verifies_a_token_against_the_query_and_the_tsa_root(local_tsa, tmp_path):
    data, query = _query(tmp_path)
    response = _post(local_tsa, query)
    assert response.status_code == 200
    assert response.headers["content-type"] == REPLY_CONTENT_TYPE
    (tmp_path / "reply.tsr").write_bytes(response.content)
    (tmp_path / "root.pem").write_text(local_tsa.ca_pem)
    verified = subprocess.run(
        [
            OPENSSL,
            "ts",
            "-verify",
            "-in",
            str(tmp_path / "reply.tsr"),
            "-queryfile",
            str(tmp_path / "query.tsq"),
            "-CAfile",
            str(tmp_path / "root.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "Verification: OK" in verified.stdout
    # The same token does not verify against another query (another digest).
    (tmp_path / "data.bin").write_bytes(b"something else")
    other = tmp_path / "other.tsq"
    subprocess.run([OPENSSL, "ts", "-query", "-data", str(data), "-sha256", "-out", str(other)], check=True)
    refused = subprocess.run(
        [
            OPENSSL,
            "ts",
            "-verify",
            "-in",
            str(tmp_path / "reply.tsr"),
            "-queryfile",
            str(other),
            "-CAfile",
            str(tmp_path / "root.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert local_tsa.requests == 1


def test_the_tsa_certificate_has_only_the_time_stamping_usage_marked_critical(local_tsa):
    certificate = local_tsa.credentials.certificate
    usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert usage.critical is True
    assert list(usage.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    assert certificate.issuer == local_tsa.credentials.root.subject
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


@needs_openssl
@pytest.mark.parametrize(
    ("mode", "status"),
    [(TsaMode.HTTP_500, 500), (TsaMode.GARBAGE, 200), (TsaMode.WRONG_NONCE, 200), (TsaMode.REJECTED, 200)],
)
def test_failure_modes_answer_as_named(local_tsa, tmp_path, mode, status):
    _data, query = _query(tmp_path)
    local_tsa.set_mode(mode)
    response = _post(local_tsa, query)
    assert response.status_code == status
    if mode is TsaMode.REJECTED:
        # SEQUENCE { SEQUENCE { INTEGER 2 (rejection), ... } } and no token
        assert response.content[0] == response.content[2] == 0x30 and response.content[4:7] == b"\x02\x01\x02"
    assert local_tsa.requests == 1


def test_down_closes_the_port_and_reset_reopens_the_same_url(local_tsa):
    url = local_tsa.url
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    local_tsa.set_mode(TsaMode.DOWN)
    assert port_is_closed(port)
    local_tsa.reset()
    assert local_tsa.url == url and not port_is_closed(port)


def test_scripted_answers_fail_after_a_count_then_recover_on_reset(local_tsa, tmp_path):
    body = b"\x30\x00"  # not a TimeStampReq: counted, answered 400 while healthy
    local_tsa.fail_after(1, TsaMode.HTTP_500)
    assert _post(local_tsa, body).status_code == 400
    assert _post(local_tsa, body).status_code == 500
    assert _post(local_tsa, body).status_code == 500
    local_tsa.reset()
    local_tsa.fail_next(1, TsaMode.HTTP_500)
    assert [_post(local_tsa, body).status_code for _ in range(2)] == [500, 400]
    assert local_tsa.requests == 2
