"""Let a verifier worker hold one of the engine's hash buffers at a time, not two.

Why: c2pa-rs 0.91.3 hashes an asset in chunks of up to 256 MB (its MAX_HASH_BUF, not a
setting) and overlaps reading with hashing: while a helper thread named "c2pa-hash" hashes
one chunk, the engine reads the next chunk into a second buffer. On any asset over 512 MB
both buffers are full at once, 512 MiB of a worker's ~595 MiB peak on a 2 GB MP4 (626
million bytes: over a 600 MB budget; bench/large_video_bench.py).

How: the worker gives the engine the file through `PacedReader`. A read of
`PACED_READ_BYTES` or more (only the engine's chunk reads are that large) first waits until
no hash thread of the engine is running: the previous chunk has then been hashed and freed,
so only one buffer is ever resident. The engine still reads and hashes every byte itself;
what is lost is the overlap (on the 2 GB MP4, ~1-2 s of a few seconds of verification).

A file smaller than `PACED_READ_BYTES` is given to the engine as it is: none of its reads can
be that large, so the wrapper would only add a Python call to every one of the engine's reads
(about 70 per file, ~2% of a worker's time over the shared corpus). Its size is read from the
open file; one that grows past it while being verified is read unpaced, which costs at worst
the engine's second buffer, under the worker's memory limit as ever.

The engine's thread is recognised by name in /proc (Linux); elsewhere, or should a later
engine stop naming it so, reads pass through unchanged and the bench shows the peak again.
A thread that has just been started and not yet named itself still carries its creator's
name, so a thread named like the reading thread counts too: this is only for a process
where the engine's threads are the only other ones (a worker), never for a server process.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from io import BufferedIOBase, BufferedReader
from pathlib import Path
from typing import TYPE_CHECKING

from verifier.memory_stream import ReadOnlyStream
from verifier.reader import ReadableStream, Verifier
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer  # typeshed's name for "any writable buffer"; no runtime module

ENGINE_HASH_THREAD = "c2pa-hash"
PACED_READ_BYTES = 8 * 1024 * 1024  # smaller reads are the engine parsing boxes, or our own SHA-256
_POLL_SECONDS = 0.001
# Hashing a 256 MB chunk takes ~0.2-0.5 s here; past this a read goes ahead rather than stall
# (the worst case is then the engine's own two buffers, never a hang).
_MAX_WAIT_SECONDS = 10.0
_TASKS = Path("/proc/self/task")


def _thread_name(tid: str) -> str | None:
    try:
        return (_TASKS / tid / "comm").read_text().rstrip("\n")
    except OSError:  # the thread ended meanwhile
        return None


def engine_threads_running() -> bool:
    """Whether a thread other than the calling one is (or is about to become) the engine's hasher."""
    own = str(threading.get_native_id())
    own_name = _thread_name(own)
    try:
        tids = [entry.name for entry in os.scandir(_TASKS)]
    except OSError:
        return False
    for tid in tids:
        if tid == own:
            continue
        name = _thread_name(tid)
        if name == ENGINE_HASH_THREAD or (name is not None and name == own_name):
            return True
    return False


def wait_for_engine_hashing(*, max_wait_seconds: float = _MAX_WAIT_SECONDS) -> float:
    """Block until no engine hash thread runs (at most `max_wait_seconds`); the seconds waited."""
    if not sys.platform.startswith("linux"):
        return 0.0
    started = time.monotonic()
    deadline = started + max_wait_seconds
    while engine_threads_running() and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
    return time.monotonic() - started


class PacedReader(ReadOnlyStream):
    """A read-only binary file for the engine: a large read waits for the previous chunk's hashing."""

    def __init__(self, stream: BufferedIOBase) -> None:
        self._stream = stream
        self.waited_seconds = 0.0  # for the bench and tests

    def readinto(self, buffer: WriteableBuffer) -> int:  # any writable buffer (the engine's, via ctypes)
        if memoryview(buffer).nbytes >= PACED_READ_BYTES:
            self.waited_seconds += wait_for_engine_hashing()
        return self._stream.readinto(buffer)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size >= PACED_READ_BYTES:
            self.waited_seconds += wait_for_engine_hashing()
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def close(self) -> None:
        self._stream.close()


def paced_if_large(stream: BufferedReader) -> PacedReader | BufferedReader:
    """`stream` through a PacedReader when the file can hold a paced read, else as it is."""
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError):
        return PacedReader(stream)  # no size to go by: paced, as before
    return stream if size < PACED_READ_BYTES else PacedReader(stream)


class PacedFileVerifier:
    """`Verifier.verify_file` with the file handed to the engine through `PacedReader` when it is
    large enough to need it (worker use only)."""

    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier

    @property
    def engine_version(self) -> str:
        return self._verifier.engine_version

    def verify_file(self, path: Path, *, known_sha256: str | None = None, detached_store: bool = False) -> Verdict:
        return self._verifier.verify_file(
            path, known_sha256=known_sha256, wrap_stream=paced_if_large, detached_store=detached_store
        )

    def verify_stream(self, stream: ReadableStream, *, size: int, known_sha256: str | None = None) -> Verdict:
        """Bytes already in memory (an upload in the worker's shared region), unpaced: there is no
        second buffer to keep from being filled while the first is hashed."""
        return self._verifier.verify_stream(stream, size=size, known_sha256=known_sha256)
