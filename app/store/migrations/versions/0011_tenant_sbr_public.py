"""A tenant's published repository entries may be read without an API key (`tenants.sbr_public`).

Revision ID: 0011_tenant_sbr_public
Revises: 0010_repository_visibility
Create Date: 2026-12-07

- `tenants.sbr_public`: the operator opened the tenant's shared manifest repository entries to
  public reading through the Soft Binding Resolution API (`originmark tenants update NAME
  --sbr-public`). NOT NULL, server default false: every existing tenant stays closed, as it was
  unless ORIGINMARK_SBR_PUBLIC_TENANTS names it (that setting is still honoured, deprecated: the
  column is not filled from it here, since a migration reads no environment).

Downgrade drops the column: tenants opened with it are closed again (the setting, if still set,
keeps opening the ones it names).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_tenant_sbr_public"
down_revision: str | Sequence[str] | None = "0010_repository_visibility"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("sbr_public", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # SQLite drops a column by copying the table (batch mode); PostgreSQL in place.
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("sbr_public")
