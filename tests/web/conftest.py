"""Fixtures for the web page tests: a real app served by uvicorn (in a thread) on real worker pools.

One signer + verifier pool and one uvicorn server per session; each test installs its own app
(its own settings and a fresh, migrated SQLite store) behind the server, as tests/api does.
The browser tests (test_browser.py) drive headless Chromium against the same server.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from app.api.main import create_app
from app.settings import Settings
from app.store.interface import Scope
from app.store.migrate import upgrade_database
from app.store.sql import SqlStore, open_store
from app.wiring import build_worker_pools
from app.worker_pools import WorkerPools
from tests.api.helpers import AppSwitch, serve_in_thread

from .media import SignedMedia, make_signed_media

WEB_UPLOAD_LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="session")
def base_settings(dev_credentials, tmp_path_factory) -> Settings:
    return Settings(
        keys_dir=dev_credentials.directory,
        database_url=f"sqlite:///{tmp_path_factory.mktemp('web-db')}/unused.db",
        spool_dir=tmp_path_factory.mktemp("web-spool"),
        web_max_upload_bytes=WEB_UPLOAD_LIMIT,
        sign_concurrency=2,
        verify_workers=1,
        verify_timeout_seconds=20,
    )


@pytest.fixture(scope="session")
def worker_pools(base_settings) -> Iterator[WorkerPools]:
    built = build_worker_pools(base_settings)
    yield built
    built.close()


@pytest.fixture(scope="session")
def media(signing_key, shared_dir, tmp_path_factory) -> SignedMedia:
    return make_signed_media(tmp_path_factory.mktemp("web-media"), signing_key, shared_dir)


@pytest.fixture
def store(tmp_path) -> Iterator[SqlStore]:
    url = f"sqlite:///{tmp_path}/originmark.db"
    upgrade_database(url)
    opened = open_store(url)
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def server() -> Iterator[tuple[AppSwitch, str]]:
    switch = AppSwitch()
    with serve_in_thread(switch) as base_url:
        yield switch, base_url


@pytest.fixture
def serve(base_settings, store, worker_pools, server) -> Iterator[Callable[..., str]]:
    """`serve(**settings_changes)`: serve a fresh app with those settings; returns the base URL."""
    switch, base_url = server
    with contextlib.ExitStack() as stack:

        def install(**changes) -> str:
            stack.close()  # one app at a time on the shared server
            settings = base_settings.model_copy(update={"database_url": "sqlite:///unused", **changes})
            stack.enter_context(switch.installed(create_app(settings, store=store, worker_pools=worker_pools)))
            return base_url

        yield install


@pytest.fixture
def client(serve) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=serve(), timeout=60) as http:
        yield http


@pytest.fixture
def read_token(store) -> str:
    return store.create_key(name="reader", scopes=frozenset({Scope.READ}))[1]


@pytest.fixture
def sign_token(store) -> str:
    return store.create_key(name="signer", scopes=frozenset({Scope.SIGN}))[1]


def file_part(path: Path, name: str | None = None) -> dict:
    return {"file": (name or path.name, path.read_bytes(), "application/octet-stream")}


@pytest.fixture(autouse=True)
def spool_is_left_empty(base_settings) -> Iterator[None]:
    """Every upload is deleted when its request ends, whatever happened."""
    yield
    assert base_settings.spool_dir is not None
    assert sorted(p.name for p in Path(base_settings.spool_dir).iterdir()) == []
