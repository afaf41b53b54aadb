"""Fixtures for the load and fault tests: the real `originmark serve` in a subprocess, real media,
a database per test on SQLite or on PostgreSQL (the shared server, in a schema of the test's own).

How long the sustained load runs: ORIGINMARK_TEST_LOAD_SECONDS per backend (default 10), e.g.

    ORIGINMARK_TEST_LOAD_SECONDS=300 python -m pytest tests/faults/test_load.py -s

(`-s` shows the summary line of each run: requests, requests/s, 5xx, acknowledged verdicts).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.media import Sample, load_samples
from tests.support import postgres_schema, reachable_postgres_url

BACKENDS = ("sqlite", "postgresql")


def load_seconds(default: float) -> float:
    """ORIGINMARK_TEST_LOAD_SECONDS (the documented long run), else `default`."""
    value = os.environ.get("ORIGINMARK_TEST_LOAD_SECONDS")
    return float(value) if value else default


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The shared PostgreSQL server (ORIGINMARK_TEST_POSTGRES_URL); unreachable FAILS, never skips."""
    return reachable_postgres_url(needed_by="the fault tests")


@pytest.fixture
def database_url(request, tmp_path) -> Iterator[str]:
    """An empty database on the backend named by the test's `backend` parameter (the server migrates it)."""
    backend = request.getfixturevalue("backend")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/originmark.db"
        return
    with postgres_schema(request.getfixturevalue("postgres_server"), prefix="originmark_faults") as url:
        yield url


@pytest.fixture
def spool_dir(tmp_path) -> Path:
    folder = tmp_path / "spool"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def samples() -> tuple[list[Sample], list[Sample]]:
    """(small samples in seven formats, medium images of a few hundred KB)."""
    return load_samples()


@pytest.fixture
def private_postgres_server():
    """A private PostgreSQL server this test may stop and start (skips, saying why, where initdb cannot run)."""
    import contextlib

    from tests.faults.private_postgres import PostgresUnavailable, private_postgres

    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(private_postgres())
        except PostgresUnavailable as reason:
            pytest.skip(f"no private PostgreSQL server can run here: {reason}")
        yield server
