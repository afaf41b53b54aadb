"""Manifest text is written by whoever made the file: store it as plain, bounded strings.

Policy (applied to every string the verifier copies out of a manifest or out of
an engine message that quotes one):

- only strings are kept (numbers become their decimal text; lists, objects and
  other types where a string belongs are dropped, never stringified);
- C0/C1 control characters are removed, except tab and newline: they can move a
  terminal's cursor, erase output (backspace, carriage return) or start escape
  sequences (ESC); a carriage return before a newline goes with it;
- Unicode bidirectional overrides, embeddings and isolates (U+202A-U+202E,
  U+2066-U+2069) are removed: they make text display in an order other than the
  one it is stored in (a "gpj.exe" that reads "exe.jpg");
- at most `MAX_TEXT_CHARS` characters are kept, then an ellipsis marks the cut.

Markup (HTML, Rich) is *not* escaped here: escaping is the job of whatever
renders the text, for its own syntax.
"""

from __future__ import annotations

import re

MAX_TEXT_CHARS = 4096
TRUNCATION_MARK = "…"

_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(value: object, *, limit: int = MAX_TEXT_CHARS) -> str | None:
    """A safe plain string from a hostile value, or None when there is no text."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        return None
    if len(value) <= limit and value.isprintable():
        # Fast path: printable text holds no control, format (bidi) or surrogate characters.
        return value or None
    # Cut first (bounded work on huge inputs), then clean, then cut again.
    text = _UNWANTED.sub("", value[: limit * 2])
    if len(text) > limit or len(value) > limit * 2:
        text = text[:limit] + TRUNCATION_MARK
    return text or None


def clean_code(value: object) -> str | None:
    """A validation status code ("assertion.dataHash.mismatch"): short, no controls."""
    return clean_text(value, limit=200)
