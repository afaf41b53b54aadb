"""How CLI commands open the service's database: one rule for all of them.

- A command that only reads (or changes rows that must already exist) never creates a database:
  with none at the configured place it says where it looked and exits 2.
- A command that creates data (`apikey create`, `tenants create`) creates the database when there
  is none and says where on stderr ("created database at ..."), so a key never lands in a
  database the server does not use without the user seeing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.text import Text

from app.cli.render import make_console, safe_text
from app.exit_codes import EXIT_USAGE_OR_IO, user_message
from app.settings import Settings
from app.store.database_url import missing_sqlite_file, shown_database_url
from app.store.errors import StoreError
from app.store.migrate import current_revision, head_revision, upgrade_database
from app.store.sql import SqlStore, open_store


def fail(message: str) -> NoReturn:
    make_console(stderr=True).print(
        Text.assemble(("Error: ", "bold red"), safe_text(message, max_chars=2000)), soft_wrap=True
    )
    raise typer.Exit(EXIT_USAGE_OR_IO)


def note(message: str) -> None:
    """One line for the user on stderr (stdout stays the command's output)."""
    make_console(stderr=True).print(Text(message, style="yellow"), soft_wrap=True, markup=False, highlight=False)


def cli_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        fail(user_message(error))


def database_url_or_setting(database_url: str | None) -> str:
    return database_url or cli_settings().database_url


def no_database_message(database_url: str, *, explicit: bool) -> str:
    where = "--database-url" if explicit else "ORIGINMARK_DATABASE_URL, or ORIGINMARK_HOME (see `originmark info`)"
    return (
        f"there is no originmark database at {shown_database_url(database_url)}; nothing was created. "
        f"Check {where}; `originmark apikey create` or `originmark serve` creates one."
    )


def announce_creation(database_url: str) -> None:
    """Say where a database was just created (one line on stderr)."""
    note(f"created database at {shown_database_url(database_url)}")


@contextmanager
def open_database(*, create: bool, migrate: bool = True, database_url: str | None = None) -> Iterator[SqlStore]:
    """The store of the configured (or given) database; every problem is a message and exit 2.

    `create`: make the database when there is none (and say where). `migrate`: bring an existing
    one to this version's schema; otherwise refuse a schema that is not this version's.
    """
    url = database_url_or_setting(database_url)
    try:
        missing = missing_sqlite_file(url) is not None
        if missing and not create:
            fail(no_database_message(url, explicit=database_url is not None))
        revision = None if missing else current_revision(url)
        if revision is None and not create:
            fail(no_database_message(url, explicit=database_url is not None))
        if migrate or revision is None:
            upgrade_database(url)
            if revision is None:  # a new file, or a new schema in a server database
                announce_creation(url)
        elif revision != head_revision():
            fail(
                f"the database schema is at revision {revision}, this originmark reads {head_revision()}: "
                "upgrade it first (`originmark serve` does at start-up), or use the originmark version that wrote it"
            )
        store = open_store(url, pool_size=1)
    except typer.Exit:
        raise
    except (StoreError, OSError) as error:
        fail(str(error) if isinstance(error, StoreError) else user_message(error))
    except Exception as error:  # noqa: BLE001 - Alembic and the drivers raise their own types for an unusable database
        cause = getattr(error, "orig", None) or error  # the driver's own words, without SQLAlchemy's wrapping
        fail(f"the database cannot be used: {cause.__class__.__name__}: {cause}")
    try:
        yield store
    except StoreError as error:
        fail(str(error))
    finally:
        store.close()
