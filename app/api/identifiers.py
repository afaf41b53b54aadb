"""The identifiers callers send: media ids and content hashes, checked before anything uses them.

A media id is the caller's own name for an item (a post id, a storage key). Allowed:
1-200 characters of `A-Z a-z 0-9 . _ : -` (one rule with the store's: app/store/validation.py).
That keeps ids safe to put in a URL path, a log line, a JSON key and an ETag without escaping,
and the label response can be spliced together from stored JSON without re-encoding the ids.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from app.api.error_responses import unprocessable
from app.store.interface import MAX_LABEL_BATCH, MAX_MEDIA_ID_LENGTH
from app.store.validation import MEDIA_ID_CHARACTERS, MEDIA_ID_PATTERN, media_id_problem

__all__ = [
    "MEDIA_ID_PATTERN",
    "check_media_id",
    "check_media_ids",
    "check_sha256",
    "form_flag",
    "optional_media_id",
]
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# A whole batch checked in one pass (ids joined by newlines, which no id may contain).
_MEDIA_ID_LINES = re.compile(rf"(?:[{MEDIA_ID_CHARACTERS}]{{1,{MAX_MEDIA_ID_LENGTH}}}\n)+")


def check_media_id(value: str, *, field: str = "media_id") -> str:
    """The store's rule (app/store/validation.py), told to the caller as a 422."""
    problem = media_id_problem(value)
    if problem is None:
        return value
    raise unprocessable("invalid_media_id", f"{field} {problem}", field=field)


def optional_media_id(value: str | None) -> str | None:
    return None if value is None else check_media_id(value)


def check_media_ids(values: Iterable[object]) -> list[str]:
    """Distinct ids in first-seen order; 1 to MAX_LABEL_BATCH of them, each well-formed."""
    ids = list(values)
    if not ids:
        raise unprocessable("no_media_ids", "give at least one media id", field="media_id")
    if len(ids) > MAX_LABEL_BATCH:
        raise unprocessable(
            "too_many_media_ids",
            f"{len(ids)} media ids were given; at most {MAX_LABEL_BATCH} per request",
            field="media_id",
        )
    strings = [value for value in ids if type(value) is str]
    if len(strings) == len(ids) and _MEDIA_ID_LINES.fullmatch("\n".join(strings) + "\n"):
        return list(dict.fromkeys(strings))  # the common case: all well-formed, one regex pass
    checked: dict[str, None] = {}
    for index, value in enumerate(ids):
        if not isinstance(value, str):
            raise unprocessable("invalid_media_id", f"media_id[{index}] is not a string", field="media_id")
        checked[check_media_id(value, field=f"media_id[{index}]")] = None
    return list(checked)


def check_sha256(value: str, *, field: str = "sha256") -> str:
    if not _SHA256.fullmatch(value):
        raise unprocessable(
            "invalid_sha256", "the content hash must be 64 hexadecimal characters (SHA-256)", field=field
        )
    return value.lower()


def form_flag(value: str | None, field: str) -> bool:
    """A multipart text field that is a yes or no: `true` or `false` exactly (absent: false); anything
    else is a 422, not a guess at what the caller meant."""
    if value is None or value == "false":
        return False
    if value == "true":
        return True
    raise unprocessable("invalid_flag", f"{field} is true or false", field=field)
