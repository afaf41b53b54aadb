"""Prometheus metrics of `originmark worker`, served by prometheus-client's own HTTP server.

One registry per WorkerMetrics (like the API's, app/api/metrics.py: two workers in one test
process never share counters). A worker is one process (its jobs run in threads; verifications
in the verifier's processes, which record nothing here), so no multiprocess mode: each worker
process serves its own /metrics on its own port, and Prometheus sums across them.

- jobs finished by kind and outcome, and their duration: recorded around the task functions
  (app/jobs/queue.py) by `observe_job`;
- jobs in flight;
- the queue's depth by queue and status: read from procrastinate's table when scraped (a
  custom collector, bounded by a statement timeout); when the database does not answer the
  series are absent and originmark_queue_depth_up is 0, the scrape itself never fails;
- stalled jobs queued again by the last recovery check (and in total).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.jobs.runtime import JobRun

log = logging.getLogger("originmark.jobs")

# Jobs fetch a source from object storage and run the engine on it: from tens of ms (a small
# image, verify) to minutes (a multi-GB video, sign and verify back).
JOB_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
# A scrape must answer within Prometheus' scrape timeout (10 s by default), whatever the database does.
QUEUE_DEPTH_TIMEOUT_SECONDS = 2.0


class JobOutcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED_ATTEMPT = "failed_attempt"  # retried later
    FAILED_FINAL = "failed_final"  # the last attempt: the job is `failed`
    SKIPPED_ALREADY_DONE = "skipped_already_done"  # delivered again after it succeeded (at-least-once)


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.finished = Counter(
            "originmark_jobs_finished",
            "Job runs (attempts) finished by a worker, by job kind and outcome.",
            ("kind", "outcome"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "originmark_job_duration_seconds",
            "Time a worker spent on one job run (attempt), by job kind, whatever its outcome.",
            ("kind",),
            buckets=JOB_DURATION_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "originmark_jobs_in_flight",
            "Jobs this worker is running now, by job kind.",
            ("kind",),
            registry=self.registry,
        )
        self.stalled_last = Gauge(
            "originmark_stalled_jobs_requeued_last_check",
            "Stalled jobs (their worker stopped sending heartbeats) queued again by this worker's last check.",
            registry=self.registry,
        )
        self.stalled_total = Counter(
            "originmark_stalled_jobs_requeued",
            "Stalled jobs queued again by this worker's checks.",
            registry=self.registry,
        )
        self._queue_collector: QueueDepthCollector | None = None

    def record_stalled_check(self, requeued: int) -> None:
        self.stalled_last.set(requeued)
        self.stalled_total.inc(requeued)

    def watch_queue(self, read_depths: Callable[[], Iterable[QueueDepth]]) -> None:
        """Report the queue's depth on every scrape, as `read_depths` reads it (replacing the last one)."""
        if self._queue_collector is not None:
            self.registry.unregister(self._queue_collector)
        self._queue_collector = QueueDepthCollector(read_depths)
        self.registry.register(self._queue_collector)


def observe_job(metrics: WorkerMetrics | None, *, kind: str, final_attempt: bool, run: Callable[[], Any]) -> None:
    """Run one job (`run()`: app.jobs.tasks.run_*_job) and count it: its duration and outcome.

    The run says itself whether it skipped a job that had succeeded already (JobRun); a run that
    raises failed, for good when `final_attempt`. The exception goes on to procrastinate."""
    if metrics is None:
        run()
        return
    metrics.in_flight.labels(kind).inc()
    started = time.monotonic()
    outcome = JobOutcome.FAILED_FINAL if final_attempt else JobOutcome.FAILED_ATTEMPT
    try:
        ran = run()
        outcome = {
            JobRun.SKIPPED_ALREADY_DONE: JobOutcome.SKIPPED_ALREADY_DONE,
            JobRun.REFUSED: JobOutcome.FAILED_FINAL,
        }.get(ran, JobOutcome.SUCCEEDED)
    finally:
        metrics.in_flight.labels(kind).dec()
        metrics.duration.labels(kind).observe(time.monotonic() - started)
        metrics.finished.labels(kind, outcome.value).inc()


@dataclass(frozen=True, slots=True)
class QueueDepth:
    queue: str
    status: str  # procrastinate's: todo, doing, succeeded, failed, cancelled, aborting, aborted
    jobs: int


class QueueDepthCollector(Collector):
    def __init__(self, read_depths: Callable[[], Iterable[QueueDepth]]) -> None:
        self._read_depths = read_depths
        self._lock = threading.Lock()  # two scrapes at once ask the database once each, not in parallel

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not query the database.
        return [self._depth_family(), self._up_family()]

    def collect(self) -> Iterable[Metric]:
        depth = self._depth_family()
        up = self._up_family()
        with self._lock:
            try:
                depths = list(self._read_depths())
            except Exception as error:  # noqa: BLE001 - the database is away or slow: no depth this time, never a failed scrape
                log.warning("reading the queue depth failed", extra={"fields": {"error": type(error).__name__}})
                up.add_metric([], 0)
                return [up]
        for row in depths:
            depth.add_metric([row.queue, row.status], row.jobs)
        up.add_metric([], 1)
        return [depth, up]

    @staticmethod
    def _depth_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "originmark_queue_jobs",
            "Jobs in procrastinate's queue table, by queue and status (read when scraped; finished ones until purged).",
            labels=("queue", "status"),
        )

    @staticmethod
    def _up_family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "originmark_queue_depth_up", "1 when the last scrape could read the queue's depth, 0 when it could not."
        )


def read_queue_depths(conninfo: str, *, timeout_seconds: float = QUEUE_DEPTH_TIMEOUT_SECONDS) -> list[QueueDepth]:
    """One short connection per scrape (not the job pool's): bounded by a connect timeout and a
    statement timeout. A count over procrastinate_jobs, whose finished rows the purge bounds."""
    import psycopg

    milliseconds = max(1, int(timeout_seconds * 1000))
    with psycopg.connect(conninfo, connect_timeout=max(1, round(timeout_seconds)), autocommit=False) as connection:
        connection.execute(f"SET LOCAL statement_timeout = {milliseconds}")
        rows = connection.execute(
            "SELECT queue_name, status::text, count(*) FROM procrastinate_jobs GROUP BY queue_name, status"
        ).fetchall()
    return [QueueDepth(queue=queue, status=status, jobs=count) for queue, status, count in rows]


@dataclass(frozen=True, slots=True)
class MetricsServer:
    host: str
    port: int  # the bound one (0 asked: a free port)
    _server: Any

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def serve_metrics(metrics: WorkerMetrics, *, host: str, port: int) -> MetricsServer:
    """/metrics on host:port in a daemon thread; OSError when the port is taken."""
    server, _thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(host=host, port=server.server_port, _server=server)


def observe_task_run(
    metrics: WorkerMetrics | None, runtime: Any, *, kind: str, previous_attempts: int, run: Callable[[], Any]
) -> None:
    """`observe_job` for one of our task functions (app/jobs/queue.py)."""
    final = previous_attempts + 1 >= runtime.settings.jobs_max_attempts  # as tasks._attempt_failed decides
    observe_job(metrics, kind=kind, final_attempt=final, run=run)
