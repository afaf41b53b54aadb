"""Signing policy per API key: the generators and digital source types a key may claim.

Revision ID: 0004_signing_policy
Revises: 0003_media_recent_index
Create Date: 2026-11-28

Adds `allowed_generators` and `allowed_source_types` to `api_keys`: NOT NULL JSON arrays of
text, with the default policy as their server default, so every key that exists when this
runs gets it in the same statement (no row-by-row update, no table rebuild on SQLite):
any generator, and only the generated source types (trainedAlgorithmicMedia,
compositeWithTrainedAlgorithmicMedia, algorithmicMedia, compositeSynthetic). A key that must
claim `digitalCapture` or another non-generated type is granted it with
`originmark apikey policy`.

The default is written out here (frozen), not imported: this revision always makes the same
schema. tests/store/test_signing_policy.py checks that an upgraded key's policy is
`SigningPolicy.default()`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_signing_policy"
down_revision: str | Sequence[str] | None = "0003_media_recent_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DEFAULT_GENERATORS = '["*"]'
_DEFAULT_SOURCE_TYPES = (
    '["algorithmicMedia","compositeSynthetic","compositeWithTrainedAlgorithmicMedia","trainedAlgorithmicMedia"]'
)


def upgrade() -> None:
    op.add_column(
        "api_keys", sa.Column("allowed_generators", sa.Text(), nullable=False, server_default=_DEFAULT_GENERATORS)
    )
    op.add_column(
        "api_keys",
        sa.Column("allowed_source_types", sa.Text(), nullable=False, server_default=_DEFAULT_SOURCE_TYPES),
    )


def downgrade() -> None:
    # Batch mode: SQLite rebuilds the table (api_keys has no triggers to keep).
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("allowed_source_types")
        batch.drop_column("allowed_generators")
