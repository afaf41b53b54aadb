"""The narrow interface job workers (and batch commands) use for object storage.

Two backends implement `ObjectStore`: `LocalFolderStore` (the default: one folder on this
machine) and `S3ObjectStore` (AWS S3 or any S3-compatible server). `ObjectStores` picks one
by the URI's scheme. tests/objects/test_conformance.py runs the same tests against both.

How media reach the C2PA engine: the engine reads containers by absolute offset (it seeks),
and an S3 response body cannot seek. So a job never hands the engine an object stream: it
copies the object to a local spool file first (`app.objects.transfer.local_copy`, streamed in
chunks, bounded memory) and signs or verifies that file; a signed output goes back with
`upload_file` (multipart for large files). `open_read` is therefore forward-only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Protocol, runtime_checkable

from app.objects.location import ObjectLocation

DEFAULT_PAGE_SIZE = 1000  # S3's own maximum for one ListObjectsV2 page


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """What a store says about one object."""

    location: ObjectLocation
    uri: str  # absolute: s3://bucket/key or file:///path
    size: int
    # Changes whenever the content may have changed; compare it, never parse it. S3: the
    # store's ETag (an MD5 only for single-part uploads); local: mtime, size and inode.
    etag: str
    last_modified: datetime.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectPage:
    """One page of a listing, in key order (UTF-8 byte order, as S3 lists)."""

    items: tuple[ObjectInfo, ...]
    next_token: str | None  # opaque; None when this was the last page


@runtime_checkable
class ObjectReader(Protocol):
    """An object's bytes, read once from the start (not seekable). Close it, or use `with`."""

    info: ObjectInfo  # size and etag of the object being read

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: bytearray | memoryview, /) -> int: ...

    def seekable(self) -> bool:
        """False: forward-only (see the module docstring); said so for code that asks before seeking."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> ObjectReader: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...


@runtime_checkable
class ObjectStore(Protocol):
    """Object storage as jobs need it. Every method raises app.objects.errors types for storage
    problems (never a backend's own exceptions) and is safe to call from several threads."""

    def stat(self, location: ObjectLocation) -> ObjectInfo:
        """Size and etag of the object; ObjectNotFound when there is none."""
        ...

    def open_read(self, location: ObjectLocation) -> ObjectReader:
        """The object's bytes as a forward-only stream (raises ObjectNotFound before any byte).

        A read that breaks off or ends short raises ObjectStoreUnavailable: a reader never
        ends quietly with part of the object.
        """
        ...

    def put(self, location: ObjectLocation, source: BinaryIO) -> ObjectInfo:
        """Store the bytes of `source` (a local file, read from its start to its end) at `location`.

        All or nothing: until it returns, readers see the old object (or none); when it raises,
        no partial object was kept (a multipart upload is aborted). Replaces an existing object.
        A local file that changes size while it is read raises ObjectSourceChanged; a failure
        reading it (OSError) is raised as it is, after the same clean-up.
        """
        ...

    def list_page(
        self, prefix: ObjectLocation, *, page_size: int = DEFAULT_PAGE_SIZE, token: str | None = None
    ) -> ObjectPage:
        """Objects whose key starts with `prefix.key` (a string prefix, as in S3), in key order.

        Pass the page's `next_token` to get the next one. A missing bucket is ObjectNotFound;
        a prefix matching nothing is an empty page.
        """
        ...

    def delete(self, location: ObjectLocation) -> None:
        """Remove the object; deleting one that is not there is not an error (as in S3)."""
        ...
