"""`LocalFolderStore`: objects as files under one folder — the default, like SQLite for the database.

For one machine (the README's first command) and for tests; several machines need shared
storage, so they use S3. Keys map to paths below the folder segment by segment, and nothing
can leave it: `..` and `.` segments, empty segments and absolute paths elsewhere are refused,
and a symbolic link leading out of the folder is treated as absent.

Writes are atomic: the bytes go to a temp file in `<root>/.originmark-partial/` (the same file
system, so the final rename is atomic), are fsynced, then renamed over the object. A failed
write leaves the old object (or none) and no partial file. Files are created with mode 0600
(objects may be private uploads). That folder is never listed and no key may enter it; a temp
file left by a killed process is garbage and may be deleted.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from app.objects.checked_reader import CheckedReader
from app.objects.errors import (
    InvalidObjectUri,
    ObjectAccessDenied,
    ObjectNotFound,
    ObjectSourceChanged,
    ObjectStorageFull,
    ObjectStoreError,
    ObjectStoreUnavailable,
)
from app.objects.interface import DEFAULT_PAGE_SIZE, ObjectInfo, ObjectPage
from app.objects.location import ObjectLocation, Scheme

PARTIAL_FOLDER = ".originmark-partial"
CHUNK_BYTES = 1024 * 1024
MAX_SEGMENT_BYTES = 255  # a file name on every common Linux file system
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
T = TypeVar("T")


class LocalFolderStore:
    """Objects as files below `root` (created when missing)."""

    def __init__(self, *, root: Path) -> None:
        given = Path(root).expanduser().absolute()
        try:
            given.mkdir(parents=True, exist_ok=True)
            self._root = given.resolve(strict=True)
        except OSError as error:
            raise _translate(error, uri=given.as_uri()) from error
        # Absolute URIs may name the folder as configured or as resolved (a symlinked /tmp, say).
        self._root_names = tuple(dict.fromkeys((str(given), str(self._root))))

    @property
    def root(self) -> Path:
        return self._root

    def __repr__(self) -> str:
        return f"LocalFolderStore(root={str(self._root)!r})"

    # --- the ObjectStore interface ---

    def stat(self, location: ObjectLocation) -> ObjectInfo:
        key = self._object_key(location)
        _path, status = self._existing_path(key, location)
        return self._info(key, status)

    def open_read(self, location: ObjectLocation) -> CheckedReader:
        key = self._object_key(location)
        path, _status = self._existing_path(key, location)
        try:
            stream = path.open("rb")
        except OSError as error:
            raise _translate(error, uri=location.uri) from error
        try:
            status = os.fstat(stream.fileno())  # the file this stream reads, even if replaced meanwhile
            if not _is_regular(status):
                raise ObjectNotFound(f"{location.uri} is not an object (it is a folder or a device)", uri=location.uri)
        except BaseException:
            stream.close()
            raise
        info = self._info(key, status)
        return CheckedReader(
            info=info, read=stream.read, close=stream.close, translate=lambda e: _read_error(e, uri=info.uri)
        )

    def put(self, location: ObjectLocation, source: BinaryIO) -> ObjectInfo:
        key = self._object_key(location)
        path = self._path(key)
        uri = path.as_uri()
        size = source_size(source)
        partial_dir = self._root / PARTIAL_FOLDER
        try:
            partial_dir.mkdir(exist_ok=True)
            descriptor, partial_name = tempfile.mkstemp(dir=partial_dir, prefix="put-")
        except OSError as error:
            raise _translate(error, uri=uri) from error
        partial = Path(partial_name)
        try:
            with os.fdopen(descriptor, "wb") as output:
                _copy_exactly(source, output, size, uri=uri)
                _store_call(output.flush, uri=uri)
                _store_call(lambda: os.fsync(output.fileno()), uri=uri)
                # The inode (so the etag) survives the rename; a stat after it could see a later write.
                status = os.fstat(output.fileno())
            self._make_parents(path, key, uri)
            _store_call(lambda: os.replace(partial, path), uri=uri, key=key)
            _fsync_directory(path.parent)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        return self._info(key, status)

    def list_page(
        self, prefix: ObjectLocation, *, page_size: int = DEFAULT_PAGE_SIZE, token: str | None = None
    ) -> ObjectPage:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        key_prefix = self._relative_key(prefix, allow_prefix=True)
        folder, _, name_prefix = key_prefix.rpartition("/")
        folder = f"{folder}/" if folder else ""
        if token is not None and not isinstance(token, str):
            raise ValueError("token must be a page's next_token")
        after = token if token is not None and token >= key_prefix else None
        items: list[ObjectInfo] = []
        walk = self._walk(folder, name_prefix=name_prefix, after=after)
        for key, status in walk:
            if len(items) == page_size:
                return ObjectPage(items=tuple(items), next_token=items[-1].location.key)
            items.append(self._info(key, status))
        return ObjectPage(items=tuple(items), next_token=None)

    def delete(self, location: ObjectLocation) -> None:
        key = self._object_key(location)
        path = self._path(key)
        if not self._inside(path.parent):
            return  # a symbolic link out of the folder: nothing of ours is there
        try:
            path.unlink()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return  # no such object (a folder is not an object)
        except OSError as error:
            if error.errno == errno.EISDIR:
                return
            raise _translate(error, uri=path.as_uri()) from error

    # --- keys and paths ---

    def canonical_key(self, location: ObjectLocation, *, allow_prefix: bool = False) -> str:
        """The key of `location` relative to the folder, after resolution: a relative key and the
        same file's absolute path give the same answer, and so does a path through a symbolic link
        inside the folder (to where it leads). InvalidObjectUri for what is outside the folder.
        For comparing locations (app/objects/access.py); reads and writes go by the key as given."""
        key = self._relative_key(location, allow_prefix=allow_prefix)
        real = os.path.realpath(self._path(key.rstrip("/")) if key.rstrip("/") else self._root)
        root = str(self._root)
        if real == root:
            return ""
        if not real.startswith(root + os.sep):
            raise InvalidObjectUri(f"{location.uri} leads out of the local object folder", uri=location.uri)
        resolved = real[len(root) + 1 :].replace(os.sep, "/")
        return resolved + "/" if key.endswith("/") else resolved

    def relative_text(self, text: str) -> str:
        """`text` with every absolute path or file URI of the folder made relative to it: what a
        client may be shown (the server's own paths go to the log only)."""
        for root in self._root_names:
            for form in (Path(root).as_uri() + "/", root.rstrip("/") + "/"):
                text = text.replace(form, "")
        return text

    def _object_key(self, location: ObjectLocation) -> str:
        location.require_object()
        return self._relative_key(location, allow_prefix=False)

    def _relative_key(self, location: ObjectLocation, *, allow_prefix: bool) -> str:
        if location.scheme is not Scheme.FILE:
            raise InvalidObjectUri(
                f"{location.uri} is not a local object: the local store serves file:// URIs and paths", uri=location.uri
            )
        key = location.key
        if key.startswith("/"):
            key = self._strip_root(key, location)
        segments = key.split("/")
        last = len(segments) - 1
        for index, segment in enumerate(segments):
            if segment in (".", "..") or (segment == "" and not (allow_prefix and index == last)):
                raise InvalidObjectUri(
                    f"{location.uri!r}: a local object key has no empty, '.' or '..' segments "
                    "(nothing may leave or wander in the object folder)",
                    uri=location.uri,
                )
            if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
                raise InvalidObjectUri(
                    f"{location.uri!r}: a path segment is longer than {MAX_SEGMENT_BYTES} bytes", uri=location.uri
                )
        if segments[0] == PARTIAL_FOLDER:
            raise InvalidObjectUri(f"{location.uri!r}: {PARTIAL_FOLDER}/ holds unfinished writes", uri=location.uri)
        return key

    def _strip_root(self, path: str, location: ObjectLocation) -> str:
        for root in self._root_names:
            if path.startswith(root.rstrip("/") + "/"):
                return path[len(root.rstrip("/")) + 1 :]
        raise InvalidObjectUri(f"{location.uri} is outside the local object folder {self._root}", uri=location.uri)

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*key.split("/"))

    def _inside(self, path: Path) -> bool:
        real = os.path.realpath(path)
        return real == str(self._root) or real.startswith(str(self._root) + os.sep)

    def _existing_path(self, key: str, location: ObjectLocation) -> tuple[Path, os.stat_result]:
        path = self._path(key)
        if not self._inside(path):
            # A link out of the folder (or a component that is one): as good as absent.
            raise ObjectNotFound(f"{location.uri} does not exist in the local object folder", uri=location.uri)
        try:
            status = path.stat()
        except OSError as error:
            raise _translate(error, uri=location.uri) from error
        if not _is_regular(status):
            raise ObjectNotFound(f"{location.uri} is not an object (it is a folder)", uri=location.uri)
        return path, status

    def _make_parents(self, path: Path, key: str, uri: str) -> None:
        _store_call(lambda: path.parent.mkdir(parents=True, exist_ok=True), uri=uri, key=key)
        if not self._inside(path.parent):
            raise InvalidObjectUri(f"{uri}: a folder on its path is a link out of the local object folder", uri=uri)

    def _info(self, key: str, status: os.stat_result) -> ObjectInfo:
        return ObjectInfo(
            location=ObjectLocation(Scheme.FILE, key),
            uri=self._path(key).as_uri(),
            size=status.st_size,
            etag=f"{status.st_mtime_ns:x}-{status.st_size:x}-{status.st_ino:x}",
            last_modified=datetime.datetime.fromtimestamp(status.st_mtime, tz=datetime.UTC),
        )

    def _walk(self, folder: str, *, name_prefix: str, after: str | None) -> Iterator[tuple[str, os.stat_result]]:
        """(key, stat) of every file below `folder` whose name starts with `name_prefix`, in key order.

        Key order is UTF-8 byte order, which is code point order: a folder sorts as its name plus
        "/", so "a.b" < "a/x" < "a0" as in S3. Whole folders at or before `after` are skipped.
        Symbolic links to folders are not followed (loops, escapes).
        """
        try:
            with os.scandir(self._path(folder.rstrip("/")) if folder else self._root) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as error:
            raise _translate(error, uri=(self._root / folder).as_uri()) from error
        ordered = []
        for entry in entries:
            if not entry.name.startswith(name_prefix) or (not folder and entry.name == PARTIAL_FOLDER):
                continue
            try:
                entry.name.encode("utf-8")
            except UnicodeEncodeError:
                continue  # a file name that is not UTF-8 cannot be a key
            is_folder = entry.is_dir(follow_symlinks=False)
            ordered.append((folder + entry.name + ("/" if is_folder else ""), entry, is_folder))
        ordered.sort(key=lambda item: item[0])
        for key, entry, is_folder in ordered:
            if is_folder:
                if after is not None and key < after and not after.startswith(key):
                    continue
                yield from self._walk(key, name_prefix="", after=after)
                continue
            if after is not None and key <= after:
                continue
            try:
                status = entry.stat()
            except OSError:
                continue  # deleted meanwhile, or a broken link
            if _is_regular(status) and (not entry.is_symlink() or self._inside(Path(entry.path))):
                yield key, status


