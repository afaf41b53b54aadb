"""IsolatedVerifier.verify_bytes: an upload held in memory, written into the memory a worker shares with
its owner (verifier.process_pool.SharedRegion) and verified there, without a file. Same verdicts as
verify_file on the same bytes, same limits, and a timeout or a crash is the same `error` verdict."""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from tests.verifier.hostile_assets import assertion_bomb
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.process_pool import SharedRegion
from verifier.verdict import Verdict, VerdictError, VerdictState

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
TAMPERED = "public-testfiles/image/jpeg/adobe-20220124-XCA.jpg"
MB = 1024 * 1024
SHARED = 16 * MB
GENEROUS = VerifyLimits(timeout_seconds=30, memory_bytes=1024**3, max_asset_bytes=1024**3)


@pytest.fixture(scope="module")
def shared_pool(policy):
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=2, shared_bytes=SHARED) as verifier:
        yield verifier


def _chunks(data: bytes, size: int = 64 * 1024) -> list[bytes]:
    """As a server receives a body: in pieces."""
    return [data[start : start + size] for start in range(0, len(data), size)]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_until_busy(pid: int, *, within: float = 30.0) -> None:
    """Until the worker has spent a tenth of a second of CPU on its job."""
    start = _cpu_seconds(pid)
    deadline = time.monotonic() + within
    while _cpu_seconds(pid) - start < 0.1:
        assert time.monotonic() < deadline, f"worker {pid} did not start working"
        time.sleep(0.01)


def test_every_corpus_file_gets_the_verdict_verify_file_gives(shared_pool, corpus):
    files = sorted(
        path
        for path in corpus.rglob("*")
        if path.is_file() and path.name != "index.json" and 0 < path.stat().st_size <= SHARED
    )
    assert len(files) > 100

    def both(path: Path) -> tuple[Path, Verdict, Verdict]:
        data = path.read_bytes()
        return path, shared_pool.verify_file(path), shared_pool.verify_bytes(_chunks(data))

    with ThreadPoolExecutor(2) as threads:
        compared = list(threads.map(both, files))
    different = [str(path) for path, from_file, from_memory in compared if from_file != from_memory]
    assert different == []
    states = {from_memory.state for _path, _from_file, from_memory in compared}
    assert {VerdictState.TRUSTED, VerdictState.VALID, VerdictState.INVALID, VerdictState.NONE} <= states


def test_a_known_digest_is_taken_and_the_bytes_counted(shared_pool, corpus):
    data = (corpus / FIREFLY).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    verdict = shared_pool.verify_bytes(_chunks(data, 7919), known_sha256=digest)
    assert (verdict.state, verdict.sha256, verdict.size) == (VerdictState.TRUSTED, digest, len(data))
    with pytest.raises(ValueError, match="64 lowercase hex"):
        shared_pool.verify_bytes([data], known_sha256="F" * 64)


def test_what_no_worker_needs_to_see_is_answered_here(policy, corpus):
    small = VerifyLimits(timeout_seconds=30, memory_bytes=1024**3, max_asset_bytes=1000)
    with IsolatedVerifier(policy=policy, limits=small, workers=1, shared_bytes=MB) as verifier:
        empty = verifier.verify_bytes([])
        assert (empty.state, empty.error_code, empty.size) == (VerdictState.ERROR, VerdictError.UNREADABLE, 0)
        too_large = verifier.verify_bytes([b"\xff\xd8" * 600])
        assert (too_large.error_code, too_large.size) == (VerdictError.TOO_LARGE, 1200)
        with pytest.raises(ValueError, match="over the"):
            verifier.verify_bytes([b"x" * MB, b"y"])  # over the region: the caller writes a file


def test_a_pool_without_regions_takes_no_bytes(policy):
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1) as verifier:
        assert verifier.shared_bytes == 0
        with pytest.raises(ValueError):
            verifier.verify_bytes([b"\xff\xd8\xff"])
    with pytest.raises(ValueError, match="shared_bytes"):
        IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1, shared_bytes=-1)


