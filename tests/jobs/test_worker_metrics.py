"""The worker's Prometheus /metrics, scraped over real HTTP from prometheus-client's own server:
a real procrastinate worker on the real PostgreSQL queue runs real jobs (moto's S3 server)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import procrastinate
import psycopg
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from app.jobs.metrics import WorkerMetrics, read_queue_depths, serve_metrics
from app.jobs.queue import QUEUE, libpq_conninfo
from app.jobs.worker import run_worker
from app.objects.location import ObjectLocation, Scheme
from app.wiring import build_job_runtime, build_object_stores
from tests.api.helpers import jpeg_bytes
from tests.jobs.conftest import auth, put_object, wait_done
from tests.support import libpq_url

from .test_worker_process import _worker_environment


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@contextlib.contextmanager
def _served(metrics: WorkerMetrics) -> Iterator[str]:
    server = serve_metrics(metrics, host="127.0.0.1", port=0)
    try:
        yield f"http://127.0.0.1:{server.port}/metrics"
    finally:
        server.close()


def _scrape(url: str) -> dict:
    answer = httpx.get(url, timeout=10)
    assert answer.status_code == 200
    return _samples(answer.text)


def _drain_with(metrics: WorkerMetrics, settings, store, jobs_worker_pools) -> None:
    runtime = build_job_runtime(
        settings, store=store, objects=build_object_stores(settings), worker_pools=jobs_worker_pools
    )
    for _ in range(10):
        asyncio.run(
            run_worker(settings, runtime, concurrency=2, wait=False, install_signal_handlers=False, metrics=metrics)
        )
        with store.db_engine.connect() as connection:
            if (
                connection.execute(
                    sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'")
                ).scalar_one()
                == 0
            ):
                return
    raise AssertionError("the queue did not drain")


def test_job_outcomes_durations_and_queue_depth_are_scraped(http, keys, s3, settings, store, pg_url, jobs_worker_pools):
    object_store, bucket = s3
    good = http.post(
        "/v1/jobs/verify", json={"source": put_object(s3, "m/good.jpg", jpeg_bytes(seed=41))}, headers=auth(keys.verify)
    ).json()["job_id"]
    gone_uri = put_object(s3, "m/gone.jpg", jpeg_bytes(seed=42))
    gone = http.post("/v1/jobs/verify", json={"source": gone_uri}, headers=auth(keys.verify)).json()["job_id"]
    object_store.delete(ObjectLocation(Scheme.S3, "m/gone.jpg", bucket))  # both attempts fail (jobs_max_attempts=2)

    metrics = WorkerMetrics()
    with _served(metrics) as url:
        _drain_with(metrics, settings, store, jobs_worker_pools)
        assert wait_done(http, keys.read, good)["status"] == "succeeded"
        assert wait_done(http, keys.read, gone)["status"] == "failed"
        # The succeeded job delivered again (at-least-once): the task skips it.
        with psycopg.connect(libpq_url(pg_url), autocommit=True) as connection:
            connection.execute("UPDATE procrastinate_jobs SET status = 'todo' WHERE args->>'job_id' = %s", (good,))
        _drain_with(metrics, settings, store, jobs_worker_pools)
        scraped = _scrape(url)

    finished = "originmark_jobs_finished_total"
    assert _value(scraped, finished, kind="verify", outcome="succeeded") == 1
    assert _value(scraped, finished, kind="verify", outcome="failed_attempt") == 1
    assert _value(scraped, finished, kind="verify", outcome="failed_final") == 1
    assert _value(scraped, finished, kind="verify", outcome="skipped_already_done") == 1
    assert _value(scraped, "originmark_job_duration_seconds_count", kind="verify") == 4
    duration_sum = _value(scraped, "originmark_job_duration_seconds_sum", kind="verify")
    assert duration_sum is not None and duration_sum > 0
    assert _value(scraped, "originmark_jobs_in_flight", kind="verify") == 0
    assert _value(scraped, "originmark_queue_jobs", queue=QUEUE, status="succeeded") == 1
    assert _value(scraped, "originmark_queue_jobs", queue=QUEUE, status="failed") == 1
    assert _value(scraped, "originmark_queue_jobs", queue=QUEUE, status="todo") is None  # no row: no series
    assert _value(scraped, "originmark_queue_depth_up") == 1
    assert _value(scraped, "originmark_stalled_jobs_requeued_last_check") == 0


def test_a_database_that_does_not_answer_leaves_the_depth_out_and_the_scrape_answers(pg_url):
    metrics = WorkerMetrics()
    metrics.watch_queue(lambda: read_queue_depths(libpq_conninfo(pg_url), timeout_seconds=1))
    with _served(metrics) as url:
        assert _value(_scrape(url), "originmark_queue_depth_up") == 1
        # A lock the count waits for (e.g. a long migration): bounded by the statement timeout.
        with psycopg.connect(libpq_url(pg_url)) as blocker:
            blocker.execute("LOCK TABLE procrastinate_jobs IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            scraped = _scrape(url)
            waited = time.monotonic() - started
        assert _value(scraped, "originmark_queue_depth_up") == 0
        assert not any(name == "originmark_queue_jobs" for name, _ in scraped)
        assert _value(scraped, "originmark_jobs_in_flight", kind="verify") is None  # nothing ran: no series
        assert waited < 5, waited
        # Nothing listening where the database should be: the same.
        metrics.watch_queue(lambda: read_queue_depths("postgresql://postgres@127.0.0.1:1/test", timeout_seconds=1))
        scraped = _scrape(url)
        assert _value(scraped, "originmark_queue_depth_up") == 0
        assert not any(name == "originmark_queue_jobs" for name, _ in scraped)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_worker_command_serves_metrics_and_counts_requeued_stalled_jobs(http, keys, s3, settings, pg_url, tmp_path):
    """`originmark worker --metrics-port`: a real process, scraped while it takes over the job of a
    worker that died holding it."""
    job_id = http.post(
        "/v1/jobs/verify",
        json={"source": put_object(s3, "m/stalled.jpg", jpeg_bytes(seed=43))},
        headers=auth(keys.verify),
    ).json()["job_id"]

    async def take_the_job_and_die() -> None:
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(pg_url)))
        async with app.open_async():
            dead_worker = await app.job_manager.register_worker()
            assert await app.job_manager.fetch_job(queues=[QUEUE], worker_id=dead_worker) is not None

    asyncio.run(take_the_job_and_die())
    port = _free_port()
    environment = _worker_environment(settings, pg_url)
    # No purge job in the counts below (one is queued at start when the hourly tick was < 10 min ago).
    environment["ORIGINMARK_JOBS_PURGE"] = "false"
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-c", "from app.cli import main; main()", "worker", "--metrics-port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            assert wait_done(http, keys.read, job_id, seconds=40)["status"] == "succeeded", log_path.read_text()[-3000:]
            scraped = _scrape(f"http://127.0.0.1:{port}/metrics")
            # Another worker on the same port: refused at once, with the reason.
            taken = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
        finally:
            process.terminate()
            process.wait(timeout=20)
    assert _value(scraped, "originmark_stalled_jobs_requeued_total") == 1, log_path.read_text()[-3000:]
    assert _value(scraped, "originmark_jobs_finished_total", kind="verify", outcome="succeeded") == 1
    assert _value(scraped, "originmark_queue_jobs", queue=QUEUE, status="succeeded") == 1
    assert taken.returncode == 2 and "cannot serve metrics" in taken.stderr, taken.stderr
