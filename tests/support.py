"""Helpers shared by test folders: PostgreSQL schemas per test and waiting for a served app."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, LiteralString

import httpx
import psycopg
import pytest

from scripts.local_service import free_port  # noqa: F401 - re-exported: the tests' name for it


def libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def one_row(connection: psycopg.Connection, query: LiteralString, params: Sequence[object] = ()) -> tuple[Any, ...]:
    """The first row of `query` (a count, a lookup that must find something); fails the test when there is none."""
    row = connection.execute(query, params).fetchone()
    assert row is not None, f"no row from {query}"
    return row


DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def reachable_postgres_url(*, needed_by: str) -> str:
    """The PostgreSQL server of the tests (ORIGINMARK_TEST_POSTGRES_URL or the default); when it
    cannot be reached the test FAILS (never skips), naming what needed it."""
    url = os.environ.get("ORIGINMARK_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        pytest.fail(f"PostgreSQL is not reachable at {url} ({type(error).__name__}); {needed_by} need it")
    return url


@contextlib.contextmanager
def postgres_schema(server_url: str, *, prefix: str = "originmark_test") -> Iterator[str]:
    """A URL whose connections see only a new, empty schema (dropped afterwards): tests never meet."""
    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in server_url else "?"
    try:
        # libpq `options`: every connection of the store starts with this search_path.
        yield f"{server_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(libpq_url(server_url), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def wait_until_ready(base_url: str, process: subprocess.Popen, log_path: Path, *, seconds: float = 90) -> None:
    """Poll /readyz until the server answers 200; fail with its log if it exits or takes too long."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server was not ready in time:\n{log_path.read_text()[-3000:]}")


@contextlib.contextmanager
def running_server(
    command: list[str], *, env: dict[str, str], log_path: Path, base_url: str, cwd: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`command` (an `originmark serve ...`) running in `cwd` until the block ends, its output in `log_path`.

    Ready (/readyz answered 200) when the block starts; stopped with SIGTERM (then SIGKILL) after.
    """
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(base_url, process, log_path)
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def sign_generated_jpeg(
    base_url: str, sign_key: str, *, size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (200, 40, 90)
) -> bytes:
    """A small generated JPEG signed by the running service at `base_url` (POST /v1/sign)."""
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    signed = httpx.post(
        f"{base_url}/v1/sign",
        headers={"Authorization": f"Bearer {sign_key}"},
        files={"file": ("generated.jpg", buffer.getvalue(), "image/jpeg")},
        data={"generator": "Test Diffusion", "generator_version": "1.0"},
        timeout=60,
    )
    assert signed.status_code == 200, signed.text
    return signed.content


def record_spool_removals(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """From now on each spool folder removal (app/spool.py's rmtree) appends whether it ran on an
    event loop: it must not (a removal waits on the file system, stalling every connection)."""
    import asyncio
    import shutil
    from types import SimpleNamespace

    import app.spool

    on_loop: list[bool] = []

    def rmtree(path: Any, **kwargs: Any) -> None:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        shutil.rmtree(path, **kwargs)

    monkeypatch.setattr(app.spool, "shutil", SimpleNamespace(rmtree=rmtree))
    return on_loop


def count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on each os.fsync (still done) appends its file descriptor to the returned list."""
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(descriptor: int) -> None:
        synced.append(descriptor)
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    return synced
