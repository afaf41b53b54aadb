"""Test files: large files made quickly, and sources that fail or change while they are read."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

MiB = 1024 * 1024


def write_large_file(path: Path, size: int) -> str:
    """`size` bytes, no two MiB alike (so a part sent twice or out of order shows); returns its SHA-256."""
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    with path.open("wb") as output:
        written = 0
        index = 0
        while written < size:
            chunk = (index.to_bytes(8, "big") + block[8:])[: size - written]
            output.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            index += 1
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


class FailingSource(io.RawIOBase):
    """A local file whose reads fail with EIO once `fail_after` bytes were read (a dying disk)."""

    def __init__(self, path: Path, *, fail_after: int) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._fail_after = fail_after
        self.bytes_read = 0

    def fileno(self) -> int:
        return self._file.fileno()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        if self.bytes_read >= self._fail_after:
            raise OSError(5, "Input/output error (injected by the test)")
        data = self._file.read(size if size >= 0 else -1)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._file.close()
        super().close()


class ShrinkingSource(FailingSource):
    """A file whose size (fstat) says one thing, but whose reads end early: it was truncated meanwhile."""

    def read(self, size: int = -1) -> bytes:
        if self.bytes_read >= self._fail_after:
            return b""
        data = self._file.read(min(size, self._fail_after - self.bytes_read) if size >= 0 else -1)
        self.bytes_read += len(data)
        return data
