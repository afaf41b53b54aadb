"""The `originmark` operator CLI (Typer + Rich).

One module per command group; app/cli/root.py only names them. Each command's module is imported
when that command runs (`app.cli.lazy`): `originmark --help` and `originmark verify` start
without the database, web and jobs stacks other commands need.
Exit codes: 0 success (nothing invalid), 1 something invalid, 2 usage or I/O error.

This package's own module stays light: `main()` launches the verifier workers a command line asks
for (app/cli/early_workers.py) before Typer is imported, so that they start while this process
imports it (issue 16). `cli` and the root group are app/cli/root.py's, also reachable here.
"""

from __future__ import annotations

import gc
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.cli.root import _COMMANDS, _Commands, cli

__all__ = ["_COMMANDS", "_Commands", "cli", "main"]


def main() -> None:
    """The `originmark` process: run the command the line names, then exit."""
    from app.cli.early_workers import workers_launched_ahead

    try:
        with workers_launched_ahead(sys.argv[1:]):
            from app.cli.root import cli  # Typer: imported once the workers are on their way

            cli()
    finally:
        # The command is done and the process exits next. Frozen, the objects left (modules, Typer,
        # settings) are not walked by the full collection the interpreter runs at exit: `verify`
        # took ~0.1 s to end after its last record on a busy 2-core machine, ~0.01 s frozen (issue
        # 16). What is still open is closed as before (atexit, then module teardown); only garbage
        # in reference cycles is left to the OS. Here, not in a command: tests run commands in
        # their own process (CliRunner), which must keep collecting.
        gc.freeze()


def __getattr__(name: str) -> Any:
    """`app.cli.cli` and the root group's names, from app/cli/root.py when first asked for."""
    if name in ("cli", "_Commands", "_COMMANDS"):
        from app.cli import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
