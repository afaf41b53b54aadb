"""Which objects a tenant may touch: its configured prefixes, compared after resolution.

A tenant's jobs name objects by URI (`s3://bucket/key`, `file:///path`, a relative key). Each
location is resolved first and only then matched against the tenant's prefixes, so no spelling
of a location reaches around the list:

- S3: bucket plus key, taken literally (S3 keys are names, not paths). A prefix `s3://b/team-a`
  is the folder `team-a/` (a prefix never matches `team-a-other/`); `s3://b/` is the whole bucket.
  Keys with empty, `.` or `..` segments are refused: AWS keeps them literally, but S3-compatible
  servers and proxies that normalise paths would turn `team-b/../team-a/x` into another
  tenant's object (and `team-b/./x` would get past the "never the source itself" check).
- local: the key relative to the local object folder after resolving `file://` URIs, absolute
  paths and symbolic links inside the folder (LocalFolderStore.canonical_key), so
  `file:///srv/objects/a/x.jpg`, `a/x.jpg` and a link to it are one object.
- originmark's own staging area for uploaded job files is never reachable from any URI, whatever
  the prefixes say.

Secure by default: a tenant with no prefixes can submit uploaded-file jobs but no URIs. A refusal
is raised before any request to storage (ObjectNotAllowed, 403 `object_not_allowed`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from app.objects.errors import InvalidObjectUri, ObjectNotAllowed
from app.objects.local import LocalFolderStore
from app.objects.location import ObjectLocation, Scheme, parse_object_uri


@dataclass(frozen=True, slots=True)
class ResolvedLocation:
    """A location as compared: scheme, bucket (S3) and canonical key."""

    scheme: Scheme
    bucket: str
    key: str

    def within(self, prefix: ResolvedLocation) -> bool:
        if (self.scheme, self.bucket) != (prefix.scheme, prefix.bucket):
            return False
        return prefix.key == "" or self.key.startswith(prefix.key)


class LocationResolver:
    """Resolves locations for comparison; `local` is the local object store (None: no local objects)."""

    def __init__(self, *, local: LocalFolderStore | None) -> None:
        self._local = local

    def resolve(self, location: ObjectLocation, *, prefix: bool = False) -> ResolvedLocation:
        if location.scheme is Scheme.S3:
            key = location.key
            _check_s3_segments(location, prefix=prefix)
            if prefix and key and not key.endswith("/"):
                key += "/"  # a prefix names a folder: `team-a` never matches `team-a-other/`
            return ResolvedLocation(Scheme.S3, location.bucket, key)
        if self._local is None:
            raise InvalidObjectUri(f"{location.uri}: this service serves no local objects", uri=location.uri)
        key = self._local.canonical_key(location, allow_prefix=prefix)
        if prefix and key and not key.endswith("/"):
            key += "/"
        return ResolvedLocation(Scheme.FILE, "", key)

    def public_text(self, text: str) -> str:
        """`text` (a URI, an error message) without the server's absolute local paths."""
        return text if self._local is None else self._local.relative_text(text)


def _check_s3_segments(location: ObjectLocation, *, prefix: bool) -> None:
    segments = location.key.split("/")
    if prefix and segments[-1] == "":
        segments = segments[:-1]  # a prefix may end with "/" (or be the whole bucket)
    if any(segment in ("", ".", "..") for segment in segments) and location.key:
        raise InvalidObjectUri(
            f"{location.uri}: an S3 key with empty, '.' or '..' segments is refused (a server that "
            "normalises paths would read it as another object)",
            uri=location.uri,
        )


class ObjectAllowList:
    """A tenant's object prefixes, resolved once per request; immutable."""

    def __init__(
        self, *, tenant: str, prefixes: Iterable[str], staging: ObjectLocation, resolver: LocationResolver
    ) -> None:
        self._tenant = tenant
        self._resolver = resolver
        self._staging = resolver.resolve(staging, prefix=True)
        resolved = []
        for text in prefixes:
            try:
                resolved.append(resolver.resolve(parse_object_uri(text), prefix=True))
            except InvalidObjectUri:
                continue  # a prefix this server cannot serve (checked when set; a changed folder since) grants nothing
        self._prefixes = tuple(resolved)

    def check(self, location: ObjectLocation) -> ObjectLocation:
        """`location` when the tenant may read or write it; ObjectNotAllowed otherwise."""
        try:
            resolved = self._resolver.resolve(location)
        except InvalidObjectUri as error:
            raise ObjectNotAllowed(self._refusal(location), uri=self._resolver.public_text(location.uri)) from error
        if resolved.within(self._staging) or not any(resolved.within(prefix) for prefix in self._prefixes):
            raise ObjectNotAllowed(self._refusal(location), uri=self._resolver.public_text(location.uri))
        return location

    def _refusal(self, location: ObjectLocation) -> str:
        where = self._resolver.public_text(location.uri)
        if not self._prefixes:
            return (
                f"{where}: the tenant {self._tenant!r} has no object prefixes, so its jobs take uploaded files only "
                "(the operator grants prefixes with `originmark tenants update NAME --object-prefix URI`)"
            )
        return f"{where} is outside the object prefixes of the tenant {self._tenant!r}"


def check_prefix_syntax(text: str, resolver: LocationResolver) -> str:
    """A prefix an operator wants to grant, when this server can serve it (InvalidObjectUri otherwise)."""
    resolver.resolve(parse_object_uri(text), prefix=True)
    return text
