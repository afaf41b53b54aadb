"""Verdicts by content hash, media ids pointing at them, and the feed's batch label read.

The label read (`labels_json_for`) is the hot path — tens of thousands of labels a second from a
web server — so it is one prebuilt statement, one primary-key lookup of the whole batch on
`media` (whose label copy spares a join), raw tuples out, and no decoding: the API sends the
stored JSON text.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Sequence

from sqlalchemy import Connection, Engine, and_, any_, bindparam, false, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ProgrammingError

from app.codec import label_from_json, label_to_json, verdict_from_json, verdict_to_json
from app.store.errors import StoreUnavailable, database_errors_as_unavailable
from app.store.interface import (
    MAX_LABEL_BATCH,
    MAX_MEDIA_IDS_PER_CONTENT,
    MAX_RECENT_LABELS,
    CachedVerdict,
    RecentLabel,
    StoredVerdict,
)
from app.store.schema import (
    entry_visible_to_viewer,
    feed_thumbnails,
    media,
    repository_entries,
    tenant_content,
    verdicts,
)
from app.store.validation import (
    check_media_id,
    check_sha256_hex,
    check_tenant_name,
    is_sha256_hex,
    is_tenant_name,
    media_id_problem,
)
from verifier.label_types import Label
from verifier.verdict import Verdict

# Matches the JSON of a Label with `recovered` true (app/codec.py writes it without spaces).
RECOVERED_LABEL_PATTERN = '%"recovered":true%'
_VERDICT_FIELDS = ("state", "label_kind", "verdict_json", "label_json", "trust_fingerprint", "stored_at")
_MEDIA_FIELDS = ("sha256", "label_json", "updated_at")


def dialect_insert(db_engine: Engine) -> Callable[..., postgresql.Insert | sqlite.Insert]:
    """INSERT with ON CONFLICT support for the database's dialect (both spell it the same way)."""
    return postgresql.insert if db_engine.dialect.name == "postgresql" else sqlite.insert


