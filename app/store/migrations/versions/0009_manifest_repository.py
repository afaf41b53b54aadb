"""The manifest repository: kept manifest stores, their soft bindings with a band index, takedowns.

Revision ID: 0009_manifest_repository
Revises: 0008_tenants
Create Date: 2026-12-07

- `repository_entries`: one row per kept manifest store (manifest id, owner tenant, asset
  SHA-256, origin `signed` / `verified`, private flag, the store bytes or their object URI).
- `repository_bindings`: the entries' soft bindings; for io.iscc.v0 the 64-bit code (as a
  signed BIGINT with the same bits) and the second-stage descriptor.
- `repository_buckets`: the band index (multi-index hashing: app/store/similarity.py), one row per
  band and 16-bit band value with the (binding id, code) pairs that have it, packed.
- `repository_deletions`: the takedowns recorded when an entry is deleted.

New tables only: nothing that exists is touched. Downgrade drops the four tables (and with them
every kept manifest store's row; stores in the object store stay there). The column widths are
written out here (frozen), not imported from the code.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_manifest_repository"
down_revision: str | Sequence[str] | None = "0008_tenants"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_MANIFEST_ID = sa.String(256)
_NAME = sa.String(64)
_SHA = sa.CHAR(64)
_WHEN = sa.DateTime(timezone=True)


def _entry_identity() -> tuple[sa.Column, ...]:
    """The columns an entry and the record of its deletion share."""
    return (
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("manifest_id", _MANIFEST_ID, nullable=False),
        sa.Column("tenant", _NAME, nullable=False),
        sa.Column("asset_sha256", _SHA, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
    )


def upgrade() -> None:
    op.create_table(
        "repository_entries",
        *_entry_identity(),
        sa.Column("private", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("store_size", sa.BigInteger(), nullable=False),
        sa.Column("store_sha256", _SHA, nullable=False),
        sa.Column("store_bytes", sa.LargeBinary(), nullable=True),
        sa.Column("store_object_uri", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_repository_entries"),
        sa.UniqueConstraint("manifest_id", "tenant", name="uq_repository_entries_manifest_id"),
    )
    op.create_table(
        "repository_bindings",
        sa.Column("id", _ID, nullable=False, autoincrement=True),
        sa.Column("entry_id", _ID, nullable=False),
        sa.Column("tenant", _NAME, nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("alg", sa.String(64), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("code64", sa.BigInteger(), nullable=True),
        sa.Column("descriptor", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["repository_entries.id"], name="fk_repository_bindings_entry_id_repository_entries"),
        sa.PrimaryKeyConstraint("id", name="pk_repository_bindings"),
    )
    op.create_index("ix_repository_bindings_entry_id", "repository_bindings", ["entry_id"])
    op.create_index("ix_repository_bindings_alg", "repository_bindings", ["alg", "value"])
    op.create_table(
        "repository_buckets",
        sa.Column("key", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("codes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_repository_buckets"),
    )
    op.create_table(
        "repository_deletions",
        *_entry_identity(),
        sa.Column("deleted_at", _WHEN, nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_repository_deletions"),
    )


def downgrade() -> None:
    op.drop_table("repository_deletions")
    op.drop_table("repository_buckets")
    op.drop_table("repository_bindings")  # its indexes go with it
    op.drop_table("repository_entries")
