"""verifier/hash_pacing.py: a worker holds one of the engine's 256 MB hash buffers at a time."""

from __future__ import annotations

import ctypes
import io
import struct
import sys
import threading
import time
from pathlib import Path

import pytest

from verifier.hash_pacing import (
    PACED_READ_BYTES,
    PacedFileVerifier,
    PacedReader,
    engine_threads_running,
    paced_if_large,
    wait_for_engine_hashing,
)
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

MB = 1024 * 1024
TINY_MP4 = Path(__file__).resolve().parents[1] / "fixtures" / "media" / "tiny.mp4"
_PR_SET_NAME = 15  # linux/prctl.h

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads are found in /proc")


def _named_thread(name: bytes, seconds: float) -> threading.Thread:
    """A thread that names itself like an engine thread would (prctl), then lives `seconds`."""
    ready = threading.Event()

    def run() -> None:
        ctypes.CDLL(None).prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
        ready.set()
        time.sleep(seconds)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    return thread


def test_reads_pass_through_and_writes_are_refused():
    paced = PacedReader(io.BytesIO(b"0123456789"))
    assert paced.read(4) == b"0123"
    buffer = bytearray(3)
    assert paced.readinto(buffer) == 3 and buffer == b"456"
    assert paced.tell() == 7
    assert paced.seek(-2, io.SEEK_END) == 8 and paced.read(2) == b"89"
    with pytest.raises(OSError):
        paced.write(b"x")
    # Small reads never look for engine threads (an unbounded read() would: in a test process
    # other threads carry the process's name and count as the engine's; a worker has none).
    assert paced.waited_seconds == 0


def test_only_a_file_that_can_hold_a_paced_read_is_paced(tmp_path):
    """Below PACED_READ_BYTES no read can be paced: the engine gets the file itself (no Python
    call per read); from that size on, through a PacedReader. Decided on the open file's size."""
    small, large = tmp_path / "small.bin", tmp_path / "large.bin"
    small.write_bytes(bytes(PACED_READ_BYTES - 1))
    with large.open("wb") as out:
        out.truncate(PACED_READ_BYTES)  # sparse: the size is what counts
    with small.open("rb") as stream:
        assert paced_if_large(stream) is stream
    with large.open("rb") as stream:
        wrapped = paced_if_large(stream)
        assert isinstance(wrapped, PacedReader)
        assert wrapped.read(4) == bytes(4)


def _in_a_fresh_process(check: str) -> None:
    """Run `check` (a function of this module) in a new interpreter: the thread checks count every
    thread named like the reading one, and a test process has many (a verifier worker has none)."""
    import subprocess

    completed = subprocess.run(
        [sys.executable, "-c", f"from tests.verifier.test_hash_pacing import {check}; {check}()"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


@linux_only
def test_a_large_read_waits_for_the_engine_hash_thread_to_end():
    _in_a_fresh_process("check_a_large_read_waits_for_the_engine_hash_thread")


@linux_only
def test_other_named_threads_are_not_waited_for_and_the_wait_is_bounded():
    _in_a_fresh_process("check_other_threads_are_not_waited_for_and_the_wait_is_bounded")


def check_a_large_read_waits_for_the_engine_hash_thread() -> None:
    thread = _named_thread(b"c2pa-hash", 0.3)
    assert engine_threads_running()
    paced = PacedReader(io.BytesIO(bytes(1024 + PACED_READ_BYTES)))
    paced.readinto(bytearray(1024))  # a small read (box parsing, our SHA-256) never waits
    assert paced.waited_seconds < 0.1
    assert paced.readinto(bytearray(PACED_READ_BYTES)) == PACED_READ_BYTES
    assert paced.waited_seconds >= 0.15
    assert not thread.is_alive()
    assert not engine_threads_running()


def check_other_threads_are_not_waited_for_and_the_wait_is_bounded() -> None:
    other = _named_thread(b"not-the-engine", 0.5)
    assert not engine_threads_running()
    assert wait_for_engine_hashing() < 0.1
    hasher = _named_thread(b"c2pa-hash", 1)
    assert wait_for_engine_hashing(max_wait_seconds=0.2) < 0.8  # a stuck engine thread never hangs a read
    other.join()
    hasher.join()


def test_same_verdict_as_the_plain_verifier(shared_dir):
    plain = Verifier(policy=default_trust_policy())
    paced = PacedFileVerifier(plain)
    for relative in (
        "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg",
        "public-testfiles/image/jpeg/adobe-20220124-XCA.jpg",
        "c2pa-rs/sdk/tests/fixtures/no_manifest.jpg",
    ):
        path = shared_dir / "corpus" / relative
        assert paced.verify_file(path) == plain.verify_file(path), relative
    missing = paced.verify_file(shared_dir / "no-such-file.jpg")
    assert missing.state is VerdictState.ERROR and missing == plain.verify_file(shared_dir / "no-such-file.jpg")


def _grow_mdat(signed: Path, grown: Path, extra_bytes: int) -> None:
    """`signed` with `extra_bytes` of zeros (a sparse hole) at the end of its `mdat` box.

    The engine hashes the whole `mdat` and then finds it changed: memory as for a signed file
    that size, without signing one in the test.
    """
    data = signed.read_bytes()
    offset = 0
    while offset < len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if kind == b"mdat":
            break
        offset += size
    else:
        raise AssertionError("no mdat in the signed MP4")
    end = offset + size
    with grown.open("wb") as out:
        out.write(data[:offset])
        out.write(struct.pack(">I4s", size + extra_bytes, b"mdat"))
        out.write(data[offset + 8 : end])
        out.seek(extra_bytes, io.SEEK_CUR)
        out.write(data[end:])


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for {pid}")


@linux_only
def test_a_worker_verifying_a_600_mb_mp4_holds_one_hash_buffer(tmp_path, dev_credentials, signing_key):
    """Without pacing the worker peaks at ~560 MiB here (two 256 MB buffers); with it, ~310."""
    import c2pa

    from signer.engine_settings import signing_settings
    from signer.manifest import GenerationRequest, build_manifest_definition, originmark_version

    signed, grown = tmp_path / "signed.mp4", tmp_path / "grown.mp4"
    manifest = build_manifest_definition(
        GenerationRequest(generator_name="Pacing Test", generator_version="1"),
        default_title="signed.mp4",
        originmark_version=originmark_version(),
    )
    context = c2pa.Context.from_dict(signing_settings(thumbnails=False, local_anchors_pem=None))
    engine_signer = c2pa.Signer.from_callback(signing_key.sign, c2pa.C2paSigningAlg.ES256, signing_key.chain_pem, None)
    with c2pa.Builder(manifest, context=context) as builder, TINY_MP4.open("rb") as src, signed.open("w+b") as dst:
        builder.sign(engine_signer, "video/mp4", src, dst)
    _grow_mdat(signed, grown, 600 * MB)

    policy = default_trust_policy(local_anchors_pem=dev_credentials.ca_path.read_text())
    limits = VerifyLimits(timeout_seconds=60, memory_bytes=2048 * MB, max_asset_bytes=1024 * MB)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1) as pool:
        worker = pool.worker_pids[0]
        verdict = pool.verify_file(grown)
        assert pool.worker_pids[0] == worker, verdict.reason
        peak_mb = _peak_rss_mb(worker)
    # Every byte was still hashed: the grown mdat is found changed.
    assert verdict.state is VerdictState.INVALID, verdict
    assert verdict.size == grown.stat().st_size
    print(f"worker peak {peak_mb:.0f} MiB")
    assert 256 < peak_mb < 420, f"worker peak {peak_mb:.0f} MiB"
