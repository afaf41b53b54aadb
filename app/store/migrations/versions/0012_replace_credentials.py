"""Replacing a file's own credentials is granted per API key and recorded in the audit log.

Revision ID: 0012_replace_credentials
Revises: 0011_tenant_sbr_public
Create Date: 2026-12-07

- `api_keys.may_replace_credentials`: the key's signing policy lets it drop the Content
  Credentials a file to sign already carries (`replace_credentials`) instead of keeping them as
  the signed file's parentOf ingredient. NOT NULL, server default false: every existing key stays
  denied, as it was; only the operator grants it (`originmark apikey policy KEY
  --allow-replace-credentials`).
- `audit_log.prior_credentials`: what a signature did with those credentials ("none", "kept",
  "replaced"), and `audit_log.replaced_manifest_id`: the label of the active manifest a
  replacement dropped; both covered by the record's hash and MAC from record version 3 on
  (app/store/audit_encoding.py). Nullable, no default: the records that exist keep their values
  and their version (1 or 2), so they verify as before.

Plain ADD COLUMN on both dialects, as in 0007: no table rebuild, so SQLite keeps the audit log's
append-only triggers, and no existing row is updated. The values are written out here (frozen).

Downgrade drops the three columns (SQLite >= 3.35 drops an audit_log column in place; api_keys in batch
mode). Grants are lost (keys are denied again). Records written as version 3 then no longer verify
with the older code (their hashes cover the dropped column): downgrade only a database that has not
signed since, or keep its `audit verify` report first.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_replace_credentials"
down_revision: str | Sequence[str] | None = "0011_tenant_sbr_public"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "api_keys", sa.Column("may_replace_credentials", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("audit_log", sa.Column("prior_credentials", sa.String(16), nullable=True))
    op.add_column("audit_log", sa.Column("replaced_manifest_id", sa.Text(), nullable=True))


def downgrade() -> None:
    # In place, as 0007's downgrade: a batch rebuild of audit_log would drop its triggers on SQLite.
    op.drop_column("audit_log", "replaced_manifest_id")
    op.drop_column("audit_log", "prior_credentials")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("may_replace_credentials")
