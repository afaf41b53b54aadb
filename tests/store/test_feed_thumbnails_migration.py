"""Migration 0013, on SQLite and PostgreSQL: tenants get `feed_thumbnails` (off for every tenant that
exists), the `feed_thumbnails` table appears; downgrade drops both, the tenants stay."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from alembic import command

from app.store.database import parse_database_url
from app.store.interface import Thumbnail
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade_database
from app.store.sql import open_store

BEFORE = "0012_replace_credentials"


def _inspect(database_url: str) -> tuple[set[str], set[str]]:
    db_engine = sa.create_engine(parse_database_url(database_url))
    try:
        inspector = sa.inspect(db_engine)
        return set(inspector.get_table_names()), {c["name"] for c in inspector.get_columns("tenants")}
    finally:
        db_engine.dispose()


def test_0013_turns_thumbnails_off_for_every_tenant_and_downgrades(database_url):
    command.upgrade(alembic_config(database_url), BEFORE)
    db_engine = sa.create_engine(parse_database_url(database_url))
    try:
        with db_engine.begin() as connection:
            connection.execute(
                sa.text("INSERT INTO tenants (name, object_prefixes, created_at) VALUES ('old', '[]', :now)"),
                {"now": datetime.datetime.now(datetime.UTC)},
            )
    finally:
        db_engine.dispose()
    tables, columns = _inspect(database_url)
    assert "feed_thumbnails" not in tables and "feed_thumbnails" not in columns

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision() == "0013_feed_thumbnails"
    with open_store(database_url, pool_size=1) as store:
        old = store.tenant("old")
        assert old is not None and old.feed_thumbnails is False  # off, as before
        assert store.set_feed_thumbnails("old", True) is not None
        assert not store.keep_thumbnail(
            Thumbnail(
                tenant="old",
                media_id="m",
                source_sha256="0" * 64,
                content_type="image/jpeg",
                content=b"\xff\xd8",
                private=False,
                made_at=datetime.datetime.now(datetime.UTC),
            )
        )
        # No media row points at that content: not written, not served (a stale thumbnail never is).
        assert store.thumbnail("old", "m", public=False) is None

    command.downgrade(alembic_config(database_url), BEFORE)
    tables, columns = _inspect(database_url)
    assert "feed_thumbnails" not in tables and "feed_thumbnails" not in columns
    upgrade_database(database_url)
    assert _inspect(database_url)[0] >= {"feed_thumbnails"}
