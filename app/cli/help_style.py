"""Plain metavars in `--help`: `PATH...`, `FILE`, `INTEGER`, `[table|json]`, nothing for a flag.

Typer 0.2x prints Python type tags (`<bool>`, `<list[Path]>`, `<str>`) beside every parameter
and braces around required arguments (`{PATH}...`, `{files}`). `plain_help(command)` gives a
built Click command tree parameters that print the Unix way instead: an explicit `metavar`
when the command sets one (URL, NAME, URI, ...), else an upper-case word for the type; an
argument as its metavar (or upper-cased name) with `...` when it takes several, `[NAME]` when
optional. Parsing is untouched: only how parameters are named in help, usage and errors.

Help texts are plain text too: Typer renders them as Rich markup, where a literal
`[default: ORIGINMARK_KEYS_DIR]` reads as a style tag and vanishes, so they are escaped.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from typer.core import TyperArgument, TyperOption

if TYPE_CHECKING:
    from typer._click import Command  # Typer's vendored Click (see app/cli/lazy.py): a name for mypy only

# Typer's type labels (inside its `<...>`) -> the word shown instead.
_TYPE_WORDS = {
    "int": "INTEGER",
    "int range": "INTEGER",
    "float": "NUMBER",
    "float range": "NUMBER",
    "str": "TEXT",
    "path": "PATH",
    "file": "FILE",
    "dir": "FOLDER",
    "datetime": "DATETIME",
}


# A text or path option named `--...-url`, `--dir`, `--identity`, ... without a metavar of its own
# is shown with the word other commands use for the same thing (`--server URL`, `--out FOLDER`,
# `--tenant NAME`).
_NAME_WORDS = {"url": "URL", "dir": "FOLDER", "identity": "NAME", "name": "NAME"}


def _type_word(label: str) -> str:
    """`int` -> INTEGER, `list[Path]` -> PATH..., `table|json` -> [table|json]."""
    if label.startswith("list[") and label.endswith("]"):
        return _type_word(label[5:-1]) + "..."
    if "|" in label:
        return f"[{label}]"
    return _TYPE_WORDS.get(label.lower(), label.upper())


class PlainArgument(TyperArgument):
    @property
    def display_name_raw(self) -> str:
        # `plain_parameters` gave it a metavar; "..." says it takes several (also in error messages).
        return (self.metavar or (self.name or "").upper()) + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name column already shows the metavar

    def _rich_display_name(self) -> str:
        return self.display_name_raw

    def _usage_display_name(self) -> str:
        return self.display_name_raw if self.required else f"[{self.display_name_raw}]"


class PlainOption(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None  # a flag takes no value: nothing to name
        word = _type_word(self.display_type(ctx).strip("<>"))
        long_names = [name for name in self.opts if name.startswith("--")]
        if word in ("TEXT", "PATH") and long_names:
            word = _NAME_WORDS.get(long_names[0].rsplit("-", 1)[-1], word)
        return word + ("..." if self.nargs != 1 else "")


def plain_parameters(parameters: list[Any]) -> list[Any]:
    """The same parameters, printing plainly (a command's `get_params` returns this)."""
    for parameter in parameters:
        # Same attributes, other display methods: switching the class keeps every parsed value as is.
        # Done once per parameter (the class is the mark), so its help is escaped once.
        if type(parameter) is TyperArgument:
            parameter.__class__ = PlainArgument
            # Typer adds "..." itself to an argument without a metavar: name it, so it is added once.
            parameter.metavar = parameter.metavar or (parameter.name or "").upper()
        elif type(parameter) is TyperOption:
            parameter.__class__ = PlainOption
        else:
            continue
        if parameter.help:
            parameter.help = escape(parameter.help)
    return parameters


_PLAIN_CLASSES: dict[type[Command], type[Command]] = {}


def _plain_class(cls: type[Command]) -> type[Command]:
    """`cls` whose `get_params` (which help, usage and parsing all use) returns plain parameters."""
    if cls not in _PLAIN_CLASSES:

        def get_params(self: Any, ctx: Any) -> list[Any]:
            return plain_parameters(cls.get_params(self, ctx))  # the help option is made in there too

        _PLAIN_CLASSES[cls] = type(f"Plain{cls.__name__}", (cls,), {"get_params": get_params})
    return _PLAIN_CLASSES[cls]


# A line that starts a list item or is indented keeps its line break when a paragraph is reflowed.
_KEPT_LINE = re.compile(r"\s|[-*•]\s|\d+[.)]\s")


def reflow(help_text: str) -> str:
    """Docstring paragraphs as single lines, for the terminal to wrap at its own width.

    Typer 0.2x keeps a docstring's line breaks after the first paragraph, so at 80 columns a
    paragraph wrapped at 100 in the source prints as ragged half-lines. `\b` paragraphs (Click's
    "do not rewrap" mark), list items and indented lines are kept as written.
    """
    paragraphs = []
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        lines = paragraph.split("\n")
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        merged = [lines[0]]
        for line in lines[1:]:
            if _KEPT_LINE.match(line):
                merged.append(line)
            else:
                merged[-1] += " " + line
        paragraphs.append("\n".join(merged))
    return "\n\n".join(paragraphs)


def plain_help(command: Any) -> Any:
    """`command` and, for a group, every command under it, with plain parameters and reflowed help;
    returns `command`."""
    if type(command) not in _PLAIN_CLASSES.values():
        command.__class__ = _plain_class(type(command))
        if command.help:
            command.help = escape(reflow(command.help))
    for subcommand in getattr(command, "commands", {}).values():
        plain_help(subcommand)
    return command
