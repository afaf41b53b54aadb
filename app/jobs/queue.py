"""The procrastinate app: its connection to PostgreSQL and the tasks, built from Settings.

The API defers jobs through the SQLAlchemy connection of its own transaction (procrastinate's
`configure(connection=...)` takes a psycopg connection: SQLAlchemy's driver connection), so the
`originmark_jobs` row and procrastinate's job commit or roll back together. Workers use
procrastinate's async psycopg pool.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import procrastinate

from app.jobs.deferral import QUEUE, RENDITION_TASK, SIGN_TASK, VERIFY_TASK, WEBHOOK_TASK
from app.settings import Settings
from app.store.database import parse_database_url

if TYPE_CHECKING:
    from app.jobs.metrics import WorkerMetrics
    from app.jobs.runtime import JobRuntime


def is_queue_database(database_url: str) -> bool:
    """Jobs need PostgreSQL (procrastinate's queue); SQLite has none."""
    return parse_database_url(database_url).get_backend_name() == "postgresql"


def libpq_conninfo(database_url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (query options such as `options=-csearch_path=...` kept)."""
    url = parse_database_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def retry_strategy(settings: Settings) -> procrastinate.RetryStrategy:
    # procrastinate counts retries after the first attempt; the wait grows by the same step each time.
    wait = int(settings.jobs_retry_wait_seconds)
    return procrastinate.RetryStrategy(max_attempts=settings.jobs_max_attempts - 1, wait=wait, linear_wait=wait)


def build_queue_app(
    settings: Settings, *, runtime: Callable[[], JobRuntime] | None = None, metrics: WorkerMetrics | None = None
) -> procrastinate.App:
    """With `runtime` (workers): an async-pool app that runs tasks; without (the API): a defer-only app.
    `metrics`: the worker's, counting each task run (app/jobs/metrics.py)."""
    conninfo = libpq_conninfo(settings.database_url)
    connector: procrastinate.BaseConnector
    if runtime is None:
        connector = procrastinate.SyncPsycopgConnector(conninfo=conninfo)
    else:
        connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
    app = procrastinate.App(connector=connector)

    def run_media_job(context: procrastinate.JobContext, job_id: str, *, kind: str) -> None:
        """A verify, sign or rendition job: its runner, counted in the worker's metrics (one rule for all)."""
        from app.jobs.metrics import observe_task_run
        from app.jobs.records import JobKind
        from app.jobs.tasks import runner_for

        if runtime is None:  # pragma: no cover - the API never runs tasks
            raise RuntimeError("this app only defers jobs")
        runner = runner_for(JobKind(kind))
        attempts = context.job.attempts
        observe_task_run(
            metrics,
            runtime(),
            kind=kind,
            previous_attempts=attempts,
            run=lambda: runner(runtime(), job_id, previous_attempts=attempts),
        )

    @app.task(name=VERIFY_TASK, queue=QUEUE, retry=retry_strategy(settings), pass_context=True)
    def verify(context: procrastinate.JobContext, job_id: str) -> None:
        run_media_job(context, job_id, kind="verify")

    @app.task(name=SIGN_TASK, queue=QUEUE, retry=retry_strategy(settings), pass_context=True)
    def sign(context: procrastinate.JobContext, job_id: str) -> None:
        run_media_job(context, job_id, kind="sign")

    @app.task(name=RENDITION_TASK, queue=QUEUE, retry=retry_strategy(settings), pass_context=True)
    def rendition(context: procrastinate.JobContext, job_id: str) -> None:
        run_media_job(context, job_id, kind="rendition")

    from app.jobs.webhooks import WebhookRetryStrategy

    @app.task(name=WEBHOOK_TASK, queue=QUEUE, retry=WebhookRetryStrategy(settings), pass_context=True)
    def webhook(context: procrastinate.JobContext, job_id: str, delivery_id: str) -> None:
        from app.jobs.webhooks import run_webhook_task

        if runtime is None:  # pragma: no cover - the API never runs tasks
            raise RuntimeError("this app only defers jobs")
        run_webhook_task(runtime(), job_id, delivery_id=delivery_id, attempt=context.job.attempts + 1)

    return app
