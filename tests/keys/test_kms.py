"""The AWS KMS backend against moto's server (real HTTP on loopback): Sign with MessageType=DIGEST."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keys.backends.spec import KmsKeySpec
from keys.certificates import chain_pem
from keys.credential import load_credential
from keys.devca import create_development_ca, issue_development_certificate
from keys.errors import KeyBackendUnavailable, KeyDoesNotMatchCertificate, UnsupportedKeyType
from tests.support import free_port

from .backend_setup import AWS_TEST_ENVIRONMENT, KMS_REGION, KmsServer, moto_honours_digest


@pytest.fixture(scope="module")
def ca():
    return create_development_ca(organisation="originmark kms tests")


def _spec(server: KmsServer, tmp_path: Path, ca, **changes) -> KmsKeySpec:
    key_id, public_key = server.create_signing_key()
    chain_path = tmp_path / f"{key_id}.pem"
    chain_path.write_text(chain_pem([issue_development_certificate(ca, public_key), ca.certificate]))
    spec = KmsKeySpec(chain_path=chain_path, key_id=key_id, region=server.region, endpoint_url=server.endpoint_url)
    return dataclasses.replace(spec, **changes)


def test_an_alias_resolves_to_the_key_and_signs(kms, tmp_path, ca):
    spec = _spec(kms, tmp_path, ca)
    with contextlib.closing(kms.client()) as client:
        client.create_alias(AliasName="alias/originmark-signing", TargetKeyId=spec.key_id)
    signing_key = load_credential(dataclasses.replace(spec, key_id="alias/originmark-signing"))
    try:
        assert signing_key.sign(b"claim")[0] == 0x30
        assert "alias/originmark-signing" in signing_key.key_description
    finally:
        signing_key.close()


def test_a_key_that_is_not_an_ecc_signing_key_is_refused(kms, tmp_path, ca):
    with contextlib.closing(kms.client()) as client:
        rsa_key = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    spec = _spec(kms, tmp_path, ca, key_id=rsa_key)
    with pytest.raises(UnsupportedKeyType, match="RSA_2048") as raised:
        load_credential(spec)
    assert "ECC_NIST_P256" in raised.value.fix


def test_an_unknown_key_id_is_reported_with_the_fix(kms, tmp_path, ca):
    spec = _spec(kms, tmp_path, ca, key_id="11111111-2222-3333-4444-555555555555")
    with pytest.raises(KeyBackendUnavailable, match="NotFoundException") as raised:
        load_credential(spec)
    assert "ORIGINMARK_KMS_KEY_ID" in raised.value.fix


def test_missing_aws_credentials_name_the_standard_chain(kms, tmp_path, ca, monkeypatch):
    spec = _spec(kms, tmp_path, ca)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    with pytest.raises(KeyBackendUnavailable, match="No AWS credentials") as raised:
        load_credential(spec)
    assert "never in originmark's settings" in raised.value.fix


def test_an_unreachable_endpoint_fails_at_load_not_at_first_signature(kms, tmp_path, ca):
    spec = _spec(kms, tmp_path, ca, endpoint_url=f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(KeyBackendUnavailable, match="cannot be reached"):
        load_credential(spec)
    assert time.monotonic() - started < 20


@contextlib.contextmanager
def _unpatched_moto_server(tmp_path: Path):
    """moto in its own process, exactly as released (no DIGEST fix)."""
    port = free_port()
    environment = {**os.environ, **AWS_TEST_ENVIRONMENT}
    log = (tmp_path / "moto.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=environment,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("moto_server did not start")
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def test_a_kms_that_hashes_the_digest_again_is_caught_by_the_possession_check(kms, tmp_path, ca):
    # Released moto signs sha256(digest) for MessageType=DIGEST; real KMS signs the digest. The
    # load-time challenge catches such a service instead of letting it make unverifiable assets.
    with _unpatched_moto_server(tmp_path) as endpoint:
        if moto_honours_digest(endpoint, KMS_REGION):
            pytest.skip("this moto implements MessageType=DIGEST: the fix in tests/keys/backend_setup.py can go")
        unpatched = KmsServer(endpoint_url=endpoint, region=KMS_REGION, digest_fixed=False)
        spec = _spec(unpatched, tmp_path, ca)
        with pytest.raises(KeyDoesNotMatchCertificate, match="signs something other than the digest") as raised:
            load_credential(spec)
    assert "MessageType=DIGEST" in raised.value.fix


def test_a_kms_outage_while_signing_says_the_signer_is_unavailable_and_recovers(kms, tmp_path, ca):
    # A second endpoint onto the same emulated KMS (moto's state is per process), stopped mid-way.
    from moto.server import ThreadedMotoServer
    from PIL import Image

    from signer.engine import SignerOptions
    from signer.errors import SignerProbeFailed
    from signer.isolation import IsolatedSigner, SignLimits
    from signer.manifest import GenerationRequest

    port = free_port()
    endpoint = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    endpoint.start()
    spec = _spec(kms, tmp_path, ca, endpoint_url=f"http://127.0.0.1:{port}")
    source = tmp_path / "gen.jpg"
    Image.new("RGB", (32, 24), (10, 20, 30)).save(source, "JPEG")
    request = GenerationRequest(generator_name="kms outage")
    limits = SignLimits(timeout_seconds=60, memory_bytes=2048 * 1024 * 1024)
    with IsolatedSigner(credential=spec, options=SignerOptions(), limits=limits, workers=1) as pool:
        endpoint.stop()
        # Not the file's fault (the engine alone would say "COSE signature invalid", a 422): a 503.
        with pytest.raises(
            SignerProbeFailed, match="the signing key could not sign gen.jpg: AWS KMS cannot be reached"
        ):
            pool.sign_file(source=source, destination=tmp_path / "failed.jpg", request=request)
        endpoint = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        endpoint.start()
        try:
            assert pool.sign_file(source=source, destination=tmp_path / "signed.jpg", request=request).manifest_label
        finally:
            endpoint.stop()
