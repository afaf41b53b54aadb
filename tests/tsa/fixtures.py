"""pytest fixtures for the local RFC 3161 time-stamping authority (tests/tsa/server.py).

Registered for the whole suite by `pytest_plugins` in tests/conftest.py, so any test can
ask for them:

- `local_tsa`: the session's TSA, healthy and with its request count at 0 when the test
  starts (and reset after it): `.url`, `.ca_pem`, `.requests`, `.set_mode(TsaMode.X)`,
  `.fail_next(n, mode)`, `.fail_after(n, mode)`, `.set_gen_time(t)`.
- `local_tsa_anchors`: a PEM file holding the TSA's root, for ORIGINMARK_TSA_TRUST_ANCHORS.
- `make_local_tsa`: a private TSA (e.g. with credentials of the test's own), closed after the test.
- `silent_tsa_signature`: a signature started against a TSA that never answers. The engine
  waits 30 s for a TSA (its HTTP client's fixed timeout), so the signature starts with the
  first test module that asks for it and runs in the background while other tests run;
  `.outcome(timeout)` waits for it.

One TSA serves the session (a thread on 127.0.0.1, a free port); a test that switches it
to a failure mode gets it back healthy by the next test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.tsa.server import LocalTsa, TsaCredentials, TsaMode

__all__ = [
    "LocalTsa",
    "SilentTsaSignature",
    "TsaMode",
    "local_tsa",
    "local_tsa_anchors",
    "local_tsa_server",
    "make_local_tsa",
    "silent_tsa_signature",
]


@pytest.fixture(scope="session")
def local_tsa_server() -> Iterator[LocalTsa]:
    """The session's TSA in whatever state the last test left it: prefer `local_tsa`."""
    with LocalTsa() as tsa:
        yield tsa


@pytest.fixture
def local_tsa(local_tsa_server: LocalTsa) -> Iterator[LocalTsa]:
    local_tsa_server.reset()
    yield local_tsa_server
    local_tsa_server.reset()


@pytest.fixture(scope="session")
def local_tsa_anchors(local_tsa_server: LocalTsa, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tsa") / "tsa-anchors.pem"
    path.write_text(local_tsa_server.ca_pem)
    return path


@pytest.fixture
def make_local_tsa() -> Iterator[Callable[..., LocalTsa]]:
    made: list[LocalTsa] = []

    def make(credentials: TsaCredentials | None = None) -> LocalTsa:
        tsa = LocalTsa(credentials)
        made.append(tsa)
        return tsa

    yield make
    for tsa in made:
        tsa.close()


@dataclass(kw_only=True)
class SilentTsaSignature:
    """One `sign_file` against a TSA that accepted the request and never answers."""

    folder: Path  # holds source.jpg; signed.jpg must never appear
    tsa: LocalTsa
    thread: threading.Thread
    result: dict[str, object] = field(default_factory=dict)  # "error" or "signed", and "seconds"

    def outcome(self, timeout: float) -> dict[str, object]:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the engine still waits for a silent TSA after {timeout:g} s more"
        return self.result


@pytest.fixture(scope="session")
def silent_tsa_signature(signing_key, tmp_path_factory) -> Iterator[SilentTsaSignature]:
    from PIL import Image

    from signer.engine import ContentSigner, SignerOptions
    from signer.manifest import GenerationRequest

    folder = tmp_path_factory.mktemp("silent-tsa")
    source = folder / "source.jpg"
    Image.new("RGB", (24, 24), (90, 40, 200)).save(source, "JPEG")
    tsa = LocalTsa()
    options = SignerOptions(time_stamp_url=tsa.url, time_stamp_retries=0)
    signer = ContentSigner(signing_key=signing_key, options=options)  # the probe is stamped while healthy
    tsa.set_mode(TsaMode.HANG)
    result: dict[str, object] = {}

    def sign() -> None:
        started = time.monotonic()
        try:
            result["signed"] = signer.sign_file(
                source=source, destination=folder / "signed.jpg", request=GenerationRequest(generator_name="silent")
            )
        except Exception as error:  # noqa: BLE001 - what the test asserts on
            result["error"] = error
        result["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=sign, name="silent-tsa-signature", daemon=True)
    thread.start()
    yield SilentTsaSignature(folder=folder, tsa=tsa, thread=thread, result=result)
    tsa.close()  # releases the hanging handler: the engine's request ends at once
    thread.join(timeout=10)
    signer.close()