class SqlVerdictStore:
    """`VerdictStore` on SQLAlchemy Core; thread-safe (statements are immutable, connections pooled)."""

    def __init__(self, *, db_engine: Engine) -> None:
        self._db_engine = db_engine
        insert = dialect_insert(db_engine)
        verdict_insert = insert(verdicts)
        self._upsert_verdict = verdict_insert.on_conflict_do_update(
            index_elements=[verdicts.c.sha256],
            set_={name: verdict_insert.excluded[name] for name in _VERDICT_FIELDS},
        )
        media_insert = insert(media)
        self._upsert_media = media_insert.on_conflict_do_update(
            index_elements=[media.c.tenant, media.c.media_id],
            set_={name: media_insert.excluded[name] for name in _MEDIA_FIELDS},
        )
        self._record_content = insert(tenant_content).on_conflict_do_nothing(
            index_elements=[tenant_content.c.tenant, tenant_content.c.sha256]
        )
        # Whether a recovered label's manifest is still kept, read in the transaction that writes the
        # label (after its first write, so SQLite has serialised it against a takedown's delete). On
        # PostgreSQL FOR SHARE makes a takedown's delete wait for this commit (or this read wait for
        # the delete's), so its label reset, which runs after the delete, always sees this row.
        self._entry_still_kept = (
            select(repository_entries.c.id)
            # Still visible to the tenant the label is written for, as the lookup's own query had it.
            .where(repository_entries.c.manifest_id == bindparam("manifest_id"), entry_visible_to_viewer())
            .limit(1)
            .with_for_update(read=True)
        )
        # A rewritten verdict rewrites the label copies of every media id that points at it, except
        # a recovered label (credentials found by content match for that tenant, not a copy of the
        # verdict's: another tenant's verification of the same bytes must not overwrite it, nor
        # spread it). The JSON is the codec's own, without spaces.
        self._refresh_label_copies = (
            update(media)
            .where(
                media.c.sha256 == bindparam("of_sha256"),
                media.c.label_json != bindparam("new_label_json"),
                media.c.label_json.not_like(RECOVERED_LABEL_PATTERN),
            )
            .values(label_json=bindparam("new_label_json"), updated_at=bindparam("at"))
        )
        stored_columns = (
            verdicts.c.sha256,
            verdicts.c.verdict_json,
            verdicts.c.label_json,
            verdicts.c.trust_fingerprint,
            verdicts.c.stored_at,
        )
        self._cached = select(*stored_columns).where(verdicts.c.sha256 == bindparam("sha256"))
        # The cache, and whether the asking tenant sent these bytes before: one primary-key read each side.
        self._cached_for_tenant = (
            select(*stored_columns, tenant_content.c.sha256.is_not(None))
            .select_from(
                verdicts.outerjoin(
                    tenant_content,
                    and_(tenant_content.c.sha256 == verdicts.c.sha256, tenant_content.c.tenant == bindparam("tenant")),
                )
            )
            .where(verdicts.c.sha256 == bindparam("sha256"))
        )
        # Tenant-scoped in the statement itself: bytes the tenant never submitted read as unknown.
        # Each with the tenant's own time (when it sent the bytes / pointed the id at them): a
        # tenant is never shown when another tenant first sent the same bytes.
        self._by_sha256 = (
            select(*stored_columns, tenant_content.c.first_seen)
            .select_from(tenant_content.join(verdicts, tenant_content.c.sha256 == verdicts.c.sha256))
            .where(tenant_content.c.tenant == bindparam("tenant"), tenant_content.c.sha256 == bindparam("sha256"))
        )
        # The public form: only bytes the tenant published under one of its media ids (its feed
        # shows them anyway), never whatever else it submitted (moderation checks, unpublished outputs).
        self._published_by_sha256 = (
            select(*stored_columns, media.c.updated_at)
            .select_from(media.join(verdicts, media.c.sha256 == verdicts.c.sha256))
            .where(media.c.tenant == bindparam("tenant"), media.c.sha256 == bindparam("sha256"))
            .order_by(media.c.updated_at)
            .limit(1)
        )
        self._by_media_id = (
            select(*stored_columns, media.c.updated_at)
            .select_from(media.join(verdicts, media.c.sha256 == verdicts.c.sha256))
            .where(media.c.tenant == bindparam("tenant"), media.c.media_id == bindparam("media_id"))
        )
        # Tenant and hash both in the statement (ix_media_sha256 finds the rows): no other tenant's id can come out.
        self._media_ids_of_content = (
            select(media.c.media_id)
            .where(media.c.tenant == bindparam("tenant"), media.c.sha256 == bindparam("sha256"))
            .order_by(media.c.media_id)
            .limit(MAX_MEDIA_IDS_PER_CONTENT)
        )
        self._labels = select(media.c.media_id, media.c.label_json).where(
            media.c.tenant == bindparam("tenant"), any_of(db_engine, media.c.media_id, "media_ids")
        )
        # Newest first along ix_media_tenant_updated_at (a backward index scan, no sort), for feeds.
        # Whether each item has a feed thumbnail, in the same query: an outer join on the thumbnails'
        # primary key (one index probe per row of the page), only one made from the content the media
        # id points at now (what GET /v1/thumbnails serves); a public read counts no private one.
        recent = (
            select(
                media.c.media_id,
                media.c.label_json,
                media.c.updated_at,
                feed_thumbnails.c.media_id.is_not(None).label("has_thumbnail"),
            )
            .where(media.c.tenant == bindparam("tenant"))
            .order_by(media.c.updated_at.desc(), media.c.media_id.desc())
            .limit(bindparam("limit"))
        )
        thumbnail_of = and_(
            feed_thumbnails.c.tenant == media.c.tenant,
            feed_thumbnails.c.media_id == media.c.media_id,
            feed_thumbnails.c.source_sha256 == media.c.sha256,
        )
        self._recent = recent.select_from(media.outerjoin(feed_thumbnails, thumbnail_of))
        self._recent_public = recent.select_from(
            media.outerjoin(feed_thumbnails, and_(thumbnail_of, feed_thumbnails.c.private == false()))
        )
        self._ping = select(media.c.media_id).limit(0)  # fails on an unmigrated database too

    def save_verdict(
        self,
        *,
        tenant: str | None,
        verdict: Verdict,
        label: Label,
        trust_fingerprint: str,
        media_id: str | None = None,
        in_same_transaction: Callable[[Connection], None] | None = None,
        media_label: Label | None = None,
    ) -> StoredVerdict:
        """Store the verdict, record the tenant's submission of those bytes and point the tenant's
        media_id at it (showing `media_label` when given); `in_same_transaction` writes alongside it."""
        check_sha256_hex(verdict.sha256, what="verdict.sha256")
        if tenant is not None:
            check_tenant_name(tenant)
        if media_id is not None:
            check_media_id(media_id)
            if tenant is None:
                raise ValueError("a media id belongs to a tenant: name the tenant to store it under")
        stored_at = datetime.datetime.now(datetime.UTC)
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            if in_same_transaction is not None:
                in_same_transaction(connection)
            self.write_verdict(
                connection,
                tenant=tenant,
                verdict=verdict,
                label=label,
                trust_fingerprint=trust_fingerprint,
                media_id=media_id,
                stored_at=stored_at,
                media_label=media_label,
            )
        # db_engine.begin() has committed when the block ends: the verdict is durable from here on.
        return StoredVerdict(
            sha256=verdict.sha256,
            verdict=verdict,
            label=label,
            trust_fingerprint=trust_fingerprint,
            stored_at=stored_at,
            media_id=media_id,
        )

    def record_submission(
        self, *, tenant: str, stored: StoredVerdict, media_id: str | None = None, media_label: Label | None = None
    ) -> None:
        """The tenant sent bytes whose verdict is stored already: record that it did, and point its
        media id at them (a new id for bytes seen before). No verdict row is written."""
        check_tenant_name(tenant)
        if media_id is not None:
            check_media_id(media_id)
        now = datetime.datetime.now(datetime.UTC)
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            self._write_submission(
                connection,
                tenant=tenant,
                sha256=stored.sha256,
                media_id=media_id,
                own_label_json=label_to_json(stored.label),
                media_label=media_label,
                at=now,
            )

    def _write_submission(
        self,
        connection: Connection,
        *,
        tenant: str | None,
        sha256: str,
        media_id: str | None,
        own_label_json: str,
        media_label: Label | None,
        at: datetime.datetime,
    ) -> None:
        """The tenant sent these bytes (tenant_content), and its media id points at them, showing
        `media_label` if given, else the content's own label."""
        if tenant is not None:
            connection.execute(self._record_content, {"tenant": tenant, "sha256": sha256, "first_seen": at})
        if media_id is not None:
            label_json = self._shown_label_json(
                connection, tenant=tenant, own_label_json=own_label_json, media_label=media_label
            )
            connection.execute(
                self._upsert_media,
                {"tenant": tenant, "media_id": media_id, "sha256": sha256, "label_json": label_json, "updated_at": at},
            )

    def _shown_label_json(
        self, connection: Connection, *, tenant: str | None, own_label_json: str, media_label: Label | None
    ) -> str:
        """`media_label`, unless it was recovered from a manifest that a takedown removed (or its
        owner made private) since the lookup found it: then the content's own label (the reset
        that follows such a change may have run already)."""
        if media_label is None:
            return own_label_json
        manifest_id = media_label.recovered_manifest_id
        if manifest_id is not None:
            still = connection.execute(self._entry_still_kept, {"manifest_id": manifest_id, "viewer": tenant}).first()
            if still is None:
                return own_label_json
        return label_to_json(media_label)

    def write_verdict(
        self,
        connection: Connection,
        *,
        tenant: str | None,
        verdict: Verdict,
        label: Label,
        trust_fingerprint: str,
        media_id: str | None,
        stored_at: datetime.datetime,
        media_label: Label | None = None,
    ) -> None:
        """The statements of `save_verdict`, inside the caller's transaction."""
        label_json = label_to_json(label)
        connection.execute(
            self._upsert_verdict,
            {
                "sha256": verdict.sha256,
                "state": verdict.state.value,
                "label_kind": label.kind.value,
                "verdict_json": verdict_to_json(verdict),
                "label_json": label_json,
                "trust_fingerprint": trust_fingerprint,
                "stored_at": stored_at,
            },
        )
        connection.execute(
            self._refresh_label_copies, {"of_sha256": verdict.sha256, "new_label_json": label_json, "at": stored_at}
        )
        self._write_submission(
            connection,
            tenant=tenant,
            sha256=verdict.sha256,
            media_id=media_id,
            own_label_json=label_json,
            media_label=media_label,
            at=stored_at,
        )

    def forget_recovered_labels(self, manifest_id: str, *, except_tenant: str | None = None) -> int:
        """After a takedown: every media id showing a label recovered from `manifest_id` shows its
        content's own stored label again (every tenant's: the entry is gone for all; after its
        owner made it private, every tenant's but `except_tenant`'s). How many.
        The label JSON is the codec's (pydantic: compact, non-ASCII as is), matched as text."""
        pattern = (
            "%"
            + _like_escaped(
                json.dumps({"recovered_manifest_id": manifest_id}, separators=(",", ":"), ensure_ascii=False)[1:-1]
            )
            + "%"
        )
        own_label = select(verdicts.c.label_json).where(verdicts.c.sha256 == media.c.sha256).scalar_subquery()
        statement = (
            update(media)
            .where(media.c.label_json.like(pattern, escape="\\"))
            .values(label_json=own_label, updated_at=bindparam("at"))
        )
        if except_tenant is not None:
            statement = statement.where(media.c.tenant != except_tenant)
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            result = connection.execute(statement, {"at": datetime.datetime.now(datetime.UTC)})
        return result.rowcount

    def cached_verdict_for(self, tenant: str, sha256: str) -> CachedVerdict | None:
        if not is_sha256_hex(sha256) or not is_tenant_name(tenant):
            return None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(self._cached_for_tenant, {"tenant": tenant, "sha256": sha256}).first()
        if row is None:
            return None
        *stored_columns, submitted = row
        return CachedVerdict(stored=_stored(stored_columns, media_id=None), submitted=bool(submitted))

    def cached_verdict(self, sha256: str) -> StoredVerdict | None:
        if not is_sha256_hex(sha256):
            return None  # nothing else was ever stored (and PostgreSQL would reject a NUL in it)
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(self._cached, {"sha256": sha256}).first()
        return None if row is None else _stored(row, media_id=None)

    def verdict_by_sha256(self, tenant: str, sha256: str, *, published_only: bool = False) -> StoredVerdict | None:
        """`published_only`: only bytes under one of the tenant's media ids (public reads)."""
        if not is_sha256_hex(sha256) or not is_tenant_name(tenant):
            return None
        statement = self._published_by_sha256 if published_only else self._by_sha256
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(statement, {"tenant": tenant, "sha256": sha256}).first()
        return None if row is None else _stored(row, media_id=None)

    def verdict_by_media_id(self, tenant: str, media_id: str) -> StoredVerdict | None:
        if not _could_be_media_id(media_id) or not is_tenant_name(tenant):
            return None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(self._by_media_id, {"tenant": tenant, "media_id": media_id}).first()
        return None if row is None else _stored(row, media_id=media_id)

    def media_ids_for_sha256(self, tenant: str, sha256: str) -> list[str]:
        """The tenant's media ids for these bytes, sorted, at most MAX_MEDIA_IDS_PER_CONTENT."""
        if not is_sha256_hex(sha256) or not is_tenant_name(tenant):
            return []
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            return list(connection.execute(self._media_ids_of_content, {"tenant": tenant, "sha256": sha256}).scalars())

    def labels_json_for(self, tenant: str, media_ids: Sequence[str]) -> dict[str, str | None]:
        """Each id's stored label JSON (None when unknown), in one query; ids are answered once each.

        Ids that cannot be media ids (app/store/validation.py: empty, too long, other characters) are answered None without
        being sent to the database. More than MAX_LABEL_BATCH distinct ids is a ValueError.
        """
        answer: dict[str, str | None] = dict.fromkeys(media_ids)
        if len(answer) > MAX_LABEL_BATCH:
            raise ValueError(f"at most {MAX_LABEL_BATCH} media ids per label read, got {len(answer)}")
        wanted = [media_id for media_id in answer if _could_be_media_id(media_id)]
        if not wanted or not is_tenant_name(tenant):
            return answer
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            found = connection.execute(self._labels, {"tenant": tenant, "media_ids": wanted}).all()
        answer.update(found)
        return answer

    def recent_labels(self, tenant: str, limit: int, *, public: bool = False) -> list[RecentLabel]:
        """The tenant's `limit` most recently updated media ids with their stored label JSON, newest
        first, and whether each has a feed thumbnail (`public`: one anyone may read)."""
        if not isinstance(limit, int) or not 1 <= limit <= MAX_RECENT_LABELS:
            raise ValueError(f"the limit of a recent-labels read is 1 to {MAX_RECENT_LABELS}, got {limit!r:.40}")
        if not is_tenant_name(tenant):
            return []
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            query = self._recent_public if public else self._recent
            rows = connection.execute(query, {"tenant": tenant, "limit": limit}).all()
        return [
            RecentLabel(media_id=row[0], label_json=row[1], updated_at=row[2], has_thumbnail=bool(row[3]))
            for row in rows
        ]

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers and has the store's tables."""
        with database_errors_as_unavailable():
            try:
                with self._db_engine.connect() as connection:
                    connection.execute(self._ping).all()
            except ProgrammingError as error:  # PostgreSQL: the tables are missing (never migrated)
                raise StoreUnavailable(
                    f"the database has no originmark schema (run the migrations): {str(error.orig).splitlines()[0]}"
                ) from error


def any_of(db_engine: Engine, column, name: str):
    """`column IN (the list bound as `name`)`, in the form each dialect runs fastest.

    PostgreSQL: `= ANY(%(name)s)`, one array parameter — one statement text for every batch size,
    which psycopg prepares once on the server (measured 1.2 ms against 1.8 ms for a 100-id
    expanding IN on a million rows). SQLite: an expanding IN; sqlite3 caches a statement per length.
    """
    if db_engine.dialect.name == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _could_be_media_id(value: str) -> bool:
    return media_id_problem(value) is None


def _stored(row, *, media_id: str | None) -> StoredVerdict:
    """From the stored columns, and for tenant reads the tenant's own time (the later of the two is shown)."""
    sha256, verdict_json, label_json, trust_fingerprint, stored_at, *tenant_time = row
    if tenant_time and tenant_time[0] is not None:
        stored_at = max(stored_at, tenant_time[0])
    return StoredVerdict(
        sha256=sha256,
        verdict=verdict_from_json(verdict_json),
        label=label_from_json(label_json),
        trust_fingerprint=trust_fingerprint,
        stored_at=stored_at,
        media_id=media_id,
    )
