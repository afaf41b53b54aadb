"""Checks on text that leaves the service: bounded, and free of characters that drive a display.

The bound is the product's own: `verifier.hostile_text.MAX_TEXT_CHARS` characters, plus the
truncation mark, for every string copied out of a manifest.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterator
from typing import Any

from verifier.hostile_text import MAX_TEXT_CHARS, TRUNCATION_MARK

MAX_STRING = MAX_TEXT_CHARS + len(TRUNCATION_MARK)
# C0 controls but tab and newline (which hostile_text keeps on purpose), DEL, C1 controls,
# bidi embeddings/overrides/isolates, lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
FORMULA_STARTS = ("=", "+", "-", "@")


def strings_in(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """(where, string) for every string (keys included) in JSON-like data or verdict dataclasses."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, enum.Enum):
        yield from strings_in(value.value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key, f"{path}.<key>")
            yield from strings_in(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from strings_in(item, f"{path}[{index}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from strings_in(getattr(value, field.name), f"{path}.{field.name}")


def text_problems(value: Any, *, max_chars: int = MAX_STRING) -> list[str]:
    """Each string that is too long or holds an unsafe character, named by where it is."""
    problems = []
    for where, text in strings_in(value):
        if len(text) > max_chars:
            problems.append(f"{where}: {len(text)} characters (bound {max_chars})")
        unsafe = UNSAFE.search(text)
        if unsafe:
            problems.append(f"{where}: unsafe character U+{ord(unsafe.group()):04X} in {text[:80]!r}")
    return problems
