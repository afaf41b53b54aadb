"""A full spool disk: a 4 MB tmpfs as ORIGINMARK_SPOOL_DIR under the real server.

When a signed output or an upload does not fit, the answer is 507 with the JSON error shape
(never a 500, never part of a file), nothing is stored or half-written, the space is given
back, and the server signs again as soon as there is room.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.store.sql import open_store
from tests.faults.load import Ack, broken_promises
from tests.faults.media import noise_png
from tests.faults.service import Service, running, service_environment

TMPFS_BYTES = 4 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A 4 MB tmpfs, unmounted afterwards; skips where mounting is not permitted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0755", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


def _assert_insufficient_storage(response: httpx.Response) -> None:
    assert response.status_code == 507, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert "x-content-sha256" not in response.headers  # no signed media, not even part of one
    error = response.json()["error"]
    assert error["code"] == "insufficient_storage", error
    assert str(Path("/")) not in error["message"]  # the server's paths stay in its log


def _spool_entries(spool: Path) -> list[str]:
    return sorted(p.name for p in spool.iterdir() if p.name != "lost+found")


def test_full_spool_disk_gives_507_keeps_nothing_and_recovers(small_disk, dev_credentials, tmp_path):
    database_url = f"sqlite:///{tmp_path}/originmark.db"
    env = service_environment(keys_dir=dev_credentials.directory, database_url=database_url, spool_dir=small_disk)
    service = Service(env=env, log_path=tmp_path / "server.log")
    # ~2.5 MB of incompressible pixels: the upload fits in 4 MB, the upload and its signed copy do not.
    fits_alone = noise_png((950, 900), seed=11)
    too_big = noise_png((1300, 1100), seed=12)  # ~4.3 MB: not even the upload fits
    assert TMPFS_BYTES / 2 < len(fits_alone) < TMPFS_BYTES < len(too_big)
    with running(service), httpx.Client(base_url=service.base_url, timeout=60) as http:
        http.headers["Authorization"] = f"Bearer {service.create_token(database_url)}"

        # 1. The signed output does not fit.
        answer = http.post(
            "/v1/sign",
            files={"file": ("big.png", fits_alone, "image/png")},
            data={"generator": "Full Disk Diffusion", "media_id": "full-1"},
        )
        _assert_insufficient_storage(answer)
        assert _spool_entries(small_disk) == []
        assert http.get("/v1/verdicts/full-1").status_code == 404  # nothing stored, nothing audited

        # 2. The upload itself does not fit (sign and verify alike).
        for path, fields in (("/v1/sign", {"generator": "Full Disk Diffusion"}), ("/v1/verify", {})):
            answer = http.post(path, files={"file": ("huge.png", too_big, "image/png")}, data=fields)
            _assert_insufficient_storage(answer)
            assert _spool_entries(small_disk) == []

        # 3. Another tenant of the disk fills it; a small sign fails, and succeeds once space is back.
        filler = small_disk / "filler.bin"
        with filler.open("wb") as out, pytest.raises(OSError):
            while True:
                out.write(b"\0" * 65536)
        small = noise_png((200, 150), seed=13)
        answer = http.post(
            "/v1/sign",
            files={"file": ("small.png", small, "image/png")},
            data={"generator": "Full Disk Diffusion", "media_id": "full-2"},
        )
        _assert_insufficient_storage(answer)
        filler.unlink()
        answer = http.post(
            "/v1/sign",
            files={"file": ("small.png", small, "image/png")},
            data={"generator": "Full Disk Diffusion", "media_id": "full-2"},
        )
        assert answer.status_code == 200, answer.text
        sha256 = answer.headers["x-content-sha256"]
        assert hashlib.sha256(answer.content).hexdigest() == sha256
        assert _spool_entries(small_disk) == []

        # 4. What was acknowledged is stored as for any signature (verdict, label, audit entry).
        with open_store(database_url) as store:
            assert broken_promises(store, [Ack(operation="sign", media_id="full-2", sha256=sha256)]) == []
        log = service.log_tail(20000)
    assert "no space left" in log.lower()  # the operator learns why, with the path


def test_signing_onto_a_full_disk_names_the_cause_and_leaves_no_file(small_disk, signing_key, tmp_path):
    """The same in-process (the CLI's path): the engine's vague I/O error becomes OutputStorageFull."""
    from signer.engine import ContentSigner, SignerOptions
    from signer.errors import OutputStorageFull
    from signer.manifest import GenerationRequest

    source = tmp_path / "big.png"
    source.write_bytes(noise_png((1300, 1100), seed=14))  # ~4.3 MB: its signed copy cannot fit in 4 MB
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
    try:
        with pytest.raises(OutputStorageFull, match="no space left"):
            signer.sign_file(
                source=source, destination=small_disk / "big.png", request=GenerationRequest(generator_name="Full")
            )
    finally:
        signer.close()
    assert _spool_entries(small_disk) == []  # neither the output nor its temporary file
