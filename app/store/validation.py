"""Checks on values before they reach a column: a wrong value is a caller's bug, told as ValueError."""

from __future__ import annotations

import re

from app.store.interface import MAX_MEDIA_ID_LENGTH, MAX_TENANT_NAME_LENGTH

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def is_sha256_hex(value: object) -> bool:
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def check_sha256_hex(value: str, *, what: str) -> str:
    if not is_sha256_hex(value):
        raise ValueError(f"{what} must be 64 lowercase hex digits (a SHA-256 hexdigest), got {value!r:.80}")
    return value


# The one media-id rule (the API's 422 and the store's ValueError both come from here): 1 to
# MAX_MEDIA_ID_LENGTH characters of `A-Z a-z 0-9 . _ : -`. It replaced a looser store-side rule
# (any characters but controls): the stricter one is what every writer already obeyed (all media
# ids come through the API), and it keeps ids safe in a URL path, a log line, a JSON key and an
# ETag without escaping, so the label response can be spliced from stored JSON as it is.
MEDIA_ID_CHARACTERS = "A-Za-z0-9._:-"
MEDIA_ID_PATTERN = rf"^[{MEDIA_ID_CHARACTERS}]{{1,{MAX_MEDIA_ID_LENGTH}}}$"
_MEDIA_ID = re.compile(rf"[{MEDIA_ID_CHARACTERS}]{{1,{MAX_MEDIA_ID_LENGTH}}}")


def media_id_problem(value: object) -> str | None:
    """None for a well-formed media id, else what is wrong with it ("is empty", ...)."""
    if isinstance(value, str) and _MEDIA_ID.fullmatch(value):
        return None
    if not isinstance(value, str):
        return "is not a string"
    if not value:
        return "is empty"
    if len(value) > MAX_MEDIA_ID_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_MEDIA_ID_LENGTH})"
    return "contains characters other than A-Z a-z 0-9 . _ : -"


def check_media_id(value: str) -> str:
    problem = media_id_problem(value)
    if problem is not None:
        raise ValueError(
            f"a media id is 1 to {MAX_MEDIA_ID_LENGTH} characters of A-Z a-z 0-9 . _ : - "
            f"(no spaces or control characters); this one {problem}, got {value!r:.80}"
        )
    return value


# Lower-case letters, digits and hyphens, starting with a letter or digit: safe in URLs, logs,
# object keys and file names without quoting.
_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def is_tenant_name(value: object) -> bool:
    return isinstance(value, str) and _TENANT_NAME.fullmatch(value) is not None and len(value) <= MAX_TENANT_NAME_LENGTH


def check_tenant_name(value: str) -> str:
    if not is_tenant_name(value):
        raise ValueError(
            f"a tenant name is 1 to {MAX_TENANT_NAME_LENGTH} lower-case letters, digits or hyphens, "
            f"starting with a letter or digit; got {value!r:.80}"
        )
    return value
