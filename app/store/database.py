"""SQLAlchemy engines for the store: SQLite tuned for a web server's threads, or PostgreSQL via psycopg 3.

SQLite (the embedded default):
- WAL: readers never wait for the writer, and the writer never waits for readers.
- `synchronous=FULL` (the default here): every commit reaches the disk before `save_verdict` returns,
  so an acknowledged verdict survives a power cut too; in WAL mode that is one fsync of the log
  per commit. `NORMAL` survives a crash of the process but not of the machine.
- Writes start with `BEGIN IMMEDIATE` (the driver's implicit transaction before the first
  INSERT/UPDATE/DELETE): a writer takes the write lock up front and waits `busy_timeout` for it,
  instead of upgrading a read lock mid-transaction, which fails at once with "database is locked".
  Plain SELECTs run outside any transaction and never take the write lock.
- `check_same_thread=False`: pooled connections move between the server's threads (one thread at a
  time, which the pool guarantees).

PostgreSQL: the psycopg 3 driver and a pool sized for the server's threads (at most 1.5 x pool_size
connections per process: every server worker has its own pool, and all share max_connections).
- `connect_timeout` (unless the URL sets one) bounds a connection attempt to a host that does not
  answer, so a request fails with 503 instead of waiting for the operating system's TCP timeout.
- A pooled connection that sat idle for IDLE_PING_SECONDS or more is pinged (`SELECT 1`) when it
  is checked out, and silently replaced if it is dead: after PostgreSQL restarts while the
  service is quiet, the first request reconnects instead of failing. Busy connections (the label
  reads' hot path) are never pinged, so they pay no extra round trip.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from app.store.errors import StoreConfigurationError

SQLITE_BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another writer
SQLITE_MMAP_BYTES = 256 * 1024**2  # label reads come from the OS page cache, shared by all connections
DEFAULT_POOL_SIZE = 16  # a server process's threads: the signing and verifying threads plus label reads
POOL_TIMEOUT_SECONDS = 10  # waiting longer for a free connection answers 503 (StoreUnavailable)
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5  # a new connection that takes longer answers 503 (StoreUnavailable)
IDLE_PING_SECONDS = 5.0  # a pooled connection idle this long is checked before use (see above)
SqliteSynchronous = Literal["FULL", "NORMAL"]

_SUPPORTED = "sqlite:///path/to/file.db or postgresql+psycopg://user@host:5432/database"


def parse_database_url(database_url: str) -> URL:
    """The URL, with `postgresql://` meaning the psycopg 3 driver (the only one installed)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise StoreConfigurationError(f"the database URL is not a URL; use {_SUPPORTED}") from None
    backend = url.get_backend_name()
    if backend == "postgresql":
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        if url.drivername != "postgresql+psycopg":
            raise StoreConfigurationError(f"the PostgreSQL driver is psycopg 3: use {_SUPPORTED}")
        return url
    if backend == "sqlite":
        if url.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise StoreConfigurationError(f"SQLite is used through Python's sqlite3 module: use {_SUPPORTED}")
        if not url.database or url.database == ":memory:" or url.query.get("mode") == "memory":
            raise StoreConfigurationError(
                f"an in-memory SQLite database cannot be shared by the server's connections; use {_SUPPORTED}"
            )
        return url
    raise StoreConfigurationError(f"unsupported database {backend!r}; use {_SUPPORTED}")


def ensure_sqlite_directory(url: URL) -> None:
    """Create the directory of a SQLite file (the home may not exist yet)."""
    if url.get_backend_name() == "sqlite" and url.database:
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_db_engine(
    database_url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    sqlite_synchronous: SqliteSynchronous = "FULL",
    idle_ping_seconds: float | None = IDLE_PING_SECONDS,
) -> Engine:
    """The SQLAlchemy engine the store runs on (see the module docstring for the settings and why).

    `idle_ping_seconds`: None turns the idle check off (PostgreSQL only; tests compare the two)."""
    url = parse_database_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_db_engine(url, pool_size=pool_size, synchronous=sqlite_synchronous)
    db_engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,  # bursts; PostgreSQL's max_connections is shared by every worker
        pool_timeout=POOL_TIMEOUT_SECONDS,
        # No pre-ping on every checkout: it costs a round trip (0.2 ms of a 1.2 ms label read). Only
        # connections idle for idle_ping_seconds are pinged (below). A busy connection that died is
        # detected by its first failing statement, which invalidates the whole pool (that one call
        # raises StoreUnavailable); the next checkout reconnects.
        pool_recycle=3600,  # below common server/proxy idle limits
        connect_args={} if "connect_timeout" in url.query else {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS},
    )
    if idle_ping_seconds is not None:
        _ping_connections_idle_for(db_engine, idle_ping_seconds)
    return db_engine


def _ping_connections_idle_for(db_engine: Engine, seconds: float) -> None:
    """Check a pooled connection idle for `seconds` or more before handing it out; replace it if dead.

    Raising DisconnectionError from a checkout listener makes the pool discard that connection and
    check out another (a new one if need be): SQLAlchemy's documented way to do a custom pre-ping.
    """

    @event.listens_for(db_engine, "checkin")
    def _note_idle_since(_dbapi_connection: object, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(db_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: object) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < seconds:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            dbapi_connection.rollback()  # leave no transaction open (psycopg starts one)
        except Exception as error:  # the driver's own errors: the connection is gone
            raise DisconnectionError(f"an idle pooled connection was dead: {error}") from error


def create_migration_db_engine(database_url: str) -> Engine:
    """A SQLAlchemy engine for Alembic: on SQLite the whole upgrade is one `BEGIN IMMEDIATE` transaction.

    SQLite can roll DDL back, but Python's sqlite3 opens no transaction before DDL; taking over
    BEGIN makes a failed migration leave no half-made schema and makes two processes upgrading
    at once (several server workers starting) run one after the other.
    """
    url = parse_database_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, poolclass=NullPool)
    ensure_sqlite_directory(url)
    db_engine = create_engine(url, poolclass=NullPool, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(db_engine, "connect")
    def _driver_autocommit(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below opens transactions
        _apply_sqlite_pragmas(dbapi_connection, synchronous="FULL")

    @event.listens_for(db_engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return db_engine


def _sqlite_db_engine(url: URL, *, pool_size: int, synchronous: SqliteSynchronous) -> Engine:
    ensure_sqlite_directory(url)
    db_engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size // 2,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        connect_args={
            "check_same_thread": False,
            "isolation_level": "IMMEDIATE",  # the driver's implicit BEGIN before DML becomes BEGIN IMMEDIATE
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
        },
    )

    @event.listens_for(db_engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        _apply_sqlite_pragmas(dbapi_connection, synchronous=synchronous)

    return db_engine


def _apply_sqlite_pragmas(dbapi_connection: sqlite3.Connection, *, synchronous: SqliteSynchronous) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL").fetchall()
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}").fetchall()
    finally:
        cursor.close()
