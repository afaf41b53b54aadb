"""SQLAlchemy engines and URLs: what the store accepts, how SQLite is set up, and a database that is down."""

from __future__ import annotations

import socket

import psycopg
import pytest

from app.store.database import create_db_engine, parse_database_url
from app.store.errors import StoreConfigurationError, StoreUnavailable
from app.store.migrate import upgrade_database
from app.store.sql import open_store
from tests.support import one_row


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("not a url", "not a URL"),
        ("mysql://root@localhost/db", "unsupported database 'mysql'"),
        ("sqlite://", "in-memory"),
        ("sqlite:///:memory:", "in-memory"),
        ("postgresql+psycopg2://u@h/db", "psycopg 3"),
        ("sqlite+aiosqlite:///x.db", "sqlite3 module"),
    ],
)
def test_urls_the_store_cannot_use_are_refused_with_a_sentence(url, problem):
    with pytest.raises(StoreConfigurationError, match=problem):
        open_store(url)
    with pytest.raises(StoreConfigurationError, match=problem):
        upgrade_database(url)


def test_a_plain_postgresql_url_means_psycopg_3():
    assert parse_database_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"


def test_sqlite_runs_in_wal_mode_with_the_settings_the_store_relies_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'dir' / 'o.db'}"  # the directory is created
    upgrade_database(url)
    db_engine = create_db_engine(url, pool_size=2)
    try:
        with db_engine.connect() as connection:
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 2  # FULL: a commit is on disk before save returns
            assert pragma("busy_timeout") == 10_000
            assert pragma("foreign_keys") == 1
            sqlite_connection = connection.connection.dbapi_connection
            assert sqlite_connection is not None  # a connection checked out of the pool is open
            assert sqlite_connection.isolation_level == "IMMEDIATE"
    finally:
        db_engine.dispose()


def test_sqlite_synchronous_normal_can_be_chosen(tmp_path):
    db_engine = create_db_engine(f"sqlite:///{tmp_path / 'o.db'}", sqlite_synchronous="NORMAL")
    try:
        with db_engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    finally:
        db_engine.dispose()


def test_ping_passes_on_a_migrated_database(store):
    store.ping()


def test_ping_fails_as_unavailable_on_a_database_that_was_never_migrated(database_url):
    with open_store(database_url, pool_size=1) as store, pytest.raises(StoreUnavailable):
        store.ping()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once the socket closes: nothing listens there


def test_an_unreachable_postgresql_is_unavailable_not_a_crash(real_verdicts):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/test?connect_timeout=2"
    with open_store(url, pool_size=1) as store:
        with pytest.raises(StoreUnavailable, match="the database is unavailable"):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.labels_json_for("default", ["a"])
        with pytest.raises(StoreUnavailable):
            store.save_verdict(
                tenant="default", verdict=real_verdicts.plain, label=real_verdicts.plain_label, trust_fingerprint="t"
            )
        with pytest.raises(StoreUnavailable):
            store.authenticate("om_abcdefghij_" + "a" * 43)


def test_a_postgresql_connection_that_died_costs_one_call_and_the_next_reconnects(postgres_database_url):
    upgrade_database(postgres_database_url)
    with open_store(postgres_database_url, pool_size=1) as store:
        with store.db_engine.connect() as connection:
            backend_pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        assert store.labels_json_for("default", ["a"]) == {"a": None}
        server = postgres_database_url.split("?", 1)[0].replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(server, autocommit=True) as admin:  # as a server restart would
            assert one_row(admin, "SELECT pg_terminate_backend(%s)", (backend_pid,))[0] is True
        with pytest.raises(StoreUnavailable):
            store.labels_json_for("default", ["a"])
        assert store.labels_json_for("default", ["a"]) == {"a": None}
