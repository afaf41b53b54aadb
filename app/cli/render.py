"""Safe terminal display of hostile text, shared by the CLI commands.

Every string that comes out of a manifest (titles, generator names, signer
names, labels of assertions, ...) was written by whoever made the file. Shown
raw, it could inject Rich markup (`[link=...]`, `[/]`), terminal escape
sequences (cursor moves, OSC 8 links, a cleared screen), control characters,
bidi overrides that reorder what the reader sees, or simply ten thousand
characters. Use:

- `clean_text(value)` for `rich.text.Text` objects (which never parse markup);
- `escape_text(value)` for strings that go into markup (table cells, `print`);
- `make_console()` for a Console that does not turn `:emoji:` codes or
  "highlight" hostile strings either.
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from verifier.label_types import Label, LabelKind
from verifier.verdict import VerdictState

DEFAULT_MAX_CHARS = 200
ELLIPSIS = "…"

# ESC-introduced sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \),
# DCS/SOS/PM/APC strings, and the two-byte forms (ESC + one char).
_ESCAPE_SEQUENCES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                      # CSI
  | \x1b[\]PX^_][^\x07\x1b]*(?:\x07|\x1b\\)?    # OSC, DCS, SOS, PM, APC
  | \x1b[@-Z\\-_]                               # two-byte sequences
  | \x9b[0-?]*[ -/]*[@-~]                       # 8-bit CSI
    """,
    re.VERBOSE,
)
# C0 and C1 controls, DEL, and the Unicode bidi embeddings/overrides/isolates
# ("Trojan Source"), line/paragraph separators. Zero-width joiners stay: some
# scripts and emoji need them.
_UNSAFE_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029\u061c]")


def clean_text(value: object, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Printable, single-line, bounded text for a terminal (no markup escaping)."""
    if value is None:
        return ""
    raw = str(value)
    # Bounded work on huge values: only a few times the budget is ever cleaned.
    budget = max_chars * 8 + 64
    cut = len(raw) > budget
    text = _ESCAPE_SEQUENCES.sub("", raw[:budget])
    text = _UNSAFE_CHARS.sub(" ", text)
    text = " ".join(text.split())  # one line: tabs, newlines (now spaces) and runs collapse
    if len(text) > max_chars or (cut and max_chars > 0):
        text = text[: max(min(len(text), max_chars - 1), 0)] + ELLIPSIS
    return text


def escape_text(value: object, *, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """`clean_text`, then escaped so Rich markup shows it literally.

    Truncation happens before escaping: cutting an escaped string could leave a
    lone backslash that escapes the markup after it.
    """
    return escape(clean_text(value, max_chars=max_chars))


def safe_text(value: object, *, style: str = "", max_chars: int = DEFAULT_MAX_CHARS) -> Text:
    """A `Text` of hostile content: never parsed as markup."""
    return Text(clean_text(value, max_chars=max_chars), style=style)


_LABEL_STYLES = {
    LabelKind.AI_GENERATED: "bold magenta",
    LabelKind.AI_EDITED: "magenta",
    LabelKind.CAPTURED: "bold green",
    LabelKind.CREDENTIALS: "cyan",
    LabelKind.INVALID: "bold red",
    LabelKind.NONE: "dim",
}
_STATE_STYLES = {
    VerdictState.TRUSTED: "bold green",
    VerdictState.VALID: "yellow",
    VerdictState.INVALID: "bold red",
    VerdictState.NONE: "dim",
    VerdictState.ERROR: "red",
}


def label_style(kind: LabelKind | str) -> str:
    """The Rich style for a label kind (accepts the enum or its value)."""
    return _LABEL_STYLES.get(LabelKind(kind), "")


def state_style(state: VerdictState | str) -> str:
    return _STATE_STYLES.get(VerdictState(state), "")


def label_text(label: Label) -> Text:
    """The label's display text in its kind's colour (the text itself says "unrecognized signer")."""
    return safe_text(label.text, style=label_style(label.kind))


def make_console(*, stderr: bool = False, width: int | None = None) -> Console:
    """A Console for hostile content: no emoji codes, no auto-highlighting."""
    # No `file=`: Rich then resolves sys.stdout/sys.stderr when it writes,
    # so redirections made after construction (e.g. by test runners) apply.
    return Console(
        stderr=stderr,
        emoji=False,
        highlight=False,
        width=width,
    )
