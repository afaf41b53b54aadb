"""Purging finished jobs: procrastinate's rows by the workers' periodic task (real workers on the
real PostgreSQL queue) or `originmark jobs purge-queue`; originmark's own job rows only by the
explicit `originmark jobs purge --older-than-days N` (PostgreSQL and SQLite)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
import uuid

import procrastinate
import psycopg
import pytest
import sqlalchemy as sa
from croniter import croniter
from pydantic import ValidationError
from typer.testing import CliRunner

from app.cli import cli
from app.jobs.purge import PURGE_TASK, purge_job_records, register_periodic_purge
from app.jobs.queue import libpq_conninfo
from app.jobs.runtime import JobRuntime
from app.jobs.schema import batch_jobs, batches, jobs
from app.jobs.worker import run_worker
from app.settings import DEFAULT_JOBS_PURGE_CRON, Settings
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from app.wiring import build_job_runtime, build_object_stores
from tests.support import libpq_url, one_row

# Not a queue the workers take jobs from (nor check for stalled ones): what is inserted here stays
# as inserted unless the purge deletes it. The purge covers every queue.
FIXTURE_QUEUE = "purge-fixtures"


def _queue_job(connection: psycopg.Connection, *, status: str, hours_ago: float) -> int:
    """A job that went through procrastinate's states (its triggers log an event for each), all
    of its events then dated `hours_ago`: a job is as old as its newest event."""
    (job_id,) = one_row(
        connection,
        "INSERT INTO procrastinate_jobs (queue_name, task_name, args) VALUES (%s, 'originmark.verify', '{}') RETURNING id",
        (FIXTURE_QUEUE,),
    )
    if status != "todo":
        connection.execute("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", (job_id,))
    if status not in ("todo", "doing"):
        connection.execute("UPDATE procrastinate_jobs SET status = %s WHERE id = %s", (status, job_id))
    connection.execute(
        "UPDATE procrastinate_events SET at = now() - make_interval(secs => %s) WHERE job_id = %s",
        (hours_ago * 3600, job_id),
    )
    return job_id


def _fixture_jobs(pg_url: str) -> dict[str, int]:
    """With the default retention (succeeded 24 h, failed 168 h)."""
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as connection:
        return {
            "succeeded_old": _queue_job(connection, status="succeeded", hours_ago=30),
            "succeeded_recent": _queue_job(connection, status="succeeded", hours_ago=1),
            "failed_kept": _queue_job(connection, status="failed", hours_ago=30),
            "failed_old": _queue_job(connection, status="failed", hours_ago=200),
            "cancelled_old": _queue_job(connection, status="cancelled", hours_ago=200),
            "todo_old": _queue_job(connection, status="todo", hours_ago=500),
            "doing_old": _queue_job(connection, status="doing", hours_ago=500),
        }


PURGED = {"succeeded_old", "failed_old", "cancelled_old"}


def _fixture_ids_left(pg_url: str) -> set[int]:
    with psycopg.connect(libpq_url(pg_url)) as connection:
        return {
            row[0]
            for row in connection.execute("SELECT id FROM procrastinate_jobs WHERE queue_name = %s", (FIXTURE_QUEUE,))
        }


def _events_of(pg_url: str, job_ids: set[int]) -> int:
    with psycopg.connect(libpq_url(pg_url)) as connection:
        return one_row(
            connection, "SELECT count(*) FROM procrastinate_events WHERE job_id = ANY(%s)", (list(job_ids),)
        )[0]


def _purge_jobs(pg_url: str) -> list[tuple[str, int]]:
    """(status, tick) of every purge job."""
    with psycopg.connect(libpq_url(pg_url)) as connection:
        rows = connection.execute(
            "SELECT status::text, (args->>'timestamp')::bigint FROM procrastinate_jobs WHERE task_name = %s ORDER BY id",
            (PURGE_TASK,),
        ).fetchall()
    return [(status, tick) for status, tick in rows]


def _insert_job_row(connection: sa.Connection, *, status: str, days_ago: float, queue_job_id: int | None = None) -> str:
    job_id = uuid.uuid4().hex
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days_ago)
    if connection.dialect.name == "sqlite":
        when = when.replace(tzinfo=None)
    connection.execute(
        jobs.insert().values(
            id=job_id,
            kind="verify",
            idempotency_key=job_id * 2,
            source=f"s3://b/{job_id}",
            status=status,
            attempts=1,
            queue_job_id=queue_job_id,
            created_at=when,
            updated_at=when,
        )
    )
    return job_id


def _insert_batch(connection: sa.Connection, job_ids: list[str], *, days_ago: float) -> str:
    batch_id = uuid.uuid4().hex
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=days_ago)
    if connection.dialect.name == "sqlite":
        when = when.replace(tzinfo=None)
    connection.execute(batches.insert().values(id=batch_id, prefix="s3://b/", created_at=when))
    for position, job_id in enumerate(job_ids):
        connection.execute(batch_jobs.insert().values(batch_id=batch_id, position=position, job_id=job_id))
    return batch_id


def _runtime(settings, store, jobs_worker_pools) -> JobRuntime:
    return build_job_runtime(
        settings, store=store, objects=build_object_stores(settings), worker_pools=jobs_worker_pools
    )


async def _until(condition, *, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def _workers(settings, runtime: JobRuntime, count: int):
    """`count` long-running workers (wait=True, as `originmark worker` runs them) in this loop."""
    running = [
        asyncio.create_task(run_worker(settings, runtime, concurrency=1, wait=True, install_signal_handlers=False))
        for _ in range(count)
    ]
    try:
        yield
    finally:
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def test_a_worker_purges_old_finished_jobs_on_schedule(settings, store, pg_url, jobs_worker_pools):
    ids = _fixture_jobs(pg_url)
    with store.db_engine.begin() as connection:
        result_row = _insert_job_row(connection, status="succeeded", days_ago=2, queue_job_id=ids["succeeded_old"])
    assert _events_of(pg_url, {ids["succeeded_old"]}) == 3  # deferred, started, succeeded
    # Every minute: the worker's periodic deferrer queues the last tick's purge as it starts.
    every_minute = settings.model_copy(update={"jobs_purge_cron": "* * * * *"})

    async def scenario() -> None:
        async with _workers(every_minute, _runtime(every_minute, store, jobs_worker_pools), 1):
            await _until(lambda: "succeeded" in {s for s, _ in _purge_jobs(pg_url)}, seconds=15, what="a purge job")

    asyncio.run(scenario())
    assert _fixture_ids_left(pg_url) == {job_id for name, job_id in ids.items() if name not in PURGED}
    assert _events_of(pg_url, {ids[name] for name in PURGED}) == 0  # by procrastinate's cascade
    with store.db_engine.connect() as connection:  # the API's result of that job stays
        assert connection.execute(sa.select(jobs.c.status).where(jobs.c.id == result_row)).scalar_one() == "succeeded"


def test_many_workers_run_the_purge_once_per_tick(settings, store, pg_url, jobs_worker_pools, caplog):
    every_minute = settings.model_copy(update={"jobs_purge_cron": "* * * * *"})
    caplog.set_level(logging.DEBUG, logger="procrastinate.periodic")

    def offers() -> list[str]:
        return [getattr(r, "action", "") for r in caplog.records if getattr(r, "task_name", None) == PURGE_TASK]

    def every_worker_offered_and_it_ran() -> bool:
        actions = offers()
        offered = actions.count("periodic_task_deferred") + actions.count("periodic_task_already_deferred")
        return offered >= 3 and "succeeded" in {s for s, _ in _purge_jobs(pg_url)}

    async def scenario() -> None:
        async with _workers(every_minute, _runtime(every_minute, store, jobs_worker_pools), 3):
            await _until(every_worker_offered_and_it_ran, seconds=15, what="three offers and a purge")

    asyncio.run(scenario())
    ticks = [tick for _, tick in _purge_jobs(pg_url)]
    assert ticks and len(ticks) == len(set(ticks)), ticks  # one purge job per tick
    assert offers().count("periodic_task_already_deferred") >= 1


def test_no_purge_is_scheduled_when_it_is_off(settings):
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(settings.database_url)))
    register_periodic_purge(app, settings.model_copy(update={"jobs_purge": False}))
    assert app.periodic_registry.periodic_tasks == {}
    register_periodic_purge(app, settings)
    assert [task.cron for task in app.periodic_registry.periodic_tasks.values()] == ["7 * * * *"]


def test_purge_queue_command_purges_now(settings, pg_url):
    ids = _fixture_jobs(pg_url)
    answer = CliRunner().invoke(cli, ["jobs", "purge-queue", "--database-url", pg_url], catch_exceptions=False)
    assert answer.exit_code == 0, answer.output
    assert "had 7 rows, now 4" in answer.output
    assert _fixture_ids_left(pg_url) == {job_id for name, job_id in ids.items() if name not in PURGED}


def test_purge_queue_command_refuses_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/o.db"
    upgrade_database(url)
    answer = CliRunner().invoke(cli, ["jobs", "purge-queue", "--database-url", url])
    assert answer.exit_code == 2 and "PostgreSQL only" in answer.output


def _records_scenario(db_engine: sa.Engine) -> dict[str, str]:
    with db_engine.begin() as connection:
        rows = {
            "succeeded_old": _insert_job_row(connection, status="succeeded", days_ago=40),
            "failed_old": _insert_job_row(connection, status="failed", days_ago=40),
            "succeeded_recent": _insert_job_row(connection, status="succeeded", days_ago=3),
            "queued_old": _insert_job_row(connection, status="queued", days_ago=40),
            "running_old": _insert_job_row(connection, status="running", days_ago=40),
            "in_old_batch": _insert_job_row(connection, status="succeeded", days_ago=40),
            "in_recent_batch": _insert_job_row(connection, status="succeeded", days_ago=40),
            "old_in_running_batch": _insert_job_row(connection, status="failed", days_ago=40),
        }
        rows["old_batch"] = _insert_batch(connection, [rows["in_old_batch"]], days_ago=40)
        rows["recent_batch"] = _insert_batch(connection, [rows["in_recent_batch"]], days_ago=3)
        rows["running_batch"] = _insert_batch(
            connection, [rows["old_in_running_batch"], rows["running_old"]], days_ago=40
        )
    return rows


def _left(db_engine: sa.Engine) -> tuple[set[str], set[str]]:
    with db_engine.connect() as connection:
        return set(connection.execute(sa.select(jobs.c.id)).scalars()), set(
            connection.execute(sa.select(batches.c.id)).scalars()
        )


def _check_records_purge(database_url: str) -> None:
    with open_store(database_url) as opened:
        rows = _records_scenario(opened.db_engine)
        before = _left(opened.db_engine)
        dry = CliRunner().invoke(
            cli, ["jobs", "purge", "--older-than-days", "30", "--dry-run", "--database-url", database_url]
        )
        assert dry.exit_code == 0, dry.output
        assert "Would delete 3 job(s) and 1 batch(es)" in dry.output and "2 such job(s) kept" in dry.output
        assert _left(opened.db_engine) == before
        done = CliRunner().invoke(cli, ["jobs", "purge", "--older-than-days", "30", "--database-url", database_url])
        assert done.exit_code == 0, done.output
        assert "Deleted 3 job(s) and 1 batch(es)" in done.output
        job_ids, batch_ids = _left(opened.db_engine)
        gone = {"succeeded_old", "failed_old", "in_old_batch", "old_batch"}
        assert job_ids | batch_ids == {value for name, value in rows.items() if name not in gone}
        # Nothing older than 30 days is left that may go: a second run deletes nothing.
        assert purge_job_records(opened.db_engine, older_than_days=30).jobs == 0


def test_purge_command_deletes_old_finished_job_rows_on_postgresql(pg_url):
    _check_records_purge(pg_url)


def test_purge_command_deletes_old_finished_job_rows_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path}/o.db"
    upgrade_database(url)
    _check_records_purge(url)


def test_purge_command_refuses_misuse(tmp_path, pg_url):
    runner = CliRunner()
    no_age = runner.invoke(cli, ["jobs", "purge", "--database-url", pg_url])
    assert no_age.exit_code == 2 and "--older-than-days" in no_age.output
    zero = runner.invoke(cli, ["jobs", "purge", "--older-than-days", "0", "--database-url", pg_url])
    assert zero.exit_code == 2
    missing = runner.invoke(
        cli, ["jobs", "purge", "--older-than-days", "9", "--database-url", f"sqlite:///{tmp_path}/none.db"]
    )
    assert missing.exit_code == 2 and "there is no database" in missing.output
    assert not (tmp_path / "none.db").exists()
    empty = f"sqlite:///{tmp_path}/empty.db"
    sa.create_engine(empty).connect().close()  # a file, never migrated
    unmigrated = runner.invoke(cli, ["jobs", "purge", "--older-than-days", "9", "--database-url", empty])
    assert unmigrated.exit_code == 2 and "upgrade it first" in unmigrated.output


def test_purge_settings_are_checked():
    assert croniter.is_valid(DEFAULT_JOBS_PURGE_CRON)  # the one expression Settings takes without asking croniter
    with pytest.raises(ValidationError, match="ORIGINMARK_JOBS_PURGE_CRON"):
        Settings(jobs_purge_cron="every hour")
    with pytest.raises(ValidationError, match="FAILED_AFTER_HOURS"):
        Settings(jobs_purge_succeeded_after_hours=48, jobs_purge_failed_after_hours=24)
    assert Settings(jobs_purge=False, jobs_purge_cron="whatever").jobs_purge is False
