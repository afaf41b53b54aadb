"""The jobs' tables: `originmark_jobs` (ours) and procrastinate's queue, both in PostgreSQL.

Kept apart from app/store's Alembic migrations for now (the lead may fold them in): those
describe exactly app/store/schema.py's tables and a test compares the two. Created on first
use by the API's job routes and by `originmark worker`, under a transaction-scoped advisory
lock, so processes starting together create them once. Both land in the connection's
search_path (procrastinate's SQL names no schema), so a per-test schema works unchanged.
"""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from sqlalchemy import Engine

metadata = sa.MetaData()

jobs = sa.Table(
    "originmark_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    # sha256 of (kind, source URI, its etag and size, media id; sign: destination, params): one job per source version.
    sa.Column("idempotency_key", sa.String(64), nullable=False, unique=True),
    sa.Column("source", sa.Text(), nullable=False),
    sa.Column("media_id", sa.Text(), nullable=True),
    sa.Column("destination", sa.Text(), nullable=True),  # sign: where the signed object goes
    sa.Column("params", sa.Text(), nullable=True),  # sign: the generation request, JSON
    sa.Column("key_id", sa.Text(), nullable=True),  # sign: the API key that asked (for the audit log)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("queue_job_id", sa.BigInteger(), nullable=True),  # procrastinate_jobs.id
    sa.Column("sha256", sa.String(64), nullable=True),  # verify: of the source; sign: of the output (the verdict's key)
    sa.Column("error_code", sa.Text(), nullable=True),
    sa.Column("error_message", sa.Text(), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

_LOCK_ID = 0x6F726A6F62  # "orjob": any constant, shared by every process creating the schema


def ensure_jobs_schema(engine: Engine) -> None:
    """Create procrastinate's schema and `originmark_jobs` where they are missing (PostgreSQL only)."""
    with engine.begin() as connection:
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        present = set(sa.inspect(connection).get_table_names())
        if "procrastinate_jobs" not in present:
            schema_sql = resources.files("procrastinate.sql").joinpath("schema.sql").read_text()
            # psycopg runs a multi-statement script when it has no parameters.
            connection.connection.driver_connection.execute(schema_sql)
        metadata.create_all(connection, checkfirst=True)
