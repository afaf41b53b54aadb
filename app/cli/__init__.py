"""The `originmark` operator CLI (Typer + Rich).

One module per command group; this module only names them. Each command's module is imported
when that command runs (`app.cli.lazy`): `originmark --help` and `originmark verify` start
without the database, web and jobs stacks other commands need.
Exit codes: 0 success (nothing invalid), 1 something invalid, 2 usage or I/O error.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import typer

from app.cli.early_workers import workers_launched_ahead
from app.cli.lazy import LazyCommand, LazyGroup

# In the order `--help` lists them: name, module in app.cli, its command function or Typer app, and
# the short help `--help` shows without importing it (tests/cli/test_cli_startup.py keeps it equal
# to the command's own: its docstring's first paragraph, or its Typer app's help).
_COMMANDS = (
    ("sign", "sign_cmd", "sign", "Sign AI-generated media with Content Credentials (C2PA)."),
    ("verify", "verify_cmd", "verify", "Verify the Content Credentials of files and folders."),
    (
        "rendition",
        "rendition_cmd",
        "rendition",
        "Have a service sign renditions of an original with the original's credentials as history.",
    ),
    (
        "inspect",
        "inspect_cmd",
        "inspect",
        "Show one file's Content Credentials: label, manifests, actions, ingredients, signer, codes.",
    ),
    ("serve", "serve_cmd", "serve", "Run the HTTP API (sign, verify, labels) on the configured database and keys."),
    ("worker", "worker_cmd", "worker", "Run job workers until stopped (Ctrl-C / SIGTERM lets jobs in flight finish)."),
    (
        "keys",
        "keys_group",
        "keys_app",
        "Signing credentials: make development ones (init), check real ones before use "
        "(check, show), several identities (add-identity, list, rotate).",
    ),
    ("tenants", "tenants_cmd", "tenants_app", "Tenants: the owners of API keys, media ids, jobs and object locations."),
    (
        "apikey",
        "apikey_cmd",
        "apikey_app",
        "API keys for the HTTP service: create (shown once), list, revoke, signing policy.",
    ),
    (
        "audit",
        "audit_cmd",
        "audit_app",
        "The audit log of signatures: check its hash chain (verify), show the newest records (show).",
    ),
    (
        "batch",
        "batch_cmd",
        "batch_app",
        "Verify every object under an S3 prefix or folder as jobs, and report on them.",
    ),
    ("jobs", "jobs_cmd", "jobs_app", "The jobs' tables: purge finished jobs."),
    (
        "repository",
        "repository_cmd",
        "repository_app",
        "The manifest repository: kept manifest stores (stats, show, delete for takedowns, private/public, export).",
    ),
    (
        "sbr",
        "sbr_cmd",
        "sbr_app",
        "Query a C2PA Soft Binding Resolution API (ours at /sbr/v1, or another's): "
        "matches for a file, manifests by id.",
    ),
    ("home", "home_cmd", "home_app", "The folder where originmark keeps its data (see `originmark info`)."),
    ("info", "info_cmd", "info", "Show where originmark keeps its data and what it uses (never creates anything)."),
)


class _Commands(LazyGroup):
    lazy_commands = {
        name: LazyCommand(module=f"app.cli.{module}", attribute=attribute, short_help=short_help)
        for name, module, attribute, short_help in _COMMANDS
    }


cli = typer.Typer(
    name="originmark",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a user never sees a traceback
)


@cli.callback()
def _root() -> None:
    """Attach and verify C2PA Content Credentials for AI-generated media."""
    # A callback makes `cli` a group although no command is registered on it up front. Before
    # every command, data used from a legacy ./data is said (app/home.py's LEGACY_FOLDER); a stat
    # decides whether to read the settings at all, so start-up stays fast without one.
    if Path("data").is_dir():
        from app.cli.home_cmd import legacy_home_warning

        legacy_home_warning()


def main() -> None:
    """The `originmark` process: run the command the line names, then exit."""
    try:
        with workers_launched_ahead(sys.argv[1:]):
            cli()
    finally:
        # The command is done and the process exits next. Frozen, the objects left (modules, Typer,
        # settings) are not walked by the full collection the interpreter runs at exit: `verify`
        # took ~0.1 s to end after its last record on a busy 2-core machine, ~0.01 s frozen (issue
        # 16). What is still open is closed as before (atexit, then module teardown); only garbage
        # in reference cycles is left to the OS. Here, not in a command: tests run commands in
        # their own process (CliRunner), which must keep collecting.
        gc.freeze()
