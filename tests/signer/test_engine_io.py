"""How the signer treats files: atomic output, never the original, threads, and streaming."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from signer.engine import ContentSigner, SignerOptions
from signer.errors import DestinationUnwritable, EngineRejected, SourceUnreadable, UnsupportedFormat
from signer.manifest import GenerationRequest
from tests.support import count_fsyncs

REQUEST = GenerationRequest(generator_name="Acme Diffusion", generator_version="2.1")


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".originmark-"))


def test_a_failed_signature_leaves_no_file_and_no_temp_file(content_signer, make_jpeg, tmp_path):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(make_jpeg(tmp_path / "whole.jpg").read_bytes()[:40])
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(EngineRejected, match="the C2PA engine could not sign truncated.jpg: .*JPEG"):
        content_signer.sign_file(source=truncated, destination=out / "truncated.jpg", request=REQUEST)
    assert list(out.iterdir()) == []


def test_a_failed_signature_keeps_an_existing_destination(content_signer, make_jpeg, tmp_path):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(make_jpeg(tmp_path / "whole.jpg").read_bytes()[:40])
    destination = tmp_path / "previous.jpg"
    destination.write_bytes(b"the previous output")
    with pytest.raises(EngineRejected):
        content_signer.sign_file(source=truncated, destination=destination, request=REQUEST)
    assert destination.read_bytes() == b"the previous output"
    assert _leftovers(tmp_path) == []


def test_the_source_is_never_overwritten(content_signer, make_jpeg, tmp_path):
    source = make_jpeg(tmp_path / "a.jpg")
    before = source.read_bytes()
    with pytest.raises(DestinationUnwritable, match="is the source file itself"):
        content_signer.sign_file(source=source, destination=tmp_path / "." / "a.jpg", request=REQUEST)
    link = tmp_path / "link.jpg"
    link.symlink_to(source)
    with pytest.raises(DestinationUnwritable):
        content_signer.sign_file(source=source, destination=link, request=REQUEST)
    assert source.read_bytes() == before


def test_a_missing_output_folder_is_reported(content_signer, make_jpeg, tmp_path):
    with pytest.raises(DestinationUnwritable, match="does not exist"):
        content_signer.sign_file(
            source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "nope" / "a.jpg", request=REQUEST
        )


def test_output_gets_ordinary_file_permissions(content_signer, make_jpeg, tmp_path):
    previous = os.umask(0o022)
    try:
        result = content_signer.sign_file(
            source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "b.jpg", request=REQUEST
        )
    finally:
        os.umask(previous)
    assert stat.S_IMODE(result.destination.stat().st_mode) == 0o644


def test_unreadable_and_unsupported_sources_and_parents(content_signer, make_jpeg, tmp_path):
    with pytest.raises(SourceUnreadable, match="^cannot read it: No such file or directory$"):
        content_signer.sign_file(source=tmp_path / "missing.jpg", destination=tmp_path / "x.jpg", request=REQUEST)
    gone = GenerationRequest(generator_name="g", parent=tmp_path / "gone.png")
    with pytest.raises(SourceUnreadable, match="^the parent gone.png: cannot read it: No such file"):
        content_signer.sign_file(source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "b.jpg", request=gone)
    text = tmp_path / "parent.jpg"
    text.write_text("not media")
    edit = GenerationRequest(generator_name="g", parent=text)
    with pytest.raises(
        UnsupportedFormat, match="^the parent parent.jpg: not a supported media format; supported formats: JPEG"
    ):
        content_signer.sign_file(source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "b.jpg", request=edit)
    assert not (tmp_path / "b.jpg").exists() and _leftovers(tmp_path) == []


def test_concurrent_signing_from_four_threads(content_signer, media_samples, read_back, tmp_path):
    names = ["JPEG", "PNG", "WebP", "MP4", "WAV", "GIF", "TIFF", "M4A"]
    out = tmp_path / "out"
    out.mkdir()

    def sign(name: str):
        source = media_samples[name]
        return content_signer.sign_file(source=source, destination=out / source.name, request=REQUEST)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(sign, names))

    assert [r.format.name for r in results] == names
    assert len({r.manifest_label for r in results}) == 8
    for result in results:
        report = read_back(result.destination, mime=result.format.mime)
        assert report.state == "Trusted", (result.format.name, report.failures)
        assert report.active_manifest_label == result.manifest_label
    assert _leftovers(out) == []


# A child process measures its own peak RSS while signing a large MP4 file to file.
_STREAMING_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from keys.loader import load_signing_key
    from signer.engine import ContentSigner, SignerOptions
    from signer.manifest import GenerationRequest

    work = Path(sys.argv[1])
    key = load_signing_key(chain_path=Path(sys.argv[3]), key_path=Path(sys.argv[4]))
    signer = ContentSigner(signing_key=key, options=SignerOptions())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = signer.sign_file(
        source=work / sys.argv[2], destination=work / ("signed-" + sys.argv[2]),
        request=GenerationRequest(generator_name="Acme Video"),
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"growth_kib": after - before, "bytes_written": result.bytes_written,
                      "format": result.format.name, "seconds": result.elapsed_seconds}))
    """
)
LARGE_BYTES = 256 * 1024 * 1024
LARGE_MIB = LARGE_BYTES / 1024 / 1024


