"""Webhooks on SQLite survive a restart: `originmark_jobs.webhook_pending`.

Revision ID: 0006_webhook_pending
Revises: 0005_jobs
Create Date: 2026-11-26

On SQLite there is no queue: the embedded pool delivers a final job's webhook itself. The flag is
set in the transaction that makes the job final and cleared once the event is delivered or given
up, so a server that stops in between delivers it when the next server process starts. NOT NULL
with a server default: existing rows get false in the same statement (no table rebuild).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_webhook_pending"
down_revision: str | Sequence[str] | None = "0005_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "originmark_jobs", sa.Column("webhook_pending", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("originmark_jobs") as batch:
        batch.drop_column("webhook_pending")
