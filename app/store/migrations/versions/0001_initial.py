"""Initial schema: verdicts, media, api_keys, and the append-only audit_log.

Revision ID: 0001_initial
Revises:
Create Date: 2026-05-01

Written out by hand (not created from app/store/schema.py at run time) so that this revision
always makes the same schema; tests/store checks that head matches schema.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SHA = sa.CHAR(64)
_WHEN = sa.DateTime(timezone=True)

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

# Statement-level: even an UPDATE or DELETE that matches no row is refused, and so is TRUNCATE.
# restrict_violation (23001) reaches Python as an IntegrityError, as SQLite's RAISE(ABORT) does.
# No '%' in the SQL: `alembic upgrade --sql` would double it for the driver's paramstyle.
_POSTGRESQL_TRIGGERS = (
    """
    CREATE FUNCTION audit_log_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING
            MESSAGE = 'audit_log is append-only: ' || TG_OP || ' is not allowed',
            ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    """
    CREATE TRIGGER audit_log_reject_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_reject_change()
    """,
)


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("sha256", _SHA, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("label_kind", sa.String(32), nullable=False),
        sa.Column("verdict_json", sa.Text(), nullable=False),
        sa.Column("label_json", sa.Text(), nullable=False),
        sa.Column("trust_fingerprint", sa.String(128), nullable=False),
        sa.Column("stored_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_verdicts"),
    )
    op.create_table(
        "media",
        sa.Column("media_id", sa.String(200), nullable=False),
        sa.Column("sha256", _SHA, nullable=False),
        sa.Column("label_json", sa.Text(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("media_id", name="pk_media"),
        sa.ForeignKeyConstraint(["sha256"], ["verdicts.sha256"], name="fk_media_sha256_verdicts"),
    )
    op.create_index("ix_media_sha256", "media", ["sha256"])
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(12), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", _SHA, nullable=False),
        sa.Column("scopes", sa.String(100), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(12), nullable=True),
        sa.Column("signed_at", _WHEN, nullable=False),
        sa.Column("input_sha256", _SHA, nullable=False),
        sa.Column("output_sha256", _SHA, nullable=False),
        sa.Column("manifest_label", sa.Text(), nullable=True),
        sa.Column("certificate_fingerprint", _SHA, nullable=False),
        sa.Column("generator", sa.Text(), nullable=False),
        sa.Column("generator_version", sa.Text(), nullable=True),
        sa.Column("media_id", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_signed_at", "audit_log", ["signed_at"])
    dialect = op.get_bind().dialect.name
    for statement in _POSTGRESQL_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_reject_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_reject_change()")
    else:
        op.execute("DROP TRIGGER audit_log_reject_update")
        op.execute("DROP TRIGGER audit_log_reject_delete")
    op.drop_index("ix_audit_log_signed_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
    op.drop_index("ix_media_sha256", table_name="media")
    op.drop_table("media")
    op.drop_table("verdicts")
