"""Where signed bytes go: a temp file beside the destination, renamed into place only when complete.

A failed or interrupted signature therefore never leaves a half-written file under the
destination name, and a reader never sees one being written. The rules (same folder, fsync of
the file and the folder, a failed write never renamed into place) are keys/atomic_file.py's;
this module says them in signing terms: a full disk (ENOSPC, EDQUOT) is OutputStorageFull,
anything else DestinationUnwritable naming the real cause, not the engine's vague "Io: Other".
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from keys.atomic_file import ORDINARY_FILE_MODE, AtomicWriteFailed, AtomicWriteStep, atomic_file
from signer.errors import DestinationUnwritable, OutputStorageFull


@contextlib.contextmanager
def atomic_output(destination: Path, *, durable: bool = True) -> Iterator[BinaryIO]:
    """Yield a read/write binary file; on a clean exit it replaces `destination`, else it is removed.
    `durable=False`: not fsynced (keys/atomic_file.py), for an output that need not survive a crash."""
    try:
        # The permissions an ordinary new file would get (a NamedTemporaryFile would leave the
        # output readable by its owner only).
        with atomic_file(destination, mode=ORDINARY_FILE_MODE, durable=durable) as stream:
            yield stream
    except AtomicWriteFailed as failed:
        raise _signing_error(failed) from failed.cause


def write_atomically(destination: Path, data: bytes) -> None:
    with atomic_output(destination) as stream:
        stream.write(data)


def _signing_error(failed: AtomicWriteFailed) -> DestinationUnwritable:
    cause = failed.cause.strerror or failed.cause
    if failed.step is AtomicWriteStep.CREATE:
        if isinstance(failed.cause, FileNotFoundError):
            return DestinationUnwritable(f"the output folder {failed.destination.parent} does not exist")
        return DestinationUnwritable(f"cannot write in {failed.destination.parent}: {cause}")
    if failed.cause.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputStorageFull(f"no space left to write {failed.destination} ({cause}): free some, then retry")
    return DestinationUnwritable(f"cannot write {failed.destination}: {cause}")


class UnchangedAssetSink:
    """The output stream for sidecar signing: keeps nothing, checks that nothing changed.

    With the manifest going to a sidecar, the engine still writes the asset to its output
    stream, and the sidecar's hashes cover what it wrote. For most formats that is the
    source byte for byte; for some (MP3, FLAC and PDF in c2pa-rs 0.91.3, or a file that
    already carries a manifest) the engine rewrites the container, and a sidecar would not
    match the untouched file. This sink compares each write with the source at the same
    offset (streaming, nothing buffered) so the caller can refuse such a sidecar.
    """

    def __init__(self, source: BinaryIO, *, source_size: int) -> None:
        self._source = source  # a second handle on the source, positioned freely
        self._source_size = source_size
        self._position = 0
        self._length = 0
        self._differs = False

    def write(self, data: bytes) -> int:
        if not self._differs:
            self._source.seek(self._position)
            self._differs = self._source.read(len(data)) != bytes(data)
        self._position += len(data)
        self._length = max(self._length, self._position)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    @property
    def asset_unchanged(self) -> bool:
        """True when the engine wrote exactly the source bytes."""
        return not self._differs and self._length == self._source_size
