"""Object URIs: `s3://bucket/key`, `file:///abs/path`, or a plain path (the local store's folder).

An `ObjectLocation` is what a job stores and hands around; which backend serves it follows
from its scheme alone (app/objects/router.py).

- `s3://bucket/key`: the key is taken literally, as the AWS CLI does (no percent-decoding):
  S3 keys are names, not paths, so `a/../b` is a key of its own there, never a walk up.
- `file:///abs/path` (RFC 8089, percent-decoded: `Path.as_uri()` encodes) or a plain path:
  served by the local store, which refuses anything outside its folder (app/objects/local.py).
  A relative plain path is relative to that folder, not to the working directory.

Keys are checked for what no backend can hold safely: control characters (they reach logs
and terminals), text that is not valid Unicode, more than S3's 1,024 UTF-8 bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote, urlsplit

from app.objects.errors import InvalidObjectUri

MAX_KEY_BYTES = 1024  # S3's limit; the local store has its own, per path segment
# AWS's rules (3-63 characters, letters, digits, dots, hyphens), plus the upper case and
# underscores of legacy us-east-1 buckets and some S3-compatible servers. Never a "/" or "?".
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Scheme(StrEnum):
    S3 = "s3"
    FILE = "file"


@dataclass(frozen=True, slots=True)
class ObjectLocation:
    """One object (or, with an empty or partial key, a prefix for listing).

    `key`: for S3 the object key; for `file` a path, absolute or relative to the local store's
    folder (the store resolves and checks it).
    """

    scheme: Scheme
    key: str
    bucket: str = ""

    def __post_init__(self) -> None:
        if self.scheme is Scheme.S3:
            if not _BUCKET.fullmatch(self.bucket) or ".." in self.bucket:
                raise InvalidObjectUri(
                    f"{self.bucket!r} is not an S3 bucket name (3-63 letters, digits, dots or hyphens)"
                )
        elif self.bucket:
            raise InvalidObjectUri("a local object has no bucket")
        check_key(self.key)

    @property
    def uri(self) -> str:
        if self.scheme is Scheme.S3:
            return f"s3://{self.bucket}/{self.key}"
        if self.key.startswith("/"):
            return "file://" + quote(self.key, safe="/")
        return self.key

    @property
    def name(self) -> str:
        """The last segment of the key (a title for a signed file, never a path to write to)."""
        return self.key.rstrip("/").rsplit("/", 1)[-1]

    def require_object(self) -> ObjectLocation:
        """This location, when it can name an object (a non-empty key not ending in "/")."""
        if not self.key or self.key.endswith("/"):
            raise InvalidObjectUri(f"{self.uri or '(empty)'} names a folder or prefix, not an object", uri=self.uri)
        return self

    def with_key(self, key: str) -> ObjectLocation:
        return ObjectLocation(self.scheme, key, self.bucket)

    def __str__(self) -> str:
        return self.uri


def check_key(key: str) -> str:
    if _CONTROL.search(key):
        raise InvalidObjectUri(f"the object key {key!r} contains a control character")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidObjectUri("the object key is not valid Unicode text") from None
    if size > MAX_KEY_BYTES:
        raise InvalidObjectUri(f"the object key is {size} bytes long (UTF-8); at most {MAX_KEY_BYTES} are allowed")
    return key


def parse_object_uri(text: str) -> ObjectLocation:
    """An `s3://`, `file://` or plain-path URI as an ObjectLocation; InvalidObjectUri otherwise."""
    if not isinstance(text, str) or not text:
        raise InvalidObjectUri("the object URI is empty: give s3://bucket/key or a path")
    if _CONTROL.search(text):
        raise InvalidObjectUri(f"the object URI {text!r} contains a control character")
    scheme, separator, rest = text.partition("://")
    if not separator:
        return ObjectLocation(Scheme.FILE, text)
    scheme = scheme.lower()
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise InvalidObjectUri(f"{text!r} names no bucket: write s3://bucket/key", uri=text)
        try:
            return ObjectLocation(Scheme.S3, key, bucket)
        except InvalidObjectUri as error:
            raise InvalidObjectUri(error.message, uri=text) from None
    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost"):
            raise InvalidObjectUri(
                f"{text!r} names another host ({parts.netloc}); only local files are served", uri=text
            )
        if parts.query or parts.fragment:
            raise InvalidObjectUri(f"{text!r} has a query or fragment: a file URI names a path only", uri=text)
        try:
            path = unquote(parts.path, errors="strict")
        except UnicodeDecodeError:
            raise InvalidObjectUri(f"{text!r} percent-encodes bytes that are not UTF-8 text", uri=text) from None
        if not path.startswith("/"):
            raise InvalidObjectUri(f"{text!r} is not an absolute file URI (file:///path)", uri=text)
        return ObjectLocation(Scheme.FILE, path)
    raise InvalidObjectUri(
        f"{text!r} uses the scheme {scheme!r}; object URIs are s3://bucket/key, file:///path or a plain path",
        uri=text,
    )
