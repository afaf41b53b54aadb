"""An index for the feed's recent-items read: media by (updated_at, media_id).

Revision ID: 0003_media_recent_index
Revises: 0002_audit_hash_chain
Create Date: 2026-11-27

`GET /v1/labels/recent` reads the newest media rows: ORDER BY updated_at DESC,
media_id DESC LIMIT n. With this index both dialects walk it backwards and stop after n rows
(no sort, whatever the table's size); media_id makes the order total, so ties are stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_media_recent_index"
down_revision: str | Sequence[str] | None = "0002_audit_hash_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_media_updated_at", "media", ["updated_at", "media_id"])


def downgrade() -> None:
    op.drop_index("ix_media_updated_at", table_name="media")
