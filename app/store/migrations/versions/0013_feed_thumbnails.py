"""A tenant may have its feed show the media: one small signed thumbnail kept per media id.

Revision ID: 0013_feed_thumbnails
Revises: 0012_replace_credentials
Create Date: 2026-12-07

- `tenants.feed_thumbnails`: the operator turned thumbnails on for the tenant (`originmark tenants
  update NAME --feed-thumbnails`). NOT NULL, server default false: every existing tenant keeps
  its placeholders, as before.
- `feed_thumbnails`: per (tenant, media id) the signed thumbnail rendition (a JPEG of at most
  320 px on its longest side, some tens of KB: in the database beside the verdicts, so a backup
  holds them and no object store is needed), the SHA-256 of the content it was made from (a media
  id pointed at other content serves no stale picture), and whether its original's repository entry
  is private (then only the tenant's keys may read it).

Column types are written out here (frozen), not imported from the code.

Downgrade drops both: the thumbnails are lost (they are made again on the next sign or verify).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_feed_thumbnails"
down_revision: str | Sequence[str] | None = "0012_replace_credentials"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("feed_thumbnails", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "feed_thumbnails",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("media_id", sa.String(200), nullable=False),
        sa.Column("source_sha256", sa.CHAR(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "media_id", name="pk_feed_thumbnails"),
    )


def downgrade() -> None:
    op.drop_table("feed_thumbnails")
    # SQLite drops a column by copying the table (batch mode); PostgreSQL in place.
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("feed_thumbnails")