def _grow_box(small: bytes, *, box_offset: int, path: Path) -> None:
    """Rewrite `small` with its last box (at `box_offset`, 64-bit size) grown to make a LARGE_BYTES file.

    The zeros are added by truncate: a sparse file, so making it costs no disk writes.
    """
    assert small[box_offset + 0 : box_offset + 4] == (1).to_bytes(4, "big")
    new_size = int.from_bytes(small[box_offset + 8 : box_offset + 16], "big") + LARGE_BYTES - len(small)
    with path.open("wb") as out:
        out.write(small[: box_offset + 8] + new_size.to_bytes(8, "big") + small[box_offset + 16 :])
        out.truncate(LARGE_BYTES)


def _sign_in_child(folder: Path, name: str, credentials) -> dict:
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            _STREAMING_SCRIPT,
            str(folder),
            name,
            str(credentials.chain_path),
            str(credentials.key_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert completed.returncode == 0, completed.stderr
    measured = json.loads(completed.stdout.strip().splitlines()[-1])
    assert measured["format"] == "MP4" and measured["bytes_written"] > LARGE_BYTES
    return measured


def test_our_path_streams_a_large_file(media_samples, dev_credentials, read_back, tmp_path):
    """256 MB of MP4 whose bulk is a trailing `free` box: nothing of it may stay in memory."""
    small = media_samples["MP4"].read_bytes()
    padded = small + (1).to_bytes(4, "big") + b"free" + (16).to_bytes(8, "big")
    _grow_box(padded, box_offset=len(small), path=tmp_path / "padded.mp4")
    measured = _sign_in_child(tmp_path, "padded.mp4", dev_credentials)
    assert measured["growth_kib"] / 1024 < 48, measured
    assert read_back(tmp_path / "signed-padded.mp4", mime="video/mp4").state == "Trusted"


def test_a_large_video_is_held_at_most_once_by_the_engine(shared_dir, dev_credentials, read_back, tmp_path):
    """A real MP4 (moov first, then a 64-bit mdat) grown to 256 MB.

    c2pa-rs 0.91.3 buffers the mdat once; with its default backing-store threshold it holds
    a second copy. Peak growth under 1.25x the file shows originmark adds no copy and the
    lowered threshold took effect.
    """
    real = (shared_dir / "corpus/c2pa-rs/sdk/tests/fixtures/video1_no_manifest.mp4").read_bytes()
    mdat = real.index(b"mdat") - 4
    _grow_box(real, box_offset=mdat, path=tmp_path / "video.mp4")
    measured = _sign_in_child(tmp_path, "video.mp4", dev_credentials)
    assert measured["growth_kib"] / 1024 < 1.25 * LARGE_MIB, measured
    report = read_back(tmp_path / "signed-video.mp4", mime="video/mp4")
    assert report.state == "Trusted", report.failures


def test_only_a_destination_inside_the_scratch_folder_skips_the_fsyncs(signing_key, make_jpeg, tmp_path, monkeypatch):
    """The service's spool outputs are not fsynced; any other destination of the same signer is."""
    scratch, kept = tmp_path / "spool", tmp_path / "kept"
    (scratch / "request").mkdir(parents=True)
    kept.mkdir()
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(scratch_dir=scratch))
    source = make_jpeg(tmp_path / "a.jpg")
    synced = count_fsyncs(monkeypatch)

    def syncs(destination: Path) -> int:
        synced.clear()
        signer.sign_file(source=source, destination=destination, request=REQUEST)
        assert destination.is_file()
        return len(synced)

    assert syncs(scratch / "request" / "signed.jpg") == 0
    assert syncs(kept / "signed.jpg") == 2  # the file and its folder
    assert syncs(scratch / "request" / ".." / ".." / "kept" / "out.jpg") == 2  # leads out of the spool
    (scratch / "request" / "link").symlink_to(kept)
    assert syncs(scratch / "request" / "link" / "linked.jpg") == 2
