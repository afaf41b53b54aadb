"""The embedded default: with SQLite there is no queue, so the API process runs jobs itself.

Same tasks, same `originmark_jobs` rows, same statuses and retries (jobs_max_attempts, the wait
growing by jobs_retry_wait_seconds each time) as with procrastinate; the difference is where
they run: a small thread pool in the server process (the verifications themselves run in the
verifier's worker processes, as for POST /v1/verify). A job is handed to the pool after its
row commits. Jobs left `queued` or `running` by a server that stopped are run again when the
next server process sets the pool up (on its first job request): at-least-once, like a worker.

For one machine only: with several server processes on one SQLite file, each runs the jobs it
was given. Scale out with PostgreSQL and `originmark worker`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa

from app.jobs.records import JobKind, JobStatus
from app.jobs.runtime import JobRuntime
from app.jobs.schema import jobs
from app.jobs.tasks import runner_for
from app.jobs.webhooks import EmbeddedDeliveries

log = logging.getLogger("originmark.jobs")


class EmbeddedJobs:
    def __init__(self, runtime: JobRuntime, *, threads: int = 2) -> None:
        self._runtime = runtime
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="originmark-job")
        self._stopping = threading.Event()
        # Webhooks of jobs made final here go out from this pool too (app/jobs/webhooks.py).
        self._webhooks = EmbeddedDeliveries(runtime, submit=self._pool.submit, stopping=self._stopping)
        with runtime.store.db_engine.connect() as connection:
            left = connection.execute(
                sa.select(jobs.c.id, jobs.c.kind).where(
                    jobs.c.status.in_([JobStatus.QUEUED.value, JobStatus.RUNNING.value])
                )
            ).all()
        for job_id, kind in left:
            log.warning("a job left by a stopped server is run again", extra={"fields": {"job_id": job_id}})
            self.start(job_id, JobKind(kind))
        self._webhooks.resume_pending()

    def start(self, job_id: str, kind: JobKind) -> None:
        self._pool.submit(self._run, job_id, kind)

    def close(self) -> None:
        self._stopping.set()
        self._webhooks.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, job_id: str, kind: JobKind) -> None:
        settings = self._runtime.settings
        task = runner_for(kind)
        for attempt in range(settings.jobs_max_attempts):
            if self._stopping.is_set():
                return
            try:
                task(self._runtime, job_id, previous_attempts=attempt)
                return
            except Exception:  # noqa: BLE001 - recorded on the job's row by the task; retried below
                if attempt + 1 >= settings.jobs_max_attempts:
                    return
                time.sleep(settings.jobs_retry_wait_seconds * (attempt + 1))
            finally:
                self._webhooks.run_ended(job_id)  # the run's transactions are over: deliver if it made the job final
