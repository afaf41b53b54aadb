"""Jobs: `originmark_jobs`, the batches, and (PostgreSQL) procrastinate's queue.

Revision ID: 0005_jobs
Revises: 0004_signing_policy
Create Date: 2026-11-26

Until this revision the jobs' tables were created on first use by app/jobs (under an advisory
lock), outside Alembic. Databases that ran jobs already have them: each table is created only
when missing, and a table that exists gets the columns added since (webhook_url, signed_output)
and the status index. On PostgreSQL procrastinate's schema is applied from a frozen copy of the
schema.sql of the procrastinate release we pin (migrations/sql/); when procrastinate is upgraded
and its release brings SQL migrations, a new revision applies them (tests/store/
test_jobs_migration.py fails until then: it compares procrastinate's newest migration with
PROCRASTINATE_SCHEMA_AT below).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic import context, op

revision: str = "0005_jobs"
down_revision: str | Sequence[str] | None = "0004_signing_policy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROCRASTINATE_SCHEMA_FILE = Path(__file__).resolve().parent.parent / "sql" / "procrastinate-3.10.0-schema.sql"
# procrastinate's newest SQL migration that the frozen schema includes.
PROCRASTINATE_SCHEMA_AT = "03.04.00_50_post_add_retry_failed_job_procedure"


def _tables() -> set[str]:
    if context.is_offline_mode():
        return set()
    return set(sa.inspect(op.get_bind()).get_table_names())


def upgrade() -> None:
    present = _tables()
    if "originmark_jobs" not in present:
        op.create_table(
            "originmark_jobs",
            sa.Column("id", sa.String(32), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("idempotency_key", sa.String(64), nullable=False),
            sa.Column("source", sa.Text(), nullable=False),
            sa.Column("media_id", sa.Text(), nullable=True),
            sa.Column("destination", sa.Text(), nullable=True),
            sa.Column("params", sa.Text(), nullable=True),
            sa.Column("key_id", sa.Text(), nullable=True),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
            sa.Column("queue_job_id", sa.BigInteger(), nullable=True),
            sa.Column("sha256", sa.String(64), nullable=True),
            sa.Column("error_code", sa.Text(), nullable=True),
            sa.Column("error_message", sa.Text(), nullable=True),
            sa.Column("webhook_url", sa.Text(), nullable=True),
            sa.Column("signed_output", sa.Text(), nullable=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.PrimaryKeyConstraint("id", name="pk_originmark_jobs"),
            sa.UniqueConstraint("idempotency_key", name="uq_originmark_jobs_idempotency_key"),
        )
    else:
        columns = {column["name"] for column in sa.inspect(op.get_bind()).get_columns("originmark_jobs")}
        for name in ("webhook_url", "signed_output"):
            if name not in columns:
                op.add_column("originmark_jobs", sa.Column(name, sa.Text(), nullable=True))
    op.create_index("ix_originmark_jobs_status", "originmark_jobs", ["status"])
    if "originmark_batches" not in present:
        op.create_table(
            "originmark_batches",
            sa.Column("id", sa.String(32), nullable=False),
            sa.Column("prefix", sa.Text(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
            sa.PrimaryKeyConstraint("id", name="pk_originmark_batches"),
        )
    if "originmark_batch_jobs" not in present:
        op.create_table(
            "originmark_batch_jobs",
            sa.Column("batch_id", sa.String(32), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            sa.Column("job_id", sa.String(32), nullable=False),
            sa.ForeignKeyConstraint(
                ["batch_id"], ["originmark_batches.id"], name="fk_originmark_batch_jobs_batch_id_originmark_batches"
            ),
            sa.ForeignKeyConstraint(
                ["job_id"], ["originmark_jobs.id"], name="fk_originmark_batch_jobs_job_id_originmark_jobs"
            ),
            sa.PrimaryKeyConstraint("batch_id", "position", name="pk_originmark_batch_jobs"),
        )
    if op.get_context().dialect.name == "postgresql" and "procrastinate_jobs" not in present:
        schema_sql = PROCRASTINATE_SCHEMA_FILE.read_text()
        if context.is_offline_mode():
            op.execute(schema_sql)
        else:
            # psycopg runs a multi-statement script when it is given no parameters; it lands in the
            # connection's search_path like every other table (procrastinate's SQL names no schema).
            driver = op.get_bind().connection.driver_connection
            assert isinstance(driver, psycopg.Connection)  # the only PostgreSQL driver originmark uses
            driver.execute(schema_sql)


def downgrade() -> None:
    op.drop_table("originmark_batch_jobs")
    op.drop_table("originmark_batches")
    op.drop_index("ix_originmark_jobs_status", table_name="originmark_jobs")
    op.drop_table("originmark_jobs")
    if op.get_context().dialect.name == "postgresql":
        _drop_procrastinate_schema()


def _drop_procrastinate_schema() -> None:
    """Everything procrastinate's schema.sql made in this schema: tables, functions, enum and composite types."""
    bind = op.get_bind()
    in_schema = "nspname = current_schema() AND {name} LIKE 'procrastinate\\_%'"
    for (table,) in bind.execute(sa.text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE c.relkind = 'r' AND {in_schema.format(name='c.relname')}"
    )).all():
        op.execute(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    for (function,) in bind.execute(sa.text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"WHERE {in_schema.format(name='p.proname')}"
    )).all():
        op.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")
    for (type_name,) in bind.execute(sa.text(
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
        # Enums, and composite types made by CREATE TYPE (a table's own row type goes with the table).
        "LEFT JOIN pg_class c ON c.oid = t.typrelid "
        f"WHERE (t.typtype = 'e' OR c.relkind = 'c') AND {in_schema.format(name='t.typname')}"
    )).all():
        op.execute(f'DROP TYPE IF EXISTS "{type_name}" CASCADE')
