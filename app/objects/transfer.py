"""Moving objects between a store and local files, as job workers need it.

- `local_copy(store, uri, spool_dir)`: the object as a local spool file for the engine (which
  seeks, see app/objects/interface.py), streamed in 1 MiB chunks and hashed (SHA-256) on the
  way; the file is deleted when the block ends, whatever happens.
- `upload_file(store, path, uri)`: a local file stored as an object (multipart on S3 when large).
- `iter_objects(store, prefix)`: every object under a prefix, page by page.

Memory stays bounded whatever the object's size: one chunk here (plus, uploading to S3, one
part). Spool files get random names (mkstemp, mode 0600): an object key never becomes a path.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from app.objects.errors import ObjectStorageFull, ObjectTooLarge
from app.objects.interface import DEFAULT_PAGE_SIZE, ObjectInfo, ObjectStore
from app.objects.location import ObjectLocation, parse_object_uri
from app.spool import SpoolFolder, is_disk_full, safe_filename

CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class SpooledObject:
    """An object copied to a local file (valid until its `local_copy` block ends)."""

    path: Path
    info: ObjectInfo  # what the store said when the download started (size, etag)
    sha256: str  # of the bytes in `path`
    size: int


def as_location(uri_or_location: str | ObjectLocation) -> ObjectLocation:
    if isinstance(uri_or_location, ObjectLocation):
        return uri_or_location
    return parse_object_uri(uri_or_location)


@contextlib.contextmanager
def spool_folder(spool_dir: Path | None) -> Iterator[Path]:
    """A private folder (mode 0700) for one job's files, removed with everything in it afterwards:
    an app/spool.py SpoolFolder, so one left by a worker that died is swept like an upload's."""
    try:
        spool = SpoolFolder(spool_dir).__enter__()
    except OSError as error:
        raise _spool_error(error, spool_dir) from error
    try:
        assert spool.path is not None
        yield spool.path
    finally:
        spool.__exit__(None, None, None)


@contextlib.contextmanager
def local_copy(
    store: ObjectStore,
    uri: str | ObjectLocation,
    spool_dir: Path | None,
    *,
    max_bytes: int | None = None,
    filename: str | None = None,
) -> Iterator[SpooledObject]:
    """The object at `uri` as a local file in `spool_dir` (default: the system temp folder).

    ObjectTooLarge (before any byte is copied) when the store announces more than `max_bytes`;
    ObjectStorageFull when the spool disk fills up. The file is deleted when the block ends.
    `filename`: a name for the copy (made harmless by `safe_filename`; give `spool_dir` as a
    private `spool_folder`) when the engine records it, as a parent ingredient's title;
    by default a random name.
    """
    location = as_location(uri).require_object()
    with store.open_read(location) as reader:
        info = reader.info
        if max_bytes is not None and info.size > max_bytes:
            raise ObjectTooLarge(
                f"{info.uri} is {info.size} bytes, over the limit of {max_bytes}",
                uri=info.uri,
                size=info.size,
                limit=max_bytes,
            )
        try:
            if filename is None:
                descriptor, name = tempfile.mkstemp(prefix="originmark-object-", dir=spool_dir)
            else:
                name = os.path.join(spool_dir or tempfile.gettempdir(), safe_filename(filename, fallback="object"))
                descriptor = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise _spool_error(error, spool_dir) from error
        path = Path(name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(descriptor, "wb") as output:
                while chunk := reader.read(CHUNK_BYTES):
                    digest.update(chunk)
                    try:
                        output.write(chunk)
                    except OSError as error:
                        raise _spool_error(error, spool_dir) from error
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
    try:
        yield SpooledObject(path=path, info=info, sha256=digest.hexdigest(), size=info.size)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def upload_file(store: ObjectStore, path: Path, uri: str | ObjectLocation) -> ObjectInfo:
    """Store the local file at `path` as the object `uri` (all or nothing; replaces an existing one).

    OSError when `path` cannot be read; the store's errors otherwise.
    """
    location = as_location(uri).require_object()
    with open(path, "rb") as source:
        return store.put(location, source)


def iter_objects(
    store: ObjectStore, prefix: str | ObjectLocation, *, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[ObjectInfo]:
    """Every object whose key starts with the prefix, in key order, one page in memory at a time."""
    location = as_location(prefix)
    token = None
    while True:
        page = store.list_page(location, page_size=page_size, token=token)
        yield from page.items
        if page.next_token is None:
            return
        token = page.next_token


def _spool_error(error: OSError, spool_dir: Path | None) -> OSError | ObjectStorageFull:
    if is_disk_full(error):
        where = spool_dir or Path(tempfile.gettempdir())
        return ObjectStorageFull(f"the spool folder {where} is full; nothing was kept")
    return error
