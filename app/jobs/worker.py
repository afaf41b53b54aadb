"""`originmark worker`: procrastinate workers on the jobs queue, plus stalled-job recovery.

A worker process builds the same store, object stores and worker pools as the API (IsolatedVerifier
pool, trust configuration: verdicts carry the same trust fingerprint), then runs one
procrastinate worker with `concurrency` jobs at a time (sync tasks run in threads; each
verification runs in the verifier's own worker processes).

Recovery: every worker sends a heartbeat; every `jobs_stalled_check_seconds` each worker asks
procrastinate for jobs `doing` on a worker whose heartbeat is older than `jobs_stalled_seconds`
(it was killed, or lost its machine) and queues them again. The job is then run again from
the start: verifying is idempotent, and a job already `succeeded` is not run twice.

Metrics (optional, app/jobs/metrics.py): each task run, the stalled-job checks and the queue's
depth. Purge: every worker offers procrastinate the periodic purge of finished jobs
(app/jobs/purge.py); one worker runs it per tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import procrastinate

from app.jobs.deferral import QUEUE
from app.jobs.metrics import WorkerMetrics, read_queue_depths
from app.jobs.purge import register_periodic_purge
from app.jobs.queue import build_queue_app, libpq_conninfo
from app.jobs.runtime import JobRuntime
from app.settings import Settings

log = logging.getLogger("originmark.jobs")


def build_runtime(settings: Settings) -> JobRuntime:
    from app.service_setup import prepare_service
    from app.wiring import build_job_runtime, build_worker_pools, open_service_store

    prepare_service(settings)  # credentials and the database schema (idempotent)
    store = open_service_store(settings)
    try:
        worker_pools = build_worker_pools(settings)
    except BaseException:
        store.close()
        raise
    return build_job_runtime(settings, store=store, worker_pools=worker_pools)


async def requeue_stalled_jobs(app: procrastinate.App, settings: Settings) -> int:
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=settings.jobs_stalled_seconds)
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        count += 1
        log.warning("a stalled job was queued again", extra={"fields": {"queue_job_id": job.id}})
    return count


async def _recover_stalled_forever(app: procrastinate.App, settings: Settings, metrics: WorkerMetrics | None) -> None:
    while True:
        try:
            requeued = await requeue_stalled_jobs(app, settings)
            if metrics is not None:
                metrics.record_stalled_check(requeued)
        except Exception:  # a database hiccup must not stop the worker; tried again next round
            log.exception("checking for stalled jobs failed")
        await asyncio.sleep(settings.jobs_stalled_check_seconds)


async def run_worker(
    settings: Settings,
    runtime: JobRuntime,
    *,
    concurrency: int,
    wait: bool = True,
    install_signal_handlers: bool = True,
    metrics: WorkerMetrics | None = None,
) -> None:
    """Run until stopped (SIGINT/SIGTERM, handled by procrastinate: jobs in flight finish first).

    `wait=False`: return once the queue is empty (tests; a one-shot drain). Such a drain
    schedules no periodic purge: it would queue maintenance work for a worker that is leaving.
    `metrics`: counted into, and the queue's depth read on each scrape."""
    app = build_queue_app(settings, runtime=lambda: runtime, metrics=metrics)
    if wait:
        register_periodic_purge(app, settings)
    if metrics is not None:
        conninfo = libpq_conninfo(settings.database_url)
        metrics.watch_queue(lambda: read_queue_depths(conninfo))
    async with app.open_async():
        recovery = asyncio.create_task(_recover_stalled_forever(app, settings, metrics))
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                wait=wait,
                update_heartbeat_interval=settings.jobs_heartbeat_seconds,
                stalled_worker_timeout=settings.jobs_stalled_seconds,
                delete_jobs="never",
                install_signal_handlers=install_signal_handlers,
            )
        finally:
            recovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recovery
