"""Tenants: every key, media id, job and batch has an owner.

Revision ID: 0008_tenants
Revises: 0007_audit_claims
Create Date: 2026-12-07

- `tenants` is created with one row, `default`, and every existing API key, media id, job and
  batch is put into it (a NOT NULL `tenant` column whose server default is `default`: existing
  rows get it in the same statement). `default` starts with no object prefixes (secure by
  default: an operator grants them with `originmark tenants update default --object-prefix`).
- `media` gets the primary key (tenant, media_id): tenant A's `post-1` and tenant B's `post-1`
  are two items. PostgreSQL changes the key in place; SQLite cannot alter a primary key, so the
  table is copied (media has no triggers and nothing refers to it).
- `originmark_jobs.source_pin`: what a job's source was at submit (jobs submitted before have
  none and are not checked).
- `tenant_content` records which tenant submitted or signed which bytes; every stored verdict so
  far was submitted by the one tenant there was, so each gets a `default` row.

Downgrade keeps only `default`'s media ids (the old key has room for one owner per id), and
since the older schema has no owners at all, it revokes the API keys of every other tenant and
fails their queued or running jobs (`tenant_removed`): otherwise their keys would read and write
`default`'s data, and their jobs would run for nobody.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_tenants"
down_revision: str | Sequence[str] | None = "0007_audit_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = sa.String(64)
_SHA = sa.CHAR(64)
_WHEN = sa.DateTime(timezone=True)
_OWNED_TABLES = ("api_keys", "originmark_jobs", "originmark_batches")


def _tenant_column() -> sa.Column[str]:
    return sa.Column("tenant", _NAME, nullable=False, server_default="default")


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", _NAME, nullable=False),
        sa.Column("object_prefixes", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("webhook_secret_generation", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_tenants"),
    )
    op.execute(
        sa.text("INSERT INTO tenants (name, object_prefixes, created_at) VALUES ('default', '[]', CURRENT_TIMESTAMP)")
    )
    for table in _OWNED_TABLES:
        op.add_column(table, _tenant_column())
    op.add_column("originmark_jobs", sa.Column("source_pin", sa.Text(), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        op.add_column("media", _tenant_column())
        op.drop_constraint("pk_media", "media", type_="primary")
        op.create_primary_key("pk_media", "media", ["tenant", "media_id"])
        op.drop_index("ix_media_updated_at", table_name="media")
    else:
        _copy_media(with_tenant=True)
    op.create_index("ix_media_tenant_updated_at", "media", ["tenant", "updated_at", "media_id"])

    op.create_table(
        "tenant_content",
        sa.Column("tenant", _NAME, nullable=False),
        sa.Column("sha256", _SHA, nullable=False),
        sa.Column("first_seen", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["verdicts.sha256"], name="fk_tenant_content_sha256_verdicts"),
        sa.PrimaryKeyConstraint("tenant", "sha256", name="pk_tenant_content"),
    )
    op.execute(
        sa.text("INSERT INTO tenant_content (tenant, sha256, first_seen) SELECT 'default', sha256, stored_at FROM verdicts")
    )


def downgrade() -> None:
    op.execute(
        sa.text("UPDATE api_keys SET revoked_at = CURRENT_TIMESTAMP WHERE tenant <> 'default' AND revoked_at IS NULL")
    )
    op.execute(
        sa.text(
            "UPDATE originmark_jobs SET status = 'failed', error_code = 'tenant_removed', "
            "error_message = 'tenants were removed by a schema downgrade' "
            "WHERE tenant <> 'default' AND status IN ('queued', 'running')"
        )
    )
    op.drop_table("tenant_content")
    op.drop_index("ix_media_tenant_updated_at", table_name="media")
    op.execute(sa.text("DELETE FROM media WHERE tenant <> 'default'"))
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_media", "media", type_="primary")
        op.drop_column("media", "tenant")
        op.create_primary_key("pk_media", "media", ["media_id"])
        op.create_index("ix_media_updated_at", "media", ["updated_at", "media_id"])
    else:
        _copy_media(with_tenant=False)
    with op.batch_alter_table("originmark_jobs") as batch:
        batch.drop_column("source_pin")
    for table in _OWNED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
    op.drop_table("tenants")


def _copy_media(*, with_tenant: bool) -> None:
    """SQLite: `media` rebuilt with (tenant, media_id) or (media_id) as its primary key."""
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("media_id", sa.String(200), nullable=False),
        sa.Column("sha256", _SHA, nullable=False),
        sa.Column("label_json", sa.Text(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["verdicts.sha256"], name="fk_media_sha256_verdicts"),
    ]
    if with_tenant:
        columns = [_tenant_column(), *columns, sa.PrimaryKeyConstraint("tenant", "media_id", name="pk_media")]
    else:
        columns = [*columns, sa.PrimaryKeyConstraint("media_id", name="pk_media")]
    op.create_table("media_copy", *columns)
    shared = "media_id, sha256, label_json, updated_at"
    op.execute(sa.text(f"INSERT INTO media_copy ({shared}) SELECT {shared} FROM media"))
    op.drop_index("ix_media_sha256", table_name="media")
    if with_tenant:
        op.drop_index("ix_media_updated_at", table_name="media")  # (downgrade dropped the tenant one already)
    op.drop_table("media")
    op.rename_table("media_copy", "media")
    op.create_index("ix_media_sha256", "media", ["sha256"])
    if not with_tenant:
        op.create_index("ix_media_updated_at", "media", ["updated_at", "media_id"])
