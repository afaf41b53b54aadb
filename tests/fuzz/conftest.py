"""Fixtures for the fuzz suite: seed files (real corpus files and files signed here), and the summary.

Seeds signed here with the session's development key are small and mostly manifest, so most
mutations land in the C2PA structures; the corpus seeds bring real third-party manifests
and containers.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.fuzz.harness import CORPUS_SEEDS, FINDINGS, LIMITS, WORKERS, Seed
from tests.fuzz.server import FuzzedServer

FIXTURE_MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"


def _images() -> dict[str, bytes]:
    made = {}
    for name, pillow_format in (
        ("gen.jpg", "JPEG"),
        ("gen.png", "PNG"),
        ("gen.webp", "WEBP"),
        ("gen.tif", "TIFF"),
        ("gen.gif", "GIF"),
        ("gen.pdf", "PDF"),
    ):
        buffer = io.BytesIO()
        Image.new("RGB", (24, 16), (200, 30, 90)).save(buffer, pillow_format)
        made[name] = buffer.getvalue()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(b"\x00\x01" * 400)
    made["gen.wav"] = buffer.getvalue()
    made["gen.svg"] = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>\n'
    )
    for name in ("tiny.mp4", "tiny.mov", "tiny.heic", "tiny.m4a", "tiny.mp3", "tiny.flac", "tiny.avi"):
        made[name] = (FIXTURE_MEDIA / name).read_bytes()
    return made


@pytest.fixture(scope="session")
def signed_seeds(signing_key, tmp_path_factory) -> list[Seed]:
    """Small files signed by originmark (embedded, one as an AI edit of a corpus file, one sidecar)."""
    from signer.engine import ContentSigner, SignerOptions
    from signer.manifest import GenerationRequest

    folder = tmp_path_factory.mktemp("fuzz-seeds")
    seeds = []
    with_parent: Path | None = None
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
    try:
        for name, data in _images().items():
            source = folder / f"source-{name}"
            source.write_bytes(data)
            destination = folder / name
            signer.sign_file(source=source, destination=destination, request=GenerationRequest(generator_name="Fuzz"))
            seeds.append(Seed(f"signed/{name}", destination.read_bytes()))
            with_parent = with_parent or source
        assert with_parent is not None, "no seed images to sign"
        sidecar = folder / "gen.c2pa"
        signer.sign_sidecar(source=with_parent, sidecar=sidecar, request=GenerationRequest(generator_name="Fuzz"))
        seeds.append(Seed("signed/gen.c2pa", sidecar.read_bytes()))
    finally:
        signer.close()
    return seeds


@pytest.fixture(scope="session")
def corpus_seeds(shared_dir) -> list[Seed]:
    return [Seed(path, (shared_dir / "corpus" / path).read_bytes()) for path in CORPUS_SEEDS]


@pytest.fixture(scope="session")
def fuzz_seeds(corpus_seeds, signed_seeds) -> list[Seed]:
    return corpus_seeds + signed_seeds


@pytest.fixture(scope="session")
def policy():
    from verifier.trust import default_trust_policy

    return default_trust_policy()


@pytest.fixture(scope="session")
def pool(policy):
    """The isolated verifier (the service's path), shared by the fuzz folder; its workers share
    memory with this process, as a server's do, so a raw body can be verified in memory too."""
    from verifier.isolation import IsolatedVerifier

    with IsolatedVerifier(policy=policy, limits=LIMITS, workers=WORKERS, shared_bytes=16 * 1024 * 1024) as verifier:
        yield verifier


@pytest.fixture(scope="session")
def in_process(policy):
    from verifier.reader import Verifier

    return Verifier(policy=policy)


@pytest.fixture(scope="session")
def server(dev_credentials, tmp_path_factory) -> Iterator[FuzzedServer]:
    """One real server for the fuzz folder (its start costs seconds); a case that kills it restarts it."""
    running = FuzzedServer(tmp_path_factory.mktemp("fuzz-server"), dev_credentials.directory)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter) -> None:
    if FINDINGS.cases:
        terminalreporter.section("fuzz")
        for line in FINDINGS.summary_lines():
            terminalreporter.write_line(line)
