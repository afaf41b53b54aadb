"""Alembic environment for the store: runs from `upgrade_database()` or the `alembic` command.

The database comes from, in order: a connection handed over in `config.attributes["connection"]`,
`config.attributes["database_url"]` (set by app/store/migrate.py), `sqlalchemy.url` in an ini
file, or the service's own setting (ORIGINMARK_DATABASE_URL).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text

from app.store.database import create_migration_db_engine
from app.store.migrate import include_name
from app.store.schema import metadata

# Any constant works; it only has to be the same for every originmark process on one database.
_PG_MIGRATION_LOCK = 0x6F726967696E6D6B


def _database_url() -> str:
    config = context.config
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.settings import Settings

    return Settings().database_url


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_name=include_name,  # procrastinate's tables are not ours to compare
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        transactional_ddl=True,  # both dialects roll DDL back (SQLite: see create_migration_db_engine)
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Server workers starting together upgrade one after the other, not side by side.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        context.run_migrations()


def run_migrations_online() -> None:
    handed_over = context.config.attributes.get("connection")
    if handed_over is not None:
        _migrate(handed_over)
        return
    db_engine = create_migration_db_engine(_database_url())
    try:
        with db_engine.connect() as connection:
            _migrate(connection)
    finally:
        db_engine.dispose()


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: the SQL for a DBA to review and run."""
    context.configure(url=_database_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
