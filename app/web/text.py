"""Manifest text made fit for a page: every string in a manifest is written by whoever made the file.

HTML escaping is Jinja's job (autoescape is always on; JavaScript sets `textContent`). What
escaping cannot fix is done here: control characters, Unicode bidi overrides and isolates
("Trojan Source": text that reads differently from what it is), line separators, and sheer
length (ten thousand characters in a title). The work is bounded whatever the input's size.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
DEFAULT_MAX_CHARS = 200

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates, line/paragraph separators, the
# Arabic letter mark. Zero-width joiners stay: some scripts and emoji need them.
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\u061c]")


def display_text(value: object, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Printable, single-line text of at most `max_chars` characters ("" for None)."""
    if value is None:
        return ""
    raw = str(value)
    budget = max_chars * 8 + 64  # only a few times the budget is ever cleaned
    cut = len(raw) > budget
    text = " ".join(_UNSAFE_CHARS.sub(" ", raw[:budget]).split())
    if len(text) > max_chars or (cut and max_chars > 0):
        text = text[: max(min(len(text), max_chars - 1), 0)] + ELLIPSIS
    return text


def optional_text(value: object, *, max_chars: int = DEFAULT_MAX_CHARS) -> str | None:
    """`display_text`, or None when nothing printable is left."""
    text = display_text(value, max_chars=max_chars)
    return text or None
