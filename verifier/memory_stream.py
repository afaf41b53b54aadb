"""A read-only, seekable binary stream over bytes already in memory, without copying them.

Why: a verifier worker reads an upload from the memory its owner shares with it
(verifier.process_pool.SharedRegion). io.BytesIO would copy the whole buffer first (it shares
only a `bytes` object); this reads it in place, so the engine's `readinto` is the only copy.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer  # typeshed's names for buffers; no runtime module


class ReadOnlyStream:
    """What the engine's binding asks of every stream it reads, for one that is read-only and
    seekable; a subclass reads (`readinto`, `read`), seeks and closes."""

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def write(self, data: bytes) -> int:  # the binding insists every stream has one
        raise OSError("a verified file is read-only")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class MemoryStream(ReadOnlyStream):
    """Reads `data` (any buffer: bytes, a memoryview of a mapping) like a file opened "rb"."""

    def __init__(self, data: ReadableBuffer) -> None:
        self._view = memoryview(data).cast("B")
        self._position = 0

    def readinto(self, buffer: WriteableBuffer) -> int:
        target = memoryview(buffer).cast("B")
        start = min(self._position, len(self._view))
        count = min(len(target), len(self._view) - start)
        target[:count] = self._view[start : start + count]
        self._position = start + count
        return count

    def read(self, size: int | None = -1) -> bytes:
        start = min(self._position, len(self._view))
        end = len(self._view) if size is None or size < 0 else min(start + size, len(self._view))
        self._position = end
        return bytes(self._view[start:end])

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = len(self._view) + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._view.release()
