"""Deleting finished jobs from procrastinate's tables (procrastinate_jobs, and their
procrastinate_events by cascade), which otherwise grow by a row per job and several per attempt.

Workers run the purge as a procrastinate periodic task: every worker's periodic deferrer offers
the job for each tick of `jobs_purge_cron`, and the database takes one per (task, tick)
(procrastinate_periodic_defers' unique constraint), so it runs once per tick however many
workers there are; a tick more than 10 minutes old when no worker was up is skipped. The work
itself is procrastinate's (builtin_tasks.remove_old_jobs is a one-line wrapper of the
JobManager.delete_old_jobs called here, which takes no job context, so the periodic task and
`originmark jobs purge-queue` share it): a job is old when its last event is; once for
succeeded jobs, once (with a longer retention) for failed, cancelled and aborted ones.

Only queue bookkeeping goes: a job's result, error and idempotency key stay in originmark_jobs.
Deleting those is a separate, explicit operator command (`originmark jobs purge --older-than-days
N`, `purge_job_records` below), never scheduled: a deleted job answers 404 on GET /v1/jobs/{id},
and submitting the same source again makes a new job (its idempotency key is gone).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import procrastinate
import sqlalchemy as sa
from procrastinate import manager
from sqlalchemy import Engine

from app.jobs.deferral import QUEUE
from app.jobs.records import JobStatus
from app.jobs.schema import batch_jobs, batches, jobs
from app.settings import Settings

log = logging.getLogger("originmark.jobs")

PURGE_TASK = "originmark.purge_queue"
PURGE_PERIODIC_ID = "originmark-purge"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRetention:
    succeeded_hours: int
    failed_hours: int  # failed, cancelled and aborted jobs

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueRetention:
        return cls(
            succeeded_hours=settings.jobs_purge_succeeded_after_hours,
            failed_hours=settings.jobs_purge_failed_after_hours,
        )


async def purge_queue(job_manager: manager.JobManager, retention: QueueRetention) -> None:
    """Every queue: procrastinate's tables here are originmark's own (its migration made them)."""
    await job_manager.delete_old_jobs(nb_hours=retention.succeeded_hours)
    await job_manager.delete_old_jobs(
        nb_hours=retention.failed_hours, include_failed=True, include_cancelled=True, include_aborted=True
    )


def register_periodic_purge(app: procrastinate.App, settings: Settings) -> None:
    """The periodic purge task on a worker's app (nothing when ORIGINMARK_JOBS_PURGE is off)."""
    if not settings.jobs_purge:
        return
    retention = QueueRetention.from_settings(settings)

    # `lock`: a purge that outlasts its period never runs beside the next one.
    @app.periodic(cron=settings.jobs_purge_cron, periodic_id=PURGE_PERIODIC_ID)
    @app.task(name=PURGE_TASK, queue=QUEUE, lock=PURGE_TASK, pass_context=True)
    async def purge(context: procrastinate.JobContext, timestamp: int) -> None:
        await purge_queue(context.app.job_manager, retention)
        log.info("finished jobs purged from the queue", extra={"fields": {"tick": timestamp}})


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordsPurged:
    jobs: int
    batches: int
    kept_in_batches: int  # old finished jobs kept: a batch that is not old and finished as a whole lists them
    dry_run: bool


def purge_job_records(db_engine: Engine, *, older_than_days: int, dry_run: bool = False) -> RecordsPurged:
    """Delete originmark_jobs rows finished (succeeded or failed) more than `older_than_days` ago,
    and the batches made before then whose jobs are all such; queued and running jobs are never
    touched. One transaction; `dry_run` counts and rolls back. PostgreSQL or SQLite (the embedded
    jobs keep the same rows)."""
    if older_than_days < 1:
        raise ValueError("older_than_days must be at least 1")
    cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=older_than_days)
    if db_engine.dialect.name == "sqlite":
        # SQLite keeps these columns as UTC text without an offset (CURRENT_TIMESTAMP): compare alike.
        cutoff = cutoff.replace(tzinfo=None)
    old_finished = sa.and_(
        jobs.c.status.in_([JobStatus.SUCCEEDED.value, JobStatus.FAILED.value]), jobs.c.updated_at < cutoff
    )
    batch_has_live_job = (
        sa.select(batch_jobs.c.batch_id)
        .join(jobs, jobs.c.id == batch_jobs.c.job_id)
        .where(batch_jobs.c.batch_id == batches.c.id, sa.not_(old_finished))
        .correlate(batches)  # only batches: inside DELETE FROM batch_jobs too
        .exists()
    )
    old_batches = sa.select(batches.c.id).where(batches.c.created_at < cutoff, sa.not_(batch_has_live_job))
    connection = db_engine.connect()
    try:
        with connection.begin() as transaction:
            # Subqueries, not id lists: any number of rows in one statement each.
            connection.execute(batch_jobs.delete().where(batch_jobs.c.batch_id.in_(old_batches.scalar_subquery())))
            emptied = sa.select(batch_jobs.c.batch_id).where(batch_jobs.c.batch_id == batches.c.id).exists()
            batches_deleted = connection.execute(
                batches.delete().where(batches.c.created_at < cutoff, sa.not_(emptied))
            ).rowcount
            listed = sa.select(batch_jobs.c.job_id)
            kept = connection.execute(
                sa.select(sa.func.count()).select_from(jobs).where(old_finished, jobs.c.id.in_(listed))
            ).scalar_one()
            deleted = connection.execute(jobs.delete().where(old_finished, jobs.c.id.not_in(listed))).rowcount
            if dry_run:
                transaction.rollback()
    finally:
        connection.close()
    return RecordsPurged(jobs=deleted, batches=batches_deleted, kept_in_batches=kept, dry_run=dry_run)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuePurged:
    rows_before: int  # procrastinate_jobs rows, every status (workers may add or finish jobs meanwhile)
    rows_after: int


async def purge_queue_now(database_url: str, retention: QueueRetention) -> QueuePurged:
    """The periodic purge, once, now, outside any worker (`originmark jobs purge-queue`)."""
    from app.jobs.queue import libpq_conninfo

    connector = procrastinate.PsycopgConnector(conninfo=libpq_conninfo(database_url), min_size=1, max_size=1)
    app = procrastinate.App(connector=connector)
    count = "SELECT count(*) AS rows FROM procrastinate_jobs"
    async with app.open_async():
        before = (await app.connector.execute_query_one_async(count))["rows"]
        await purge_queue(app.job_manager, retention)
        after = (await app.connector.execute_query_one_async(count))["rows"]
    return QueuePurged(rows_before=before, rows_after=after)
