"""The record of every change of a repository entry's visibility (private / public again).

Revision ID: 0010_repository_visibility
Revises: 0009_manifest_repository
Create Date: 2026-12-08

- `repository_visibility_changes`: one row per change a tenant (its API key) or the operator's CLI
  made: the entry's manifest id and owner, the visibility it was given, when and by whom. Only ever
  inserted, like `repository_deletions`: a takedown or a dispute can tell when an entry stopped (or
  started again) being found by other tenants.

A new table only: nothing that exists is touched. Downgrade drops it. The column widths are
written out here (frozen), not imported from the code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_repository_visibility"
down_revision: str | Sequence[str] | None = "0009_manifest_repository"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "repository_visibility_changes",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("manifest_id", sa.String(256), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_repository_visibility_changes"),
    )


def downgrade() -> None:
    op.drop_table("repository_visibility_changes")
