"""Audit log hash chain: every record carries its predecessor's hash and its own.

Revision ID: 0002_audit_hash_chain
Revises: 0001_initial
Create Date: 2026-11-27

Adds `prev_hash` and `record_hash` (NOT NULL) and a unique index on `prev_hash` (the chain
cannot fork). Records already in the log are chained here, in id order from the genesis
value, with the same encoding the store appends with (app.store.audit.record_hash, frozen as
version 1), so an upgraded database verifies with `originmark audit verify`.

Filling the new columns is an UPDATE, which the append-only triggers refuse: they are switched
off for the length of this migration's transaction and back on before it commits (PostgreSQL:
DISABLE/ENABLE TRIGGER; SQLite: the triggers are dropped and made again, as the table is
rebuilt anyway to make the columns NOT NULL). The whole upgrade is one transaction on both
dialects (app/store/migrations/env.py), so no half-chained log is ever visible.

Needs a database connection (`alembic upgrade --sql` cannot compute the hashes).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from app.store.audit import ENTRY_FIELDS, GENESIS_HASH, record_hash

revision: str = "0002_audit_hash_chain"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHA = sa.CHAR(64)
_BATCH = 5000

# The audit_log columns as revision 0001 made them (frozen here: not the code's current schema).
_audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.BigInteger()),
    sa.column("key_id", sa.String()),
    sa.column("signed_at", sa.DateTime(timezone=True)),
    sa.column("input_sha256", sa.String()),
    sa.column("output_sha256", sa.String()),
    sa.column("manifest_label", sa.Text()),
    sa.column("certificate_fingerprint", sa.String()),
    sa.column("generator", sa.Text()),
    sa.column("generator_version", sa.Text()),
    sa.column("media_id", sa.String()),
    sa.column("prev_hash", sa.String()),
    sa.column("record_hash", sa.String()),
)

# As in 0001_initial.
_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER audit_log_reject_update BEFORE UPDATE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE is not allowed'); END
    """,
    """
    CREATE TRIGGER audit_log_reject_delete BEFORE DELETE ON audit_log
    BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE is not allowed'); END
    """,
)


def _allow_updates(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_reject_change")
    else:
        op.execute("DROP TRIGGER audit_log_reject_update")
        op.execute("DROP TRIGGER audit_log_reject_delete")


def _refuse_updates_again(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_reject_change")
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)


def _chain_existing_records(connection: sa.Connection) -> None:
    """Compute prev_hash/record_hash for every record, in id order, a batch at a time."""
    fields = [_audit_log.c[name] for name in ENTRY_FIELDS]
    page = (
        sa.select(_audit_log.c.id, *fields)
        .where(_audit_log.c.id > sa.bindparam("after_id"))
        .order_by(_audit_log.c.id)
        .limit(_BATCH)
    )
    fill = (
        sa.update(_audit_log)
        .where(_audit_log.c.id == sa.bindparam("record_id"))
        .values(prev_hash=sa.bindparam("new_prev_hash"), record_hash=sa.bindparam("new_record_hash"))
    )
    prev_hash, after_id = GENESIS_HASH, 0
    while rows := connection.execute(page, {"after_id": after_id}).all():
        updates = []
        for record_id, *values in rows:
            own_hash = record_hash(dict(zip(ENTRY_FIELDS, values, strict=True)), prev_hash=prev_hash)
            updates.append({"record_id": record_id, "new_prev_hash": prev_hash, "new_record_hash": own_hash})
            prev_hash, after_id = own_hash, record_id
        connection.execute(fill, updates)


def upgrade() -> None:
    if context.is_offline_mode():
        raise RuntimeError("0002_audit_hash_chain computes hashes of existing records: run it online")
    connection = op.get_bind()
    dialect = connection.dialect.name
    _allow_updates(dialect)
    op.add_column("audit_log", sa.Column("prev_hash", _SHA, nullable=True))
    op.add_column("audit_log", sa.Column("record_hash", _SHA, nullable=True))
    _chain_existing_records(connection)
    # SQLite cannot alter a column: batch mode rebuilds the table (copying rows, keeping indexes).
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("prev_hash", existing_type=_SHA, nullable=False)
        batch.alter_column("record_hash", existing_type=_SHA, nullable=False)
    op.create_index("ix_audit_log_prev_hash", "audit_log", ["prev_hash"], unique=True)
    _refuse_updates_again(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _allow_updates(dialect)  # the rebuild below would drop them anyway
    op.drop_index("ix_audit_log_prev_hash", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("record_hash")
        batch.drop_column("prev_hash")
    if dialect == "sqlite":
        _refuse_updates_again(dialect)
