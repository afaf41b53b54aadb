"""The queue's names, and deferring a task by name: no task code imported here.

So that code which queues a job (the routes, the webhook hook that runs as a job becomes final)
does not import the tasks, which import that code (app/jobs/queue.py registers them).
"""

from __future__ import annotations

import functools

import procrastinate
from sqlalchemy import Connection

QUEUE = "originmark"
VERIFY_TASK = "originmark.verify"
SIGN_TASK = "originmark.sign"
RENDITION_TASK = "originmark.rendition"
WEBHOOK_TASK = "originmark.webhook"  # a final job's webhook delivery (app/jobs/webhooks.py)


def defer_verify(app: procrastinate.App, connection: Connection, *, job_id: str, lock: str) -> int:
    """Queue the verify task for `job_id` inside `connection`'s transaction; the queue's job id."""
    return defer_task(app, connection, VERIFY_TASK, job_id=job_id, lock=lock)


def defer_task(app: procrastinate.App, connection: Connection, task_name: str, *, job_id: str, lock: str) -> int:
    psycopg_connection = connection.connection.driver_connection
    task = app.tasks[task_name]
    # `lock`: two deliveries of the same job never run at once.
    return task.configure(lock=lock, connection=psycopg_connection).defer(job_id=job_id)


def defer_webhook(connection: Connection, *, job_id: str, delivery_id: str) -> int:
    """Queue `job_id`'s webhook delivery inside `connection`'s transaction (the one making the job
    final, from a worker): by name, on a defer-only app (the row is written through `connection`)."""
    psycopg_connection = connection.connection.driver_connection
    deferrer = _deferring_app().configure_task(
        WEBHOOK_TASK, queue=QUEUE, lock=f"webhook-{job_id}", connection=psycopg_connection
    )
    return deferrer.defer(job_id=job_id, delivery_id=delivery_id)


@functools.cache
def _deferring_app() -> procrastinate.App:
    # Never opened: every defer passes its own connection.
    return procrastinate.App(connector=procrastinate.SyncPsycopgConnector())
