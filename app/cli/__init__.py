"""The `originmark` operator CLI (Typer + Rich).

One module per command group; this module only assembles them.
Exit codes: 0 success (nothing invalid), 1 something invalid, 2 usage or I/O error.
"""

from __future__ import annotations

import typer

from app.cli import apikey_cmd, audit_cmd, batch_cmd, inspect_cmd, keys_cmd, serve_cmd, sign_cmd, verify_cmd, worker_cmd
from app.cli import home_cmd, info_cmd, jobs_cmd, tenants_cmd

cli = typer.Typer(
    name="originmark",
    help="Attach and verify C2PA Content Credentials for AI-generated media.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,  # a user never sees a traceback
)
cli.add_typer(keys_cmd.keys_app, name="keys")
cli.add_typer(tenants_cmd.tenants_app, name="tenants")
cli.add_typer(apikey_cmd.apikey_app, name="apikey")
cli.add_typer(audit_cmd.audit_app, name="audit")
cli.add_typer(batch_cmd.batch_app, name="batch")
cli.add_typer(jobs_cmd.jobs_app, name="jobs")
cli.add_typer(home_cmd.home_app, name="home")
cli.command("sign")(sign_cmd.sign)
cli.command("verify")(verify_cmd.verify)
cli.command("inspect")(inspect_cmd.inspect)
cli.command("serve")(serve_cmd.serve)
cli.command("worker")(worker_cmd.worker)
cli.command("info")(info_cmd.info)
cli.callback()(home_cmd.legacy_home_warning)  # before every command: data used from a legacy ./data is said


def main() -> None:
    cli()
