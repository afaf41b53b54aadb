"""Where signed bytes go: a temp file beside the destination, renamed into place only when complete.

A failed or interrupted signature therefore never leaves a half-written file under the
destination name, and a reader never sees one being written. The rename is atomic on one
file system, which is why the temp file lives in the destination's own folder.

A write that fails (a full disk above all) is remembered by the output file itself: the C2PA
engine swallows the OSError its write callback gets and reports a vague "Io: Other" error (or
none, when the failure is in the final flush). `atomic_output` then raises OutputStorageFull
(ENOSPC, EDQUOT) or DestinationUnwritable naming the real cause, and never renames a file
that had a failed write into place.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from signer.errors import DestinationUnwritable, OutputStorageFull

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

_TEMP_PREFIX = ".originmark-"
_TEMP_SUFFIX = ".part"


@contextlib.contextmanager
def atomic_output(destination: Path) -> Iterator[BinaryIO]:
    """Yield a read/write binary file; on a clean exit it replaces `destination`, else it is removed."""
    temp_path = destination.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}{_TEMP_SUFFIX}"
    try:
        # 0o666 minus the umask: the same permissions an ordinary new file would get
        # (a NamedTemporaryFile would leave the output readable by its owner only).
        descriptor = os.open(temp_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
    except FileNotFoundError as error:
        raise DestinationUnwritable(f"the output folder {destination.parent} does not exist") from error
    except OSError as error:
        raise DestinationUnwritable(f"cannot write in {destination.parent}: {error.strerror or error}") from error
    completed = False
    try:
        stream = _OutputFile(io.FileIO(descriptor, "r+"))
    except BaseException:
        os.close(descriptor)
        temp_path.unlink()
        raise
    try:
        try:
            with stream:
                yield stream
        except Exception as error:
            if stream.write_error is not None:  # whatever the engine made of it, this is the cause
                raise _write_failed(destination, stream.write_error) from error
            raise
        if stream.write_error is not None:  # a failed write the caller did not notice
            raise _write_failed(destination, stream.write_error) from stream.write_error
        try:
            os.replace(temp_path, destination)
        except OSError as error:
            raise _write_failed(destination, error) from error
        completed = True
    finally:
        if not completed:
            with contextlib.suppress(FileNotFoundError):
                temp_path.unlink()


class _OutputFile(io.BufferedRandom):
    """A read/write file that remembers its first failed write or flush (see the module docstring)."""

    write_error: OSError | None = None

    def write(self, data: ReadableBuffer) -> int:
        try:
            return super().write(data)
        except OSError as error:
            self.write_error = self.write_error or error
            raise

    def flush(self) -> None:
        try:
            super().flush()
        except OSError as error:
            self.write_error = self.write_error or error
            raise


def _write_failed(destination: Path, error: OSError) -> DestinationUnwritable:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputStorageFull(f"no space left to write {destination} ({error.strerror or error}): free some, then retry")
    return DestinationUnwritable(f"cannot write {destination}: {error.strerror or error}")


def write_atomically(destination: Path, data: bytes) -> None:
    with atomic_output(destination) as stream:
        stream.write(data)


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