def test_a_time_bomb_in_memory_is_stopped_and_the_replacement_verifies(policy, corpus):
    bomb = assertion_bomb().read_bytes()  # keeps the engine busy for seconds
    limits = VerifyLimits(timeout_seconds=1.0, memory_bytes=1024**3, max_asset_bytes=1024**3)
    with IsolatedVerifier(policy=policy, limits=limits, workers=1, shared_bytes=SHARED) as verifier:
        (before,) = verifier.worker_pids
        stopped = verifier.verify_bytes(_chunks(bomb))
        assert (stopped.state, stopped.error_code) == (VerdictState.ERROR, VerdictError.RESOURCE_LIMIT)
        assert stopped.reason is not None and stopped.reason.startswith("verification took longer than 1 s")
        assert (stopped.sha256, stopped.size) == ("", len(bomb))
        assert verifier.worker_pids != (before,)
        firefly = verifier.verify_bytes([(corpus / FIREFLY).read_bytes()])
        assert firefly == verifier.verify_file(corpus / FIREFLY)


def test_a_worker_crashing_on_bytes_in_memory_is_their_error_and_the_pool_carries_on(policy, corpus):
    bomb = assertion_bomb().read_bytes()
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1, shared_bytes=SHARED) as verifier:
        (victim,) = verifier.worker_pids
        answers: list[Verdict] = []
        call = threading.Thread(target=lambda: answers.append(verifier.verify_bytes(_chunks(bomb))))
        call.start()
        _wait_until_busy(victim)
        os.kill(victim, signal.SIGSEGV)  # as a fault in native code would
        call.join(30)
        (crashed,) = answers
        assert (crashed.state, crashed.error_code) == (VerdictState.ERROR, VerdictError.ENGINE_CRASH)
        assert crashed.reason == "the engine crashed on this file (SIGSEGV); it was stopped"
        assert crashed.size == len(bomb)
        assert verifier.worker_pids != (victim,)
        assert verifier.verify_bytes([(corpus / TAMPERED).read_bytes()]).state is VerdictState.INVALID


def test_a_worker_gone_before_the_job_is_replaced_and_the_bytes_written_again(policy, corpus):
    with IsolatedVerifier(policy=policy, limits=GENEROUS, workers=1, shared_bytes=SHARED) as verifier:
        (victim,) = verifier.worker_pids
        os.kill(victim, signal.SIGKILL)  # an operator or the OOM killer, while it waited
        time.sleep(0.1)
        verdict = verifier.verify_bytes(_chunks((corpus / FIREFLY).read_bytes()))
        assert verdict.state is VerdictState.TRUSTED  # the replacement's own region got the bytes
        assert verifier.worker_pids != (victim,)


def test_a_worker_gets_a_read_only_view_of_its_region_and_trim_gives_pages_back():
    ours, theirs = socket.socketpair()
    region = SharedRegion(4 * MB, keep_bytes=MB)
    try:
        with Connection(ours.detach()) as owner, Connection(theirs.detach()) as worker:
            region.send_to(owner)
            with socket.socket(fileno=os.dup(worker.fileno())) as channel:
                _data, fds, _flags, _address = socket.recv_fds(channel, 1, 1)
        (fd,) = fds
        try:
            assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
            with pytest.raises(PermissionError):
                mmap.mmap(fd, MB)  # no writable mapping: a worker cannot change what its owner wrote...
            with pytest.raises(OSError):
                os.ftruncate(fd, 64 * MB)  # ...nor grow the region outside its own memory limit
            view = mmap.mmap(fd, 4 * MB, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        assert region.write([b"a" * MB, b"b" * (2 * MB)]) == 3 * MB
        assert view[: 2 * MB + 1] == b"a" * MB + b"b" * (MB + 1)
        with pytest.raises(TypeError):
            view[0:1] = b"z"
        region.trim()
        assert view[:MB] == b"a" * MB  # kept resident
        assert view[MB : 3 * MB] == bytes(2 * MB)  # given back: the pages past keep_bytes read as zeros
        with pytest.raises(ValueError, match="over the shared region"):
            region.write([b"x" * (4 * MB + 1)])
        view.close()
    finally:
        region.close()


def test_a_region_closed_by_another_thread_mid_write_fails_that_write_not_the_closer():
    # A pool closing past its grace period kills a worker whose job's input may be being written.
    region = SharedRegion(MB, keep_bytes=MB)
    with memoryview(region._map):  # as a write in progress holds it
        region.close()  # no BufferError for the closer
        region.close()  # idempotent
    with pytest.raises(ValueError):
        region.write([b"late"])  # the writer's exchange treats it as the worker's death
    assert region._map.closed  # unmapped once no write held it
