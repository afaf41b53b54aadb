"""`ObjectStores`: one `ObjectStore` for every URI, choosing the backend by the URI's scheme.

`s3://` goes to the S3 backend, `file://` URIs and plain paths to the local folder. A job
keeps URIs, and hands them to this; it never chooses a backend itself.
"""

from __future__ import annotations

from typing import BinaryIO

from app.objects.errors import InvalidObjectUri
from app.objects.interface import DEFAULT_PAGE_SIZE, ObjectInfo, ObjectPage, ObjectReader, ObjectStore
from app.objects.local import LocalFolderStore
from app.objects.location import ObjectLocation, Scheme, parse_object_uri


class ObjectStores:
    """Implements ObjectStore by delegating on the location's scheme."""

    def __init__(self, *, local: LocalFolderStore | None, s3: ObjectStore | None) -> None:
        self._backends: dict[Scheme, ObjectStore] = {}
        if local is not None:
            self._backends[Scheme.FILE] = local
        if s3 is not None:
            self._backends[Scheme.S3] = s3

    @property
    def local(self) -> LocalFolderStore | None:
        backend = self._backends.get(Scheme.FILE)
        return backend if isinstance(backend, LocalFolderStore) else None

    def parse(self, uri: str) -> ObjectLocation:
        """The location for `uri`, refused at once when no backend here serves its scheme."""
        location = parse_object_uri(uri)
        self.backend(location)
        return location

    def backend(self, location: ObjectLocation) -> ObjectStore:
        try:
            return self._backends[location.scheme]
        except KeyError:
            kinds = ", ".join(sorted(f"{scheme}://" for scheme in self._backends)) or "none"
            raise InvalidObjectUri(
                f"{location.uri}: this service does not serve {location.scheme}:// objects (it serves {kinds})",
                uri=location.uri,
            ) from None

    def stat(self, location: ObjectLocation) -> ObjectInfo:
        return self.backend(location).stat(location)

    def open_read(self, location: ObjectLocation) -> ObjectReader:
        return self.backend(location).open_read(location)

    def put(self, location: ObjectLocation, source: BinaryIO) -> ObjectInfo:
        return self.backend(location).put(location, source)

    def list_page(
        self, prefix: ObjectLocation, *, page_size: int = DEFAULT_PAGE_SIZE, token: str | None = None
    ) -> ObjectPage:
        return self.backend(prefix).list_page(prefix, page_size=page_size, token=token)

    def delete(self, location: ObjectLocation) -> None:
        self.backend(location).delete(location)
