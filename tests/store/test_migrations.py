"""Migrations: an empty database reaches head, matches app/store/schema.py, and can go back down."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.store.engine import parse_database_url
from app.store.migrate import alembic_config, current_revision, head_revision, include_name, upgrade_database
from app.store.schema import metadata

TABLES = {"verdicts", "media", "api_keys", "audit_log", "tenants", "tenant_content", "originmark_jobs", "originmark_batches", "originmark_batch_jobs"}


def _tables(database_url: str) -> set[str]:
    engine = create_engine(parse_database_url(database_url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_an_empty_database_is_brought_to_head_and_a_second_upgrade_changes_nothing(database_url):
    assert current_revision(database_url) is None
    assert _tables(database_url) & TABLES == set()

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision() == "0007_tenants"
    assert _tables(database_url) >= TABLES

    upgrade_database(database_url)  # what every start of the service and every `apikey` command does
    assert current_revision(database_url) == head_revision()


def test_the_migrated_schema_is_exactly_the_schema_the_code_uses(database_url):
    upgrade_database(database_url)
    engine = create_engine(parse_database_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(database_url):
    upgrade_database(database_url)
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    assert _tables(database_url) & TABLES == set()
    upgrade_database(database_url)
    assert _tables(database_url) >= TABLES


def test_processes_upgrading_at_once_all_succeed(database_url, tmp_path):
    """Several server workers starting together: the upgrade runs once, the others wait and find head."""
    import subprocess
    import sys
    import time

    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from app.store.migrate import upgrade_database\n"
        "pathlib.Path(sys.argv[2]).touch()\n"  # imported and ready
        "while not pathlib.Path(sys.argv[3]).exists(): time.sleep(0.001)\n"
        "upgrade_database(sys.argv[1])\n"
    )
    ready = [tmp_path / f"ready-{n}" for n in range(4)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, str(flag), str(go)], stderr=subprocess.PIPE, text=True
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all at once
    failures = [worker.stderr.read() for worker in workers if worker.wait(timeout=120) != 0]
    assert failures == []
    assert current_revision(database_url) == head_revision()
