"""The feed's signed thumbnails (table `feed_thumbnails`, migration 0013): one per (tenant, media id).

Every read names the tenant in its query, and is joined with the tenant's media row: a thumbnail
is served only while the media id still points at the content it was made from (a media id
re-pointed at other content shows its placeholder until its own thumbnail is made). A public read
(no API key) never sees a private one.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Engine, String, and_, bindparam, false, or_, select

from app.store.errors import database_errors_as_unavailable
from app.store.interface import Thumbnail
from app.store.repository_sql import public_store
from app.store.schema import feed_thumbnails, media
from app.store.validation import is_tenant_name
from app.store.verdicts import dialect_insert

_FIELDS = ("source_sha256", "content_type", "content", "private", "made_at")


class SqlThumbnailStore:
    """`ThumbnailStore` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, db_engine: Engine) -> None:
        self._db_engine = db_engine
        # Written only while the tenant's media row points at the thumbnail's source, tested in the
        # write itself: a thumbnail of old content finishing after the id was re-pointed (and the new
        # content's thumbnail kept) writes nothing, whatever the maker checked before its slow work.
        columns = ("tenant", "media_id", *_FIELDS)
        # Private also when the original's store it carries is no public signed entry's now: the
        # original may have been made private during the slow work (set_private sees what is committed).
        carried = bindparam("carried_manifest_id", type_=String)
        private = or_(
            bindparam("private", type_=Boolean),
            and_(carried.is_not(None), ~public_store(carried, bindparam("carried_store_sha256", type_=String))),
        )
        written = [
            private.label(name) if name == "private" else bindparam(name, type_=feed_thumbnails.c[name].type)
            for name in columns
        ]
        still_current = select(*written).where(
            select(media.c.media_id)
            .where(
                media.c.tenant == bindparam("tenant"),
                media.c.media_id == bindparam("media_id"),
                media.c.sha256 == bindparam("source_sha256"),
            )
            .exists()
        )
        statement = dialect_insert(db_engine)(feed_thumbnails).from_select(list(columns), still_current)
        self._upsert = statement.on_conflict_do_update(
            index_elements=[feed_thumbnails.c.tenant, feed_thumbnails.c.media_id],
            set_={name: statement.excluded[name] for name in _FIELDS},
        ).returning(feed_thumbnails.c.media_id)  # what was written (a driver's rowcount may say -1)
        current = select(
            feed_thumbnails.c.tenant,
            feed_thumbnails.c.media_id,
            *(feed_thumbnails.c[name] for name in _FIELDS),
        ).join(
            media,
            and_(
                media.c.tenant == feed_thumbnails.c.tenant,
                media.c.media_id == feed_thumbnails.c.media_id,
                media.c.sha256 == feed_thumbnails.c.source_sha256,
            ),
        )
        self._own = current.where(
            feed_thumbnails.c.tenant == bindparam("tenant_name"), feed_thumbnails.c.media_id == bindparam("media_id")
        )
        self._published = self._own.where(feed_thumbnails.c.private == false())

    def keep(self, thumbnail: Thumbnail, *, carries: tuple[str, str] | None = None) -> bool:
        carried_manifest_id, carried_store_sha256 = carries if carries is not None else (None, None)
        values = {
            "carried_manifest_id": carried_manifest_id,
            "carried_store_sha256": carried_store_sha256,
            "tenant": thumbnail.tenant,
            "media_id": thumbnail.media_id,
            "source_sha256": thumbnail.source_sha256,
            "content_type": thumbnail.content_type,
            "content": thumbnail.content,
            "private": thumbnail.private,
            "made_at": thumbnail.made_at,
        }
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            return connection.execute(self._upsert, values).first() is not None

    def thumbnail(self, tenant: str, media_id: str, *, public: bool) -> Thumbnail | None:
        if not is_tenant_name(tenant):
            return None
        query = self._published if public else self._own
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(query, {"tenant_name": tenant, "media_id": media_id}).first()
        if row is None:
            return None
        return Thumbnail(
            tenant=row.tenant,
            media_id=row.media_id,
            source_sha256=row.source_sha256,
            content_type=row.content_type,
            content=bytes(row.content),
            private=bool(row.private),
            made_at=row.made_at,
        )
