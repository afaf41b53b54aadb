"""Schema migrations, run from code: works from a source tree and from an installed package.

The Alembic scripts ship inside this package (app/store/migrations, listed in pyproject's
package-data), and the Alembic configuration is built here rather than read from an ini file.
`alembic.ini` at the project root is only for developers writing new revisions.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.store.database import create_migration_db_engine, parse_database_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url is not None:
        # Passed as an attribute, not an ini option: configparser would read '%' in a password.
        config.attributes["database_url"] = database_url
    return config


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's filter for comparing the database with our metadata: procrastinate's tables
    (created by migration 0005 from procrastinate's own SQL) are procrastinate's, not described here."""
    return not (type_ == "table" and name is not None and name.startswith("procrastinate_"))


def upgrade_database(database_url: str) -> None:
    """Bring the database to the newest schema (`alembic upgrade head`); nothing to do when it is there."""
    parse_database_url(database_url)  # a bad URL fails here with the store's own message
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def current_revision(database_url: str) -> str | None:
    """The database's schema revision (None: never migrated)."""
    db_engine = create_migration_db_engine(database_url)
    try:
        with db_engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        db_engine.dispose()
