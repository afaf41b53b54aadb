"""PostgreSQL restarted while the service is quiet: the first request after it gets an answer, not
a 503 (pooled connections idle past IDLE_PING_SECONDS are checked before use and replaced).

The control case (the check off) shows what the check prevents: the first statement on a pooled
connection from before the restart fails. On a private PostgreSQL server (tests/faults/private_postgres.py).
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.store.database import create_db_engine
from app.store.errors import StoreUnavailable, database_errors_as_unavailable

IDLE_PING = 0.2


@pytest.fixture
def postgres(private_postgres_server):
    return private_postgres_server


def _query(db_engine: sa.Engine) -> int:
    with database_errors_as_unavailable(), db_engine.connect() as connection:
        return connection.execute(sa.text("SELECT 1")).scalar_one()


def _restart_while_idle(postgres, db_engine: sa.Engine) -> None:
    assert _query(db_engine) == 1  # a pooled connection now exists
    postgres.stop()
    postgres.start()
    time.sleep(IDLE_PING * 2)  # quiet for longer than the idle threshold


def test_the_first_query_after_a_quiet_restart_succeeds(postgres):
    db_engine = create_db_engine(postgres.url, pool_size=2, idle_ping_seconds=IDLE_PING)
    try:
        _restart_while_idle(postgres, db_engine)
        assert _query(db_engine) == 1
    finally:
        db_engine.dispose()


def test_without_the_idle_check_that_first_query_fails(postgres):
    db_engine = create_db_engine(postgres.url, pool_size=2, idle_ping_seconds=None)
    try:
        _restart_while_idle(postgres, db_engine)
        with pytest.raises(StoreUnavailable):
            _query(db_engine)
        assert _query(db_engine) == 1  # the pool was invalidated by that failure: the next one reconnects
    finally:
        db_engine.dispose()
