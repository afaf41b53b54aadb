"""`CheckedReader`: the `ObjectReader` both backends return — forward-only, counted, never short.

A backend stream (a local file, an S3 response body) is read in the caller's chunk size and
counted; at its end the count must equal the size the store announced, so a connection that
closes early is an error (ObjectStoreUnavailable), never a silently truncated object.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.objects.errors import ObjectStoreError, ObjectStoreUnavailable
from app.objects.interface import ObjectInfo

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer  # typeshed's name for "any writable buffer"; no runtime module

ReadFunction = Callable[[int], bytes]


class CheckedReader(io.RawIOBase):
    def __init__(
        self,
        *,
        info: ObjectInfo,
        read: ReadFunction,
        close: Callable[[], None],
        translate: Callable[[Exception], ObjectStoreError],
    ) -> None:
        super().__init__()
        self.info = info
        self._read = read
        self._close = close
        self._translate = translate  # a backend's own read errors, as ObjectStoreErrors
        self._count = 0

    @property
    def bytes_read(self) -> int:
        return self._count

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False  # see app/objects/interface.py: the engine gets a spooled local copy

    def read(self, size: int = -1, /) -> bytes:
        if self.closed:
            raise ValueError("read from a closed object reader")
        remaining = self.info.size - self._count
        if size is None or size < 0:
            size = remaining
        want = min(size, remaining)
        if want <= 0:
            if remaining <= 0:
                self._check_end()
            return b""
        try:
            data = self._read(want)
        except ObjectStoreError:
            raise
        except Exception as error:  # each backend names its own in `translate`
            raise self._translate(error) from error
        if not data:
            self._short()
        if len(data) > want:  # a stream longer than announced: the object changed under us
            raise ObjectStoreUnavailable(
                f"{self.info.uri} sent more bytes than its size ({self.info.size}); read it again", uri=self.info.uri
            )
        self._count += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer, /) -> int:  # bytearray or memoryview
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def _check_end(self) -> None:
        if self._count < self.info.size:
            self._short()

    def _short(self) -> None:
        raise ObjectStoreUnavailable(
            f"the download of {self.info.uri} broke off after {self._count} of {self.info.size} bytes; read it again",
            uri=self.info.uri,
        )

    def close(self) -> None:
        if not self.closed:
            try:
                self._close()
            finally:
                super().close()

    def __enter__(self) -> CheckedReader:
        return self
