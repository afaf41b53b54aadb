"""Command groups whose commands are imported when they run, not when the CLI starts.

`originmark --help` and `originmark verify x.jpg` should not pay for SQLAlchemy, Alembic,
FastAPI and the jobs stack that other commands import (1.3 s before any work). The
root group knows each command by module and attribute only; it imports the one command line
asks for. The root's own `--help` lists every command from the short help kept beside its
name, so listing imports nothing (tests/cli/test_cli_startup.py checks that each short help is
still the command's own).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import TYPE_CHECKING, Any, ClassVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

from app.cli.help_style import plain_help, plain_parameters

if TYPE_CHECKING:
    # Typer vendors Click as typer._click and annotates its overridable methods with that Context
    # (typer.Context is a subclass, so it cannot be an override's parameter type). Only a name for
    # mypy: nothing is imported at run time.
    from typer._click import Context, HelpFormatter


@dataclass(frozen=True, slots=True, kw_only=True)
class LazyCommand:
    """Where a command lives: `attribute` of `module` is a command function or a Typer app."""

    module: str
    attribute: str
    short_help: str  # what the root's --help lists: the command's own first line (or Typer help)


def load_command(name: str, entry: LazyCommand) -> Any:
    """Import the command and build its Click command, named `name`, with plain help."""
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    # Built as the root used to register it up front (add_typer / command): no completion options.
    wrapper = typer.Typer(add_completion=False)
    if isinstance(target, typer.Typer):
        wrapper.add_typer(target, name=name)
        return plain_help(typer.main.get_command(wrapper).commands[name])  # type: ignore[attr-defined]
    wrapper.command(name)(target)
    return plain_help(typer.main.get_command(wrapper))


class LazyGroup(TyperGroup):
    """A group that imports a command only when it is run or its own help is asked for."""

    lazy_commands: ClassVar[dict[str, LazyCommand]] = {}  # set by a subclass: name -> where it lives

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False
        for command in self.commands.values():
            plain_help(command)

    def get_params(self, ctx: Context) -> list[Any]:
        return plain_parameters(super().get_params(ctx))

    def list_commands(self, ctx: Context) -> list[str]:
        return [*self.commands, *(name for name in self.lazy_commands if name not in self.commands)]

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        entry = self.lazy_commands.get(cmd_name)
        if entry is None:
            return None
        if self._listing:  # the group's help shows names and short help only: import nothing
            return TyperCommand(name=cmd_name, help=entry.short_help)
        command = load_command(cmd_name, entry)
        self.commands[cmd_name] = command
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Any, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except Exception as error:
            # Click's UsageError for an unknown name suggests among the commands loaded so far
            # (none, here): suggest among all of them.
            message = getattr(error, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                suggested = _with_suggestion(message, args[0], self.list_commands(ctx))
                error.message = suggested  # type: ignore[attr-defined]
            raise


def _with_suggestion(message: str, typo: str, names: Sequence[str]) -> str:
    matches = get_close_matches(typo, names)
    if not matches:
        return message
    return f"{message.rstrip('.')}. Did you mean {', '.join(repr(match) for match in matches)}?"
