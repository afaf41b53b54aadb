"""Migration 0005_jobs: the jobs' tables (and on PostgreSQL procrastinate's queue) come from Alembic."""

from __future__ import annotations

import importlib
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from app.store.database import parse_database_url
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade_database

JOB_TABLES = {"originmark_jobs", "originmark_batches", "originmark_batch_jobs"}
migration = importlib.import_module("app.store.migrations.versions.0005_jobs")


def _db_engine(database_url: str) -> sa.Engine:
    return sa.create_engine(parse_database_url(database_url))


def _tables(database_url: str) -> set[str]:
    db_engine = _db_engine(database_url)
    try:
        return set(sa.inspect(db_engine).get_table_names())
    finally:
        db_engine.dispose()


def test_the_jobs_tables_come_with_the_migrations_and_go_with_a_downgrade(database_url):
    upgrade_database(database_url)
    tables = _tables(database_url)
    assert JOB_TABLES <= tables
    is_postgres = database_url.startswith("postgresql")
    assert ("procrastinate_jobs" in tables) is is_postgres

    command.downgrade(alembic_config(database_url), "0004_signing_policy")
    tables = _tables(database_url)
    assert not JOB_TABLES & tables
    assert not {name for name in tables if name.startswith("procrastinate_")}
    upgrade_database(database_url)
    assert JOB_TABLES <= _tables(database_url)


def test_procrastinate_can_queue_and_fetch_on_the_migrated_schema(postgres_database_url):
    """The frozen schema is the one the installed procrastinate works with: defer, then fetch."""
    import asyncio

    import procrastinate

    from app.jobs.queue import libpq_conninfo

    upgrade_database(postgres_database_url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(postgres_database_url)))

    @app.task(name="probe", queue="probe")
    def probe(n: int) -> None:
        return None

    async def run() -> tuple[int, str | None]:
        async with app.open_async():
            job_id = await probe.defer_async(n=1)
            await app.run_worker_async(queues=["probe"], wait=False, install_signal_handlers=False)
            jobs = list(await app.job_manager.list_jobs_async(id=job_id))
            return job_id, jobs[0].status

    job_id, status = asyncio.run(run())
    assert job_id > 0 and status == "succeeded"


def test_a_database_whose_job_tables_were_made_on_first_use_is_upgraded_in_place(postgres_database_url):
    """Before 0005 the job tables were created on first use: their rows survive and gain the new columns."""
    command.upgrade(alembic_config(postgres_database_url), "0004_signing_policy")
    db_engine = _db_engine(postgres_database_url)
    try:
        with db_engine.begin() as connection:
            # What app/jobs/schema.py made on first use before this revision (its exact DDL).
            psycopg_connection = connection.connection.driver_connection
            assert psycopg_connection is not None  # a connection checked out of the pool is open
            psycopg_connection.execute(migration.PROCRASTINATE_SCHEMA_FILE.read_text())
            connection.exec_driver_sql(
                "CREATE TABLE originmark_jobs (id VARCHAR(32) PRIMARY KEY, kind VARCHAR(16) NOT NULL, "
                "idempotency_key VARCHAR(64) NOT NULL UNIQUE, source TEXT NOT NULL, media_id TEXT, destination TEXT, "
                "params TEXT, key_id TEXT, status VARCHAR(16) NOT NULL, attempts INTEGER DEFAULT '0' NOT NULL, "
                "queue_job_id BIGINT, sha256 VARCHAR(64), error_code TEXT, error_message TEXT, "
                "created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL, "
                "updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL)"
            )
            connection.exec_driver_sql(
                "INSERT INTO originmark_jobs (id, kind, idempotency_key, source, status) "
                "VALUES ('a' || repeat('0', 31), 'verify', repeat('b', 64), 's3://b/k', 'succeeded')"
            )
            connection.exec_driver_sql(
                "CREATE TABLE originmark_batches (id VARCHAR(32) PRIMARY KEY, prefix TEXT NOT NULL, "
                "created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL)"
            )

        upgrade_database(postgres_database_url)
        assert current_revision(postgres_database_url) == head_revision()
        with db_engine.connect() as connection:
            columns = {column["name"] for column in sa.inspect(connection).get_columns("originmark_jobs")}
            assert {"webhook_url", "signed_output"} <= columns
            assert connection.exec_driver_sql("SELECT source FROM originmark_jobs").scalar_one() == "s3://b/k"
            assert "originmark_batch_jobs" in sa.inspect(connection).get_table_names()
    finally:
        db_engine.dispose()


def test_the_frozen_procrastinate_schema_matches_the_installed_procrastinate():
    """Upgrading procrastinate to a release with new SQL migrations needs a new revision applying them."""
    installed = resources.files("procrastinate.sql")
    newest = max(
        Path(entry.name).stem for entry in installed.joinpath("migrations").iterdir() if entry.name.endswith(".sql")
    )
    assert newest == migration.PROCRASTINATE_SCHEMA_AT, (
        f"procrastinate now has SQL migrations up to {newest}: add an Alembic revision that applies the ones after "
        f"{migration.PROCRASTINATE_SCHEMA_AT}"
    )
    frozen = migration.PROCRASTINATE_SCHEMA_FILE.read_text().split("\n", 4)[4]
    assert frozen == installed.joinpath("schema.sql").read_text()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_gets_no_queue_tables(database_url):
    upgrade_database(database_url)
    assert not {name for name in _tables(database_url) if name.startswith("procrastinate_")}
