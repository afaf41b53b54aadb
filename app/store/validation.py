"""Checks on values before they reach a column: a wrong value is a caller's bug, told as ValueError."""

from __future__ import annotations

import re

from app.store.interface import MAX_MEDIA_ID_LENGTH, MAX_TENANT_NAME_LENGTH

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # PostgreSQL refuses NUL in text; none belongs in an id


def check_sha256_hex(value: str, *, what: str) -> str:
    if not isinstance(value, str) or _SHA256_HEX.fullmatch(value) is None:
        raise ValueError(f"{what} must be 64 lowercase hex digits (a SHA-256 hexdigest), got {value!r:.80}")
    return value


def check_media_id(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_MEDIA_ID_LENGTH or _CONTROL.search(value):
        raise ValueError(
            f"a media id is 1 to {MAX_MEDIA_ID_LENGTH} characters without control characters, got {value!r:.80}"
        )
    return value


# Lower-case letters, digits and hyphens, starting with a letter or digit: safe in URLs, logs,
# object keys and file names without quoting.
_TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def check_tenant_name(value: str) -> str:
    if not isinstance(value, str) or _TENANT_NAME.fullmatch(value) is None or len(value) > MAX_TENANT_NAME_LENGTH:
        raise ValueError(
            f"a tenant name is 1 to {MAX_TENANT_NAME_LENGTH} lower-case letters, digits or hyphens, "
            f"starting with a letter or digit; got {value!r:.80}"
        )
    return value


def is_tenant_name(value: str) -> bool:
    try:
        check_tenant_name(value)
    except ValueError:
        return False
    return True
