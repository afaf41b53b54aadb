"""A verifier worker launched before Typer parses the command line, for `verify` and `inspect`.

Why: the worker's own start (a fresh interpreter importing the engine and parsing the shipped
trust lists) is the longest step of `originmark verify one.jpg`, and Typer's own set-up before
a command runs (pydantic and its adapters, the command's module) takes ~0.1 s of its own.
Launched from `main()` when the command line names a command that verifies in this process,
the worker starts up during that time; `verify --jobs N` gets N of them at once (up to the
number of CPUs), all starting while Typer does its part.

The peek at the command line is deliberately crude: a wrong guess costs a worker that is
discarded at exit (a usage error, `--help` after other options, a server URL from the
settings), never a wrong result: the command still parses its options with Typer and adopts
the worker only when it verifies here (`verifier_workers`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verifier.process_pool import Launched

_VERIFYING_COMMANDS = frozenset({"verify", "inspect"})
_launched_ahead: list[Launched] = []  # this process's, not yet adopted


@contextmanager
def workers_launched_ahead(args: Sequence[str]) -> Iterator[None]:
    """Around the whole CLI run: launch one worker now if `args` verify here; discard it at the end if unused."""
    if _verifies_here(args):
        from verifier.warm_start import launch_verifier_workers

        _launched_ahead.extend(launch_verifier_workers(_workers_wanted(args)))
    try:
        yield
    finally:
        while _launched_ahead:
            _launched_ahead.pop().discard()


def verifier_workers(count: int) -> list[Launched]:
    """`count` verifier worker processes for a command to adopt: the one launched ahead, then new ones."""
    from verifier.warm_start import launch_verifier_workers

    taken = [_launched_ahead.pop() for _ in range(min(count, len(_launched_ahead)))]
    return taken + launch_verifier_workers(count - len(taken))


def _verifies_here(args: Sequence[str]) -> bool:
    # The root has no options of its own: the first argument is the command.
    if not args or args[0] not in _VERIFYING_COMMANDS:
        return False
    return not any(arg == "--help" or arg == "--server" or arg.startswith("--server=") for arg in args[1:])


def _workers_wanted(args: Sequence[str]) -> int:
    """The workers `--jobs N` (`-j N`, `--jobs=N`, `-jN`) asks for, at most one per CPU; else 1.

    More than the CPUs would only start in each other's way before the command has parsed its
    options; the command launches the rest itself.
    """
    wanted = 1
    for index, arg in enumerate(args):
        if arg in ("--jobs", "-j"):
            value = args[index + 1] if index + 1 < len(args) else ""
        elif arg.startswith("--jobs="):
            value = arg.removeprefix("--jobs=")
        elif arg.startswith("-j"):
            value = arg.removeprefix("-j")
        else:
            continue
        if value.isdigit():
            wanted = int(value)
    return max(1, min(wanted, os.cpu_count() or 1))
