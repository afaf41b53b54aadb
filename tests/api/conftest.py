"""Fixtures for the API tests: one signer + verifier pool per session, a fresh database per test.

Every test talks real HTTP: `client` is an httpx client for a uvicorn server on a free port
(in a background thread) serving the test's own app, on the real store, signer and verifier
pool. The server and the client are shared by the session (starting and stopping uvicorn
costs ~0.15 s); each test's app is installed behind it with its own lifespan.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import httpx
import pytest

from app.api.main import create_app
from app.settings import Settings
from app.store.interface import Scope
from app.store.sql import SqlStore, open_store
from app.wiring import build_worker_pools
from app.worker_pools import WorkerPools
from tests.support import reachable_postgres_url

from .helpers import (
    TEST_UPLOAD_LIMIT,
    ApiKeys,
    AppSwitch,
    backend_database,
    serve_in_thread,
)


@pytest.fixture(scope="session")
def base_settings(dev_credentials, tmp_path_factory) -> Settings:
    spool = tmp_path_factory.mktemp("spool")
    return Settings(
        keys_dir=dev_credentials.directory,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('db')}/unused.db",
        spool_dir=spool,
        max_upload_bytes=TEST_UPLOAD_LIMIT,
        sign_concurrency=2,
        verify_workers=1,
        verify_timeout_seconds=20,
    )


@pytest.fixture(scope="session")
def worker_pools(base_settings) -> Iterator[WorkerPools]:
    built = build_worker_pools(base_settings)
    yield built
    built.close()


@pytest.fixture
def database_url(request, tmp_path) -> Iterator[str]:
    """A migrated SQLite database per test (modules that also run on PostgreSQL override this)."""
    with backend_database("sqlite", request=request, tmp_path=tmp_path) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The PostgreSQL server (ORIGINMARK_TEST_POSTGRES_URL); unreachable FAILS, never skips."""
    return reachable_postgres_url(needed_by="the API tests")


@pytest.fixture
def store(database_url) -> Iterator[SqlStore]:
    opened = open_store(database_url)
    yield opened
    opened.close()


@pytest.fixture
def api_keys(store) -> ApiKeys:
    def token(name: str, *scopes: Scope) -> str:
        return store.create_key(name=name, scopes=frozenset(scopes))[1]

    return ApiKeys(
        sign=token("signer", Scope.SIGN),
        verify=token("verifier", Scope.VERIFY),
        read=token("reader", Scope.READ),
        all=token("everything", Scope.SIGN, Scope.VERIFY, Scope.READ),
    )


@pytest.fixture
def make_settings(base_settings, database_url) -> Callable[..., Settings]:
    def make(**changes) -> Settings:
        return base_settings.model_copy(update={"database_url": database_url, **changes})

    return make


@pytest.fixture(scope="session")
def app_switch() -> Iterator[tuple[AppSwitch, httpx.Client]]:
    """One uvicorn server (real HTTP on a free port) and one httpx client for the whole session."""
    switch = AppSwitch()
    with serve_in_thread(switch) as base_url, httpx.Client(base_url=base_url, timeout=60) as http:
        yield switch, http


@pytest.fixture
def make_client(make_settings, store, worker_pools, app_switch) -> Iterator[Callable[..., httpx.Client]]:
    """Serve a freshly created app (its own lifespan, services and metrics) over real HTTP.

    `make_client(**settings_changes)`; `make_client(store=other)` serves another store.
    """
    switch, http = app_switch
    with contextlib.ExitStack() as stack:

        def make(*, store: SqlStore = store, **changes) -> httpx.Client:
            stack.close()  # one app at a time on the shared server
            app = create_app(make_settings(**changes), store=store, worker_pools=worker_pools)
            stack.enter_context(switch.installed(app))
            return http

        yield make


@pytest.fixture
def client(make_client) -> httpx.Client:
    return make_client()


@pytest.fixture(autouse=True)
def spool_is_left_empty(base_settings) -> Iterator[None]:
    """Every upload, output and temp folder is gone when a request ends, whatever happened."""
    yield
    assert base_settings.spool_dir is not None
    assert sorted(p.name for p in base_settings.spool_dir.iterdir()) == []
