"""Fixtures for the job tests: real PostgreSQL (a schema per test, procrastinate's queue in it),
moto's S3 server, the service over real HTTP, and a real procrastinate worker."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
import sqlalchemy as sa

from app.api.main import create_app
from app.jobs import records
from app.jobs.records import JobKind
from app.jobs.worker import run_worker
from app.objects.location import ObjectLocation, Scheme
from app.settings import Settings
from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.store.sql import SqlStore, open_store
from app.wiring import build_job_runtime, build_object_stores, build_worker_pools
from app.worker_pools import WorkerPools
from tests.api.helpers import DEFAULT_POSTGRES_URL, serve_in_thread
from tests.objects.s3_server import REGION, S3Server, aws_test_environment, moto_s3_server
from tests.support import postgres_schema


@pytest.fixture(autouse=True)
def aws_credentials() -> Iterator[None]:
    with aws_test_environment():
        yield


@pytest.fixture(scope="session")
def jobs_s3_server(tmp_path_factory) -> Iterator[S3Server]:
    with moto_s3_server(tmp_path_factory.mktemp("moto-jobs") / "moto.log") as server:
        yield server


@pytest.fixture(scope="session")
def jobs_base_settings(dev_credentials, tmp_path_factory, jobs_s3_server) -> Settings:
    return Settings(
        keys_dir=dev_credentials.directory,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('db')}/unused.db",
        spool_dir=tmp_path_factory.mktemp("jobs-spool"),
        objects_dir=tmp_path_factory.mktemp("jobs-objects"),
        sign_concurrency=2,
        verify_workers=1,
        verify_timeout_seconds=20,
        s3_endpoint_url=jobs_s3_server.endpoint_url,
        s3_region=REGION,
        s3_addressing_style="path",
        s3_max_attempts=1,
        jobs_max_attempts=2,
        jobs_retry_wait_seconds=0,
        jobs_stalled_seconds=2,
        jobs_heartbeat_seconds=0.5,
    )


@pytest.fixture(autouse=True)
def spool_is_left_empty(jobs_base_settings) -> Iterator[None]:
    """Every spooled source and signed output is gone when a job ends, whatever happened."""
    yield
    assert sorted(p.name for p in jobs_base_settings.spool_dir.iterdir()) == []


@pytest.fixture(scope="session")
def jobs_worker_pools(jobs_base_settings) -> Iterator[WorkerPools]:
    with aws_test_environment():
        built = build_worker_pools(jobs_base_settings)
    yield built
    built.close()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema(DEFAULT_POSTGRES_URL, prefix="originmark_jobs_test") as url:
        upgrade_database(url)
        yield url


@pytest.fixture
def settings(jobs_base_settings, pg_url) -> Settings:
    return jobs_base_settings.model_copy(update={"database_url": pg_url})


@pytest.fixture
def store(pg_url, jobs_base_settings) -> Iterator[SqlStore]:
    opened = open_store(pg_url)
    # The jobs here act for the default tenant, which may use the whole local objects folder
    # (the `s3` fixture adds each test's bucket); tests/security/test_tenants.py covers refusals.
    grant_object_prefixes(opened, jobs_base_settings.objects_dir.as_uri() + "/")
    yield opened
    opened.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def put_object(s3, key: str, data: bytes) -> str:
    """`data` as `key` in the `s3` fixture's bucket; its s3:// URI."""
    object_store, bucket = s3
    object_store.put(ObjectLocation(Scheme.S3, key, bucket), io.BytesIO(data))
    return f"s3://{bucket}/{key}"


def wait_done(http: httpx.Client, token: str, job_id: str, *, seconds: float = 30) -> dict:
    """GET /v1/jobs/{id} until the job succeeded or failed (or `seconds` passed): its last answer."""
    deadline = time.monotonic() + seconds
    while True:
        body = http.get(f"/v1/jobs/{job_id}", headers=auth(token)).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def submit_verify_record(
    store: SqlStore,
    *,
    key: str = "k",
    enqueue: Callable[[sa.Connection, str], int | None] = lambda connection, job_id: None,
    webhook_url: str | None = None,
) -> records.Submitted:
    """A verify job's row submitted straight to the records (no HTTP), of the default tenant, for
    the source `s3://b/KEY`; `enqueue` queues it (default: nothing queued)."""
    return records.submit(
        store.db_engine,
        tenant="default",
        kind=JobKind.VERIFY,
        source=f"s3://b/{key}",
        media_id=None,
        key=key,
        enqueue=enqueue,
        webhook_url=webhook_url,
    )


def grant_object_prefixes(store: SqlStore, *prefixes: str, tenant: str = "default") -> None:
    current = store.tenant(tenant)
    assert current is not None
    store.set_object_prefixes(tenant, [*current.object_prefixes, *prefixes])


@dataclasses.dataclass(frozen=True)
class Keys:
    verify: str
    read: str


@pytest.fixture
def keys(store) -> Keys:
    return Keys(
        verify=store.create_key(name="verifier", scopes=frozenset({Scope.VERIFY}))[1],
        read=store.create_key(name="reader", scopes=frozenset({Scope.READ}))[1],
    )


@pytest.fixture
def http(settings, store, jobs_worker_pools) -> Iterator[httpx.Client]:
    """The service on a free port (real HTTP), on this test's PostgreSQL schema."""
    app = create_app(settings, store=store, worker_pools=jobs_worker_pools)
    with serve_in_thread(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


@pytest.fixture
def s3(jobs_s3_server, store):
    """(store, bucket): a fresh bucket per test, which the default tenant may use."""
    object_store = jobs_s3_server.store()
    bucket = jobs_s3_server.new_bucket(object_store)
    grant_object_prefixes(store, f"s3://{bucket}/")
    return object_store, bucket


@pytest.fixture
def drain_queue(settings, store, jobs_worker_pools) -> Callable[[], None]:
    """Run a real procrastinate worker (in this thread) until the queue is empty."""
    runtime = build_job_runtime(
        settings, store=store, objects=build_object_stores(settings), worker_pools=jobs_worker_pools
    )

    def drain() -> None:
        # A worker with wait=False stops once nothing is due; a retry is due again at once
        # (jobs_retry_wait_seconds=0), so drain until no job waits.
        for _ in range(10):
            asyncio.run(run_worker(settings, runtime, concurrency=2, wait=False, install_signal_handlers=False))
            with store.db_engine.connect() as connection:
                waiting = connection.execute(sa.text("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo'"))
                if waiting.scalar_one() == 0:
                    return
        raise AssertionError("the queue did not drain")

    return drain
