"""`originmark jobs`: operator maintenance of the jobs' tables.

- `purge-queue`: procrastinate's rows of finished jobs, now (workers do it every
  ORIGINMARK_JOBS_PURGE_CRON tick anyway; app/jobs/purge.py).
- `purge --older-than-days N`: originmark's own job rows (results, errors, idempotency keys)
  and old batches. Never scheduled: only this command, with an age the operator chose, deletes them.

Both work on the database of ORIGINMARK_DATABASE_URL (or --database-url), which must already be
at this version's schema: a purge never migrates. Exit codes: 0 done, 2 a wrong command line or a
database that cannot be used.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import ValidationError

from app.exit_codes import EXIT_USAGE_OR_IO, user_message
from app.settings import Settings

jobs_app = typer.Typer(help="The jobs' tables: purge finished jobs.", no_args_is_help=True)

_DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="The database [default: ORIGINMARK_DATABASE_URL or HOME/originmark.db].",
        show_default=False,
    ),
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE_OR_IO)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        _fail(user_message(error))


def _database_at_head(database_url: str) -> None:
    """Refuse a database that is missing, unreadable or not at this version's schema."""
    from app.store.database import parse_database_url
    from app.store.migrate import current_revision, head_revision

    try:
        url = parse_database_url(database_url)
        if url.get_backend_name() == "sqlite" and not Path(url.database or "").expanduser().is_file():
            _fail(f"there is no database at {url.database} (check ORIGINMARK_DATABASE_URL or --database-url)")
        revision = current_revision(database_url)
    except typer.Exit:
        raise
    except Exception as error:  # noqa: BLE001 - the drivers raise their own types for a database that cannot be opened
        cause = getattr(error, "orig", None) or error
        _fail(f"the database cannot be read: {cause.__class__.__name__}")
    if revision != head_revision():
        _fail(
            f"the database schema is at revision {revision}, this originmark uses {head_revision()}: "
            "upgrade it first (`originmark serve` or `originmark worker` does at start-up)"
        )


@jobs_app.command("purge-queue")
def purge_queue(database_url: _DatabaseOption = None) -> None:
    """Delete the queue's rows of finished jobs now (job results stay).

    The retention is the workers' own: ORIGINMARK_JOBS_PURGE_SUCCEEDED_AFTER_HOURS and
    ORIGINMARK_JOBS_PURGE_FAILED_AFTER_HOURS."""
    from app.jobs.purge import QueueRetention, purge_queue_now
    from app.jobs.queue import is_queue_database

    settings = _settings()
    url = database_url or settings.database_url
    if not is_queue_database(url):
        _fail("the queue is in PostgreSQL only: with SQLite there is no queue to purge")
    _database_at_head(url)
    retention = QueueRetention.from_settings(settings)
    try:
        purged = asyncio.run(purge_queue_now(url, retention))
    except Exception as error:  # noqa: BLE001 - told as a usage or I/O error, never a traceback
        _fail(f"the purge failed: {error.__class__.__name__}")
    typer.echo(
        f"Purged finished queue jobs (succeeded over {retention.succeeded_hours} h, failed over "
        f"{retention.failed_hours} h): procrastinate_jobs had {purged.rows_before} rows, now {purged.rows_after}."
    )


@jobs_app.command("purge")
def purge(
    older_than_days: Annotated[
        int,
        typer.Option(
            "--older-than-days",
            min=1,
            help="Delete job rows finished (succeeded or failed) more than this many days ago.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would go; delete nothing.")] = False,
    database_url: _DatabaseOption = None,
) -> None:
    """Delete old finished jobs' own rows (results, errors, idempotency keys) and old batches.

    A deleted job answers 404 at GET /v1/jobs/{id}, and submitting the same source again makes a
    new job. Queued and running jobs are never deleted, nor jobs listed by a batch that is newer or
    still running. Stored verdicts, labels and the audit log are not touched."""
    from app.jobs.purge import purge_job_records
    from app.store.sql import open_store

    url = database_url or _settings().database_url
    _database_at_head(url)
    store = open_store(url, pool_size=1)
    try:
        purged = purge_job_records(store.db_engine, older_than_days=older_than_days, dry_run=dry_run)
    except Exception as error:  # noqa: BLE001 - told as a usage or I/O error, never a traceback
        _fail(f"the purge failed: {error.__class__.__name__}")
    finally:
        store.close()
    verb = "Would delete" if purged.dry_run else "Deleted"
    typer.echo(
        f"{verb} {purged.jobs} job(s) and {purged.batches} batch(es) finished over {older_than_days} day(s) ago; "
        f"{purged.kept_in_batches} such job(s) kept for newer or unfinished batches."
    )