def source_size(source: BinaryIO) -> int:
    """The size of a local file about to be stored (from its descriptor when it has one)."""
    try:
        return os.fstat(source.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        pass
    position = source.seek(0, os.SEEK_END)
    source.seek(0)
    return position


def read_exactly(source: BinaryIO, size: int, *, uri: str, done: int, total: int) -> bytes:
    """`size` bytes of `source`, or ObjectSourceChanged when it ends first (OSErrors pass through)."""
    data = source.read(size)
    if len(data) != size:
        raise ObjectSourceChanged(
            f"the file being stored at {uri} ended after {done + len(data)} of {total} bytes: it changed while "
            "it was read; nothing was stored",
            uri=uri,
        )
    return data


def check_source_ended(source: BinaryIO, *, uri: str, total: int) -> None:
    if source.read(1):
        raise ObjectSourceChanged(
            f"the file being stored at {uri} grew past {total} bytes while it was read; nothing was stored", uri=uri
        )


def _copy_exactly(source: BinaryIO, output: BinaryIO, size: int, *, uri: str) -> None:
    source.seek(0)
    done = 0
    while done < size:
        data = read_exactly(source, min(CHUNK_BYTES, size - done), uri=uri, done=done, total=size)
        _store_call(functools.partial(output.write, data), uri=uri)
        done += len(data)
    check_source_ended(source, uri=uri, total=size)


def _store_call(call: Callable[[], T], *, uri: str, key: str | None = None) -> T:
    try:
        return call()
    except OSError as error:
        raise _translate(error, uri=uri, key=key) from error


def _fsync_directory(folder: Path) -> None:
    # The rename is durable only once the folder is on disk; some file systems refuse: harmless.
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def _is_regular(status: os.stat_result) -> bool:
    return stat.S_ISREG(status.st_mode)


def _read_error(error: Exception, *, uri: str) -> ObjectStoreError:
    """A file's read error as an ObjectStoreError (a file raises OSError; anything else is named)."""
    if isinstance(error, OSError):
        return _translate(error, uri=uri)
    return ObjectStoreError(f"{uri}: {error.__class__.__name__}", uri=uri)


def _translate(error: OSError, *, uri: str, key: str | None = None) -> ObjectStoreError:
    if isinstance(error, (FileNotFoundError, NotADirectoryError)) and key is None:
        return ObjectNotFound(f"{uri} does not exist", uri=uri)
    if isinstance(error, (NotADirectoryError, IsADirectoryError, FileExistsError)) or (
        key is not None and error.errno in (errno.ENOTDIR, errno.EISDIR, errno.EEXIST)
    ):
        return InvalidObjectUri(
            f"{uri} cannot be stored in a folder: a part of its key is already an object, or it is a folder "
            "(S3 allows that, a file system does not)",
            uri=uri,
        )
    if isinstance(error, PermissionError):
        return ObjectAccessDenied(f"{uri}: permission denied", uri=uri)
    if error.errno in _DISK_FULL:
        return ObjectStorageFull(f"no disk space left for {uri}; nothing was kept", uri=uri)
    return ObjectStoreUnavailable(f"{uri}: {error.strerror or error.__class__.__name__}", uri=uri)
