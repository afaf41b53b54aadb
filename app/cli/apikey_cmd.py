"""`originmark apikey`: API keys for the service — create (the key is printed once), list, revoke.

Works on the service's database (ORIGINMARK_DATABASE_URL, default ./data/originmark.db) and
brings its schema up to date first. Exit codes follow the CLI root: 0 success, 2 a wrong
command line, an unknown key id, or a database that cannot be used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from app.cli.render import make_console, safe_text
from app.errors import EXIT_USAGE_OR_IO, user_message
from app.settings import Settings
from app.store.errors import StoreError
from app.store.interface import ApiKey, Scope
from app.store.migrate import upgrade_database
from app.store.sql import SqlStore, open_store

apikey_app = typer.Typer(
    help="API keys for the HTTP service: create (shown once), list, revoke.",
    no_args_is_help=True,
)

_SCOPE_NAMES = ", ".join(scope.value for scope in Scope)
_SHOWN_ONCE_NOTICE = (
    "Store this key now: it is shown only this once. originmark keeps only a hash of it and "
    "cannot show it again; if it is lost, revoke it and create a new one. "
    "Clients send it as the header `Authorization: Bearer <key>`."
)


def _err() -> Console:
    return make_console(stderr=True)


def parse_scopes(text: str) -> frozenset[Scope]:
    """`sign,verify` -> {Scope.SIGN, Scope.VERIFY}; typer.BadParameter (exit 2) for anything else."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    if not names:
        raise typer.BadParameter(f"name at least one scope ({_SCOPE_NAMES})")
    unknown = sorted({name for name in names if name not in {scope.value for scope in Scope}})
    if unknown:
        listed = ", ".join(repr(name[:40]) for name in unknown)
        raise typer.BadParameter(f"unknown scope {listed}; the scopes are {_SCOPE_NAMES}")
    return frozenset(Scope(name) for name in names)


@contextmanager
def _store() -> Iterator[SqlStore]:
    """The migrated store of the configured database; configuration and database errors exit 2."""
    try:
        database_url = Settings().database_url
        upgrade_database(database_url)
        store = open_store(database_url, pool_size=1)
    except (ValidationError, StoreError, OSError) as error:
        _fail(user_message(error) if not isinstance(error, StoreError) else str(error))
    except Exception as error:  # Alembic and the drivers raise their own types for an unusable database
        cause = getattr(error, "orig", None) or error  # the driver's own words, without SQLAlchemy's wrapping
        _fail(f"the database cannot be used: {cause.__class__.__name__}: {cause}")
    try:
        yield store
    except StoreError as error:
        _fail(str(error))
    finally:
        store.close()


def _fail(message: str) -> None:
    _err().print(Text.assemble(("Error: ", "bold red"), safe_text(message, max_chars=2000)), soft_wrap=True)
    raise typer.Exit(EXIT_USAGE_OR_IO)


def _when(key_time) -> str:
    return f"{key_time:%Y-%m-%d %H:%M:%S} UTC"


def _scopes(key: ApiKey) -> str:
    return ",".join(sorted(scope.value for scope in key.scopes))


@apikey_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key (shown in lists).", show_default=False)],
    scopes: Annotated[
        frozenset[Scope],
        typer.Option(
            "--scopes",
            parser=parse_scopes,
            metavar="SCOPES",
            help=f"Comma-separated: {_SCOPE_NAMES}. sign: POST /v1/sign; verify: POST /v1/verify; "
            "read: stored verdicts and labels.",
            show_default=False,
        ),
    ],
) -> None:
    """Create an API key and print it (once: only its hash is stored)."""
    with _store() as store:
        try:
            key, token = store.create_key(name=name, scopes=scopes)
        except ValueError as error:
            _fail(str(error))
    out = make_console()
    out.print(
        Text.assemble(
            ("Created API key ", "bold"),
            (key.key_id, "bold"),
            " (",
            safe_text(key.name),
            f") with scopes {_scopes(key)}:",
        ),
        soft_wrap=True,
    )
    out.print(token, soft_wrap=True, markup=False, highlight=False)  # whole on one line, for copying
    out.print(Text(_SHOWN_ONCE_NOTICE, style="yellow"), soft_wrap=True)


@apikey_app.command("list")
def list_keys() -> None:
    """List the keys: id, name, scopes, when created and revoked (never the keys themselves)."""
    with _store() as store:
        keys = store.list_keys()
    out = make_console()
    if not keys:
        out.print("No API keys yet: create one with `originmark apikey create --name NAME --scopes SCOPES`.")
        return
    table = Table(box=None, padding=(0, 2), header_style="bold")
    for heading in ("key id", "name", "scopes", "created", "revoked"):
        table.add_column(heading, overflow="fold", no_wrap=heading != "name")
    for key in keys:
        table.add_row(
            key.key_id,
            safe_text(key.name),
            _scopes(key),
            _when(key.created_at),
            Text(_when(key.revoked_at), style="red") if key.revoked_at else Text("active", style="green"),
        )
    out.print(table)


@apikey_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id, as `apikey list` shows it.")]) -> None:
    """Revoke a key: every request with it is refused from now on (in every server process)."""
    with _store() as store:
        existing = next((key for key in store.list_keys() if key.key_id == key_id), None)
        if existing is None:
            _fail(f"no API key has the id {key_id!r:.40}; `originmark apikey list` shows them")
        key = existing if existing.revoked_at is not None else store.revoke(key_id)
    out = make_console()
    if existing.revoked_at is not None:
        out.print(Text.assemble("API key ", (key.key_id, "bold"), f" was already revoked at {_when(key.revoked_at)}."))
        return
    out.print(
        Text.assemble(
            "Revoked API key ", (key.key_id, "bold"), " (", safe_text(key.name), f") at {_when(key.revoked_at)}."
        )
    )
