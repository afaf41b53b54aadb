"""Audit records name the claim and are authenticated with a key the database does not hold.

Revision ID: 0007_audit_claims
Revises: 0006_webhook_pending
Create Date: 2026-12-07

Adds to `audit_log`: `digital_source_type` and `title` (the claim as signed), `tenant` (NOT NULL,
server default 'default'), `hash_version` (NOT NULL, server default 1) and `mac_key_id` / `mac`
(HMAC-SHA256 under the audit key; app/store/audit_encoding.py, keys/audit_key.py).

Plain ADD COLUMN with server defaults on both dialects: no table rebuild, so SQLite keeps the
append-only triggers (a batch rebuild would drop them) and no existing row is updated. The rows
that exist get hash_version 1 and no MAC: they keep verifying with the frozen version 1 encoding,
reported as "not authenticated (written before audit keys)". Rows written from now on are
version 2. The values are written out here (frozen), not imported from the code.

Downgrade drops the columns (SQLite >= 3.35 drops a column in place, again without a rebuild).
Records written as version 2 then no longer verify with the older code (their hashes cover the
dropped columns): downgrade only a database that has not signed since, or keep its `audit verify`
report first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_audit_claims"
down_revision: str | Sequence[str] | None = "0006_webhook_pending"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def _columns() -> tuple[sa.Column, ...]:
    return (
        sa.Column("digital_source_type", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("tenant", sa.String(64), nullable=False, server_default="default"),
        sa.Column("hash_version", sa.SmallInteger(), nullable=False, server_default="1"),
        sa.Column("mac_key_id", sa.String(8), nullable=True),
        sa.Column("mac", sa.CHAR(64), nullable=True),
    )


def upgrade() -> None:
    for column in _columns():
        op.add_column("audit_log", column)


def downgrade() -> None:
    for column in reversed(_columns()):
        op.drop_column("audit_log", column.name)
