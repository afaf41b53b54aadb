"""`originmark worker` as a real process: it runs queued jobs, and takes over the job of a worker
that died holding it (procrastinate's heartbeats + our stalled-job recovery)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import procrastinate
import psycopg

from app.jobs.queue import QUEUE, libpq_conninfo
from app.objects.location import ObjectLocation, Scheme
from tests.api.helpers import jpeg_bytes
from tests.jobs.conftest import auth, wait_done
from tests.support import libpq_url, one_row


def _worker_environment(settings, pg_url: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("ORIGINMARK_")}
    environment.update(
        {
            "ORIGINMARK_DATABASE_URL": pg_url,
            "ORIGINMARK_KEYS_DIR": str(settings.keys_dir),
            "ORIGINMARK_SPOOL_DIR": str(settings.spool_dir),
            "ORIGINMARK_OBJECTS_DIR": str(settings.objects_dir),
            "ORIGINMARK_VERIFY_WORKERS": "1",
            "ORIGINMARK_S3_ENDPOINT_URL": settings.s3_endpoint_url,
            "ORIGINMARK_S3_REGION": settings.s3_region,
            "ORIGINMARK_S3_ADDRESSING_STYLE": "path",
            "ORIGINMARK_JOBS_MAX_ATTEMPTS": "2",
            "ORIGINMARK_JOBS_RETRY_WAIT_SECONDS": "0",
            "ORIGINMARK_JOBS_STALLED_SECONDS": "2",
            "ORIGINMARK_JOBS_STALLED_CHECK_SECONDS": "0.5",
            "ORIGINMARK_JOBS_HEARTBEAT_SECONDS": "0.5",
        }
    )
    return environment


@contextlib.contextmanager
def worker_process(settings, pg_url: str, log_path: Path) -> Iterator[subprocess.Popen]:
    command = [sys.executable, "-c", "from app.cli import main; main()", "worker", "--concurrency", "2"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, env=_worker_environment(settings, pg_url), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_worker_command_runs_jobs(http, keys, s3, settings, pg_url, store, tmp_path):
    object_store, bucket = s3
    data = jpeg_bytes(seed=11)
    object_store.put(ObjectLocation(Scheme.S3, "in/w.jpg", bucket), io.BytesIO(data))
    job_id = http.post(
        "/v1/jobs/verify", json={"source": f"s3://{bucket}/in/w.jpg", "media_id": "w-1"}, headers=auth(keys.verify)
    ).json()["job_id"]
    log_path = tmp_path / "worker.log"
    with worker_process(settings, pg_url, log_path) as process:
        done = wait_done(http, keys.read, job_id, seconds=90)  # a worker starting on a busy machine
        assert process.poll() is None, log_path.read_text()[-3000:]
    assert done["status"] == "succeeded", (done, log_path.read_text()[-3000:])
    assert process.returncode == 0, log_path.read_text()[-3000:]  # SIGTERM: a clean stop
    assert done["result"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert store.verdict_by_media_id("default", "w-1") is not None


def test_the_job_of_a_dead_worker_is_run_again(http, keys, s3, settings, pg_url, tmp_path):
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, "in/d.jpg", bucket), io.BytesIO(jpeg_bytes(seed=12)))
    job_id = http.post("/v1/jobs/verify", json={"source": f"s3://{bucket}/in/d.jpg"}, headers=auth(keys.verify)).json()[
        "job_id"
    ]

    async def take_the_job_and_die() -> int:
        # What a worker killed mid-job leaves behind: its registration (heartbeat never renewed)
        # and the job `doing` under its id. Done with procrastinate's own job manager.
        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_conninfo(pg_url)))
        async with app.open_async():
            dead_worker = await app.job_manager.register_worker()
            job = await app.job_manager.fetch_job(queues=[QUEUE], worker_id=dead_worker)
            assert job is not None
            return dead_worker

    dead_worker = asyncio.run(take_the_job_and_die())
    with psycopg.connect(libpq_url(pg_url)) as connection:
        status, worker = one_row(connection, "SELECT status, worker_id FROM procrastinate_jobs")
    assert (status, worker) == ("doing", dead_worker)

    log_path = tmp_path / "worker.log"
    with worker_process(settings, pg_url, log_path):
        done = wait_done(http, keys.read, job_id, seconds=90)  # a worker starting on a busy machine
    assert done["status"] == "succeeded", (done, log_path.read_text()[-3000:])
    assert "a stalled job was queued again" in log_path.read_text()


def test_the_worker_command_on_sqlite_says_it_needs_postgresql(settings, tmp_path):
    environment = _worker_environment(settings, f"sqlite:///{tmp_path}/x.db")
    finished = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "worker"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert "needs PostgreSQL" in finished.stderr
