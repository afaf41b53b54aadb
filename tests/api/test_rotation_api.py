"""`originmark keys rotate` under a running server, while signing requests are in flight.

Two identities (each made by `keys init --identity`, with its own development root, which
the server trusts as a local anchor at start-up); A is active when the server starts. Two
clients sign one upload after another; midway `keys rotate --to b` runs. Every request
must succeed; each client's signatures are A's until they become B's, never A's again; each
signed file's verdict names the certificate (CN and serial) of the identity the audit log
records for that manifest label.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from typer.testing import CliRunner

from app.cli import cli
from app.store.interface import Scope
from app.store.sql import open_store
from tests.support import running_server
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

from .helpers import ApiKeys, free_port, jpeg_bytes, sign_form

ORIGINMARK = Path(sys.executable).with_name("originmark")
CLIENTS = 2
MAX_REQUESTS_PER_CLIENT = 40
DEADLINE_SECONDS = 60


def _keys(keys_dir: Path, *args: str):
    result = CliRunner().invoke(cli, ["keys", *args], env={"ORIGINMARK_KEYS_DIR": str(keys_dir)})
    assert result.exit_code == 0, result.output
    return result.output


def _leaf(keys_dir: Path, name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificates((keys_dir / "identities" / name / "chain.pem").read_bytes())[0]


def test_rotation_under_load_fails_no_request_and_switches_every_client(tmp_path):
    keys_dir = tmp_path / "keys"
    _keys(keys_dir, "init", "--identity", "a", "--organisation", "Rotation A")
    _keys(keys_dir, "init", "--identity", "b", "--organisation", "Rotation B")
    leaves = {name: _leaf(keys_dir, name) for name in "ab"}
    by_fingerprint = {hashlib.sha256(c.public_bytes(Encoding.DER)).hexdigest(): n for n, c in leaves.items()}
    by_serial = {c.serial_number: n for n, c in leaves.items()}

    port = free_port()
    database_url = f"sqlite:///{tmp_path}/originmark.db"
    environment = {
        **os.environ,
        "ORIGINMARK_KEYS_DIR": str(keys_dir),
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_SPOOL_DIR": str(tmp_path),
        "ORIGINMARK_SIGN_WORKERS": "1",
        "ORIGINMARK_VERIFY_WORKERS": "1",
        "ORIGINMARK_SIGN_CONCURRENCY": "2",
    }
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "server.log"
    command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port)]
    outcomes: list[list[tuple[int, str | None, bytes]]] = [[] for _ in range(CLIENTS)]
    rotated = threading.Event()
    stop = threading.Event()

    def client(number: int, token: str) -> None:
        with httpx.Client(base_url=base_url, headers=ApiKeys.header(token), timeout=60) as http:
            for index in range(MAX_REQUESTS_PER_CLIENT):
                if stop.is_set():
                    return
                response = http.post(
                    "/v1/sign",
                    files={"file": ("gen.jpg", jpeg_bytes(seed=number * 1000 + index), "image/jpeg")},
                    data=sign_form(),
                )
                outcomes[number].append(
                    (response.status_code, response.headers.get("X-Manifest-Label"), response.content)
                )
                if response.status_code != 200:
                    return
                if not rotated.is_set():
                    time.sleep(0.05)  # before the rotation, a steady trickle; after it, as fast as it goes

    with running_server(command, env=environment, log_path=log_path, base_url=base_url):
        with open_store(database_url) as store:
            token = store.create_key(name="rotation", scopes=frozenset({Scope.SIGN}))[1]
        threads = [threading.Thread(target=client, args=(n, token)) for n in range(CLIENTS)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + DEADLINE_SECONDS
        while min(len(o) for o in outcomes) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        rotation = _keys(keys_dir, "rotate", "--to", "b")
        rotated.set()
        assert "a → b" in rotation
        verifier = Verifier(
            policy=default_trust_policy(
                local_anchors_pem="".join((keys_dir / "identities" / n / "ca.pem").read_text() for n in "ab")
            )
        )

        def last_is_b(outcome) -> bool:
            return bool(outcome) and outcome[-1][0] == 200 and _identity_of(outcome[-1][2], verifier, by_serial) == "b"

        # Until every client has had a B signature (each request after the switch is one).
        while not all(last_is_b(list(o)) for o in outcomes) and time.monotonic() < deadline:
            if any(o and o[-1][0] != 200 for o in outcomes):
                break
            time.sleep(0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        with open_store(database_url) as store:
            audit = {entry.manifest_label: entry.certificate_fingerprint for entry in store.entries(limit=1000)}

    statuses = [status for outcome in outcomes for status, _label, _body in outcome]
    assert statuses and all(status == 200 for status in statuses), statuses
    for number, outcome in enumerate(outcomes):
        identities = []
        for index, (_status, label, body) in enumerate(outcome):
            path = tmp_path / f"signed-{number}-{index}.jpg"
            path.write_bytes(body)
            verdict = verifier.verify_file(path)
            assert verdict.state is VerdictState.TRUSTED, (verdict.reason, verdict.failure_codes)
            signer = verdict.signer
            assert signer is not None and signer.certificate_serial is not None  # a Trusted verdict names its signer
            signer_identity = by_serial[int(signer.certificate_serial)]
            assert signer.common_name == f"Rotation {signer_identity.upper()} signer (development only)"
            # The audit log names the certificate actually used for this manifest.
            assert by_fingerprint[audit[label]] == signer_identity, (label, signer_identity)
            identities.append(signer_identity)
        # A's signatures, then B's: once a client got B, it never gets A again.
        assert identities[0] == "a" and identities[-1] == "b", identities
        assert identities == sorted(identities), identities
    log = log_path.read_text()
    assert "signing identity switched: a -> b" in log


def _identity_of(body: bytes, verifier: Verifier, by_serial: dict[int, str]) -> str | None:
    """Which identity signed these bytes, from the verdict's signing-certificate serial."""
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jpg") as stream:
        stream.write(body)
        stream.flush()
        verdict = verifier.verify_file(Path(stream.name))
    if verdict.signer is None or verdict.signer.certificate_serial is None:
        return None
    return by_serial.get(int(verdict.signer.certificate_serial))
