"""The `originmark` operator CLI (Typer + Rich).

One module per command group; this module only names them. Each command's module is imported
when that command runs (`app.cli.lazy`): `originmark --help` and `originmark verify` start
without the database, web and jobs stacks other commands need.
Exit codes: 0 success (nothing invalid), 1 something invalid, 2 usage or I/O error.
"""

from __future__ import annotations

import typer

from app.cli.lazy import LazyCommand, LazyGroup


class _Commands(LazyGroup):
    # In the order `--help` lists them. short_help: the command's docstring's first line (or its
    # Typer app's help), which tests/cli/test_cli_startup.py keeps equal to the command's own.
    lazy_commands = {
        "sign": LazyCommand(
            module="app.cli.sign_cmd", attribute="sign",
            short_help="Sign AI-generated media with Content Credentials (C2PA).",
        ),
        "verify": LazyCommand(
            module="app.cli.verify_cmd", attribute="verify",
            short_help="Verify the Content Credentials of files and folders.",
        ),
        "inspect": LazyCommand(
            module="app.cli.inspect_cmd", attribute="inspect",
            short_help="Show one file's Content Credentials: label, manifests, actions, ingredients, signer, codes.",
        ),
        "serve": LazyCommand(
            module="app.cli.serve_cmd", attribute="serve",
            short_help="Run the HTTP API (sign, verify, labels) on the configured database and keys.",
        ),
        "worker": LazyCommand(
            module="app.cli.worker_cmd", attribute="worker",
            short_help="Run job workers until stopped (Ctrl-C / SIGTERM lets jobs in flight finish).",
        ),
        "keys": LazyCommand(
            module="app.cli.keys_cmd", attribute="keys_app",
            short_help="Signing credentials: make development ones (init), check real ones before use (check, "
            "show), several identities (add-identity, list, rotate).",
        ),
        "tenants": LazyCommand(
            module="app.cli.tenants_cmd", attribute="tenants_app",
            short_help="Tenants: the owners of API keys, media ids, jobs and object locations.",
        ),
        "apikey": LazyCommand(
            module="app.cli.apikey_cmd", attribute="apikey_app",
            short_help="API keys for the HTTP service: create (shown once), list, revoke, signing policy.",
        ),
        "audit": LazyCommand(
            module="app.cli.audit_cmd", attribute="audit_app",
            short_help="The audit log of signatures: check its hash chain (verify), show the newest records (show).",
        ),
        "batch": LazyCommand(
            module="app.cli.batch_cmd", attribute="batch_app",
            short_help="Verify every object under an S3 prefix or folder as jobs, and report on them.",
        ),
        "jobs": LazyCommand(
            module="app.cli.jobs_cmd", attribute="jobs_app", short_help="The jobs' tables: purge finished jobs.",
        ),
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
    # A callback makes `cli` a group although no command is registered on it up front.


def main() -> None:
    cli()
