"""`SqlManifestRepository`: the manifest repository (app/store/repository.py) on SQLite and PostgreSQL.

Similarity search is multi-index hashing (app/store/similarity.py): one primary-key read of the
band rows a search needs (each lists the codes with that band value), the exact Hamming distance
of every code found computed here, and a second statement that reads the entries of the few
within the radius with the visibility test in it (the band rows are tenant-independent).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator, Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Insert,
    Row,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from app.store.errors import StoreUnavailable, database_errors_as_unavailable
from app.store.iscc_units import iscc_video_code64
from app.store.repository import (
    ISCC_ALG,
    MAX_ALG_LENGTH,
    MAX_BINDING_VALUE_BYTES,
    MAX_BINDINGS_PER_ENTRY,
    MAX_CANDIDATES,
    MAX_DESCRIPTOR_BYTES,
    MAX_MANIFEST_ID_LENGTH,
    VIEW_ALG,
    Candidate,
    Deletion,
    EntryOrigin,
    NewEntry,
    RepositoryEntry,
    RepositoryStats,
    SoftBinding,
    StoredManifest,
)
from app.store.schema import (
    entry_visible_to_viewer,
    feed_thumbnails,
    repository_bindings,
    repository_buckets,
    repository_deletions,
    repository_entries,
    repository_visibility_changes,
    verdicts,
)
from app.store.similarity import (
    CodeSpace,
    bucket_keys,
    check_code64,
    check_radius,
    codes_within,
    pack_pairs,
    probe_keys,
    to_signed,
    to_unsigned,
    unpack_pairs,
)
from app.store.validation import check_sha256_hex, check_tenant_name, is_tenant_name
from app.store.verdicts import any_of, dialect_insert

_EXPORT_BATCH = 500
_DELETION_COLUMNS = ("manifest_id", "tenant", "asset_sha256", "deleted_at", "actor", "reason")
_entries = repository_entries.c
_bindings = repository_bindings.c
_buckets = repository_buckets.c


def public_store(manifest_id: ColumnElement[str], store_sha256: ColumnElement[str]) -> ColumnElement[bool]:
    """Whether anyone may read this manifest store, as a write's own condition: a public entry its
    signer keeps with the very same store bytes (a store kept on verify, or a signer's private one,
    is one tenant's only). The one rule for what carries a store (a rendition's entry, a feed
    thumbnail): decided in the transaction that writes it, so a change of visibility committed
    meanwhile is seen (SqlManifestRepository.set_private then finds what was written before it)."""
    return (
        select(_entries.id)
        .where(
            _entries.manifest_id == manifest_id,
            _entries.store_sha256 == store_sha256,
            _entries.origin == EntryOrigin.SIGNED.value,
            _entries.private.is_(False),
        )
        .exists()
    )


def manifest_id_problem(value: object) -> str | None:
    """None for a plausible manifest id (a URN as the engine writes it), else what is wrong."""
    if not isinstance(value, str):
        return "is not a string"
    if not value or len(value) > MAX_MANIFEST_ID_LENGTH:
        return f"is 1 to {MAX_MANIFEST_ID_LENGTH} characters"
    if not value.isprintable() or " " in value:
        return "contains spaces or control characters"
    return None


def _check_manifest_id(value: str) -> None:
    problem = manifest_id_problem(value)
    if problem is not None:
        raise ValueError(f"a manifest id {problem}, got {value!r:.80}")


def _check_bindings(bindings: Sequence[SoftBinding]) -> None:
    if len(bindings) > MAX_BINDINGS_PER_ENTRY:
        raise ValueError(f"an entry has at most {MAX_BINDINGS_PER_ENTRY} soft bindings, got {len(bindings)}")
    for binding in bindings:
        if not binding.alg or len(binding.alg) > MAX_ALG_LENGTH or not binding.alg.isprintable():
            raise ValueError(
                f"a soft binding's alg is 1 to {MAX_ALG_LENGTH} printable characters, got {binding.alg!r:.80}"
            )
        if not isinstance(binding.value, bytes) or not 0 < len(binding.value) <= MAX_BINDING_VALUE_BYTES:
            raise ValueError(f"a soft binding's value is 1 to {MAX_BINDING_VALUE_BYTES} bytes")
        if binding.code64 is not None:
            if binding.alg not in (ISCC_ALG, VIEW_ALG):
                raise ValueError(
                    f"only {ISCC_ALG} bindings (and {VIEW_ALG} rows) carry a code64, not {binding.alg!r:.80}"
                )
            check_code64(binding.code64)
            if (
                _space(binding.alg, binding.value) is CodeSpace.VIDEO
                and iscc_video_code64(binding.value) != binding.code64
            ):
                # Its band rows follow from the value (`_index`, `_unindex`): the code must be the value's.
                raise ValueError("a Video-Code binding's code64 is the first 64 bits of its ISCC unit's body")
        elif binding.is_view:
            raise ValueError(f"a {VIEW_ALG} row is a code64 to index: it has one")
        if binding.descriptor is not None and len(binding.descriptor) > MAX_DESCRIPTOR_BYTES:
            raise ValueError(f"a descriptor is at most {MAX_DESCRIPTOR_BYTES} bytes")


def _candidate(row, distance: int) -> Candidate:
    """A row of the candidates' read (SqlManifestRepository._candidates' columns)."""
    return Candidate(
        manifest_id=row.manifest_id,
        tenant=row.tenant,
        asset_sha256=row.asset_sha256,
        origin=EntryOrigin(row.origin),
        created_at=row.created_at,
        code64=None if row.code64 is None else to_unsigned(row.code64),
        descriptor=row.descriptor,
        distance=distance,
        view=bytes(row.value).decode("ascii", "replace") if row.alg == VIEW_ALG else None,
    )


def _visible_to_tenant(shared_column, tenant_column):
    """Visible to the tenant bound as :viewer: its own, or shared (signed and not private)."""
    return or_(shared_column.is_(True), tenant_column == bindparam("viewer"))


class SqlManifestRepository:
    """`ManifestRepository` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, db_engine: Engine) -> None:
        self._db_engine = db_engine
        self._postgres = db_engine.dialect.name == "postgresql"
        # A duplicate (manifest id, tenant) inserts nothing and returns no id: no IntegrityError, so
        # no savepoint is needed to keep the caller's transaction usable on PostgreSQL.
        self._insert_entry = (
            dialect_insert(db_engine)(repository_entries)
            .on_conflict_do_nothing(index_elements=[_entries.manifest_id, _entries.tenant])
            .returning(_entries.id)
        )
        # Every binding of an entry in one statement (executemany with RETURNING: SQLAlchemy sends
        # multi-row VALUES); the index needs each row's id and code, not which binding it was.
        self._insert_bindings = insert(repository_bindings).returning(
            _bindings.id, _bindings.code64, _bindings.alg, _bindings.value
        )
        bucket_insert = dialect_insert(db_engine)(repository_buckets)
        # PostgreSQL appends in one statement, under the row's lock (bytea || bytea). SQLite's ||
        # makes text of blobs; its writer holds the database's one write lock from its first write
        # (the entry's INSERT) on, so the row is read and rewritten whole instead.
        appended = (
            _buckets.codes.op("||")(bucket_insert.excluded.codes) if self._postgres else bucket_insert.excluded.codes
        )
        self._append_to_bucket = bucket_insert.on_conflict_do_update(
            index_elements=[_buckets.key], set_={"codes": appended}
        )
        self._set_bucket = (
            update(repository_buckets)
            .where(_buckets.key == bindparam("bucket_key"))
            .values(codes=bindparam("new_codes"))
        )
        self._bucket_for_update = select(_buckets.codes).where(_buckets.key == bindparam("key")).with_for_update()
        self._buckets_held = select(_buckets.key, _buckets.codes).where(any_of(db_engine, _buckets.key, "keys"))
        entry_columns = (
            _entries.id,
            _entries.manifest_id,
            _entries.tenant,
            _entries.asset_sha256,
            _entries.origin,
            _entries.private,
            _entries.created_at,
            _entries.store_size,
            _entries.store_sha256,
            _entries.store_bytes,
            _entries.store_object_uri,
        )
        self._entry_columns = entry_columns
        # The tenant's own entry first, else a shared one: one indexed read (uq on manifest_id, tenant).
        self._by_manifest_id = (
            select(*entry_columns)
            .where(
                _entries.manifest_id == bindparam("manifest_id"),
                entry_visible_to_viewer(),
            )
            .order_by(case((_entries.tenant == bindparam("viewer"), 0), else_=1), _entries.id)
            .limit(1)
        )
        self._visible_with_ids = select(*entry_columns).where(
            any_of(self._db_engine, _entries.manifest_id, "manifest_ids"), entry_visible_to_viewer()
        )
        self._owned = select(*entry_columns).where(
            _entries.manifest_id == bindparam("manifest_id"), _entries.tenant == bindparam("owner")
        )
        self._every_owner = (
            select(*entry_columns).where(_entries.manifest_id == bindparam("manifest_id")).order_by(_entries.tenant)
        )
        binding_columns = (_bindings.entry_id, _bindings.alg, _bindings.value, _bindings.code64, _bindings.descriptor)
        # An entry's soft bindings are its manifest's: the index-only view rows are not among them.
        self._bindings_of = (
            select(*binding_columns)
            .where(any_of(self._db_engine, _bindings.entry_id, "entry_ids"), _bindings.alg != VIEW_ALG)
            .order_by(_bindings.id)
        )
        self._candidates_with_views = (
            select(
                _bindings.id,
                _bindings.alg,
                _bindings.value,
                _bindings.code64,
                _bindings.descriptor,
                _entries.manifest_id,
                _entries.tenant,
                _entries.asset_sha256,
                _entries.origin,
                _entries.created_at,
            )
            .select_from(repository_bindings.join(repository_entries, _entries.id == _bindings.entry_id))
            .where(
                any_of(self._db_engine, _bindings.id, "binding_ids"),
                _visible_to_tenant(_bindings.shared, _bindings.tenant),
            )
        )
        self._candidates = self._candidates_with_views.where(_bindings.alg != VIEW_ALG)
        # Exact (alg, value): ix_repository_bindings_alg; the visibility test in the statement itself.
        self._with_value = (
            select(*self._candidates.selected_columns)
            .select_from(repository_bindings.join(repository_entries, _entries.id == _bindings.entry_id))
            .where(
                _bindings.alg == bindparam("alg"),
                _bindings.value == bindparam("value"),
                _visible_to_tenant(_bindings.shared, _bindings.tenant),
            )
            .order_by(_entries.created_at.desc(), _entries.manifest_id)
            .limit(MAX_CANDIDATES)
        )
        self._export_batch = (
            select(*entry_columns).where(_entries.id > bindparam("after_id")).order_by(_entries.id).limit(_EXPORT_BATCH)
        )

    # Writing

    def add_entry(self, entry: NewEntry) -> None:
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            self.write_entry(connection, entry)

    def write_entry(self, connection: Connection, entry: NewEntry) -> None:
        _check_manifest_id(entry.manifest_id)
        check_tenant_name(entry.tenant)
        check_sha256_hex(entry.asset_sha256, what="asset_sha256")
        check_sha256_hex(entry.store.sha256, what="store.sha256")
        _check_bindings(entry.bindings)
        origin = EntryOrigin(entry.origin)
        entry_id = connection.execute(
            self._insert_entry,
            {
                "manifest_id": entry.manifest_id,
                "tenant": entry.tenant,
                "asset_sha256": entry.asset_sha256,
                "origin": origin.value,
                "private": entry.private,
                "created_at": datetime.datetime.now(datetime.UTC),
                "store_size": entry.store.size,
                "store_sha256": entry.store.sha256,
                "store_bytes": entry.store.inline,
                "store_object_uri": entry.store.object_uri,
            },
        ).scalar_one_or_none()
        if entry_id is None:
            raise ValueError(f"the tenant {entry.tenant!r} keeps an entry for {entry.manifest_id!r:.80} already")
        if entry.private:
            assert entry.private_by is not None  # NewEntry checks it
            connection.execute(self._visibility_change(entry.manifest_id, entry.tenant, True, actor=entry.private_by))
        if not entry.bindings:
            return
        shared = origin is EntryOrigin.SIGNED and not entry.private
        written = connection.execute(
            self._insert_bindings, [_binding_row(entry_id, entry.tenant, shared, binding) for binding in entry.bindings]
        ).all()
        self._index(
            connection,
            [
                (binding_id, to_unsigned(code), _space(alg, bytes(value)))
                for binding_id, code, alg, value in written
                if code is not None
            ],
        )

    def _index(self, connection: Connection, codes: list[tuple[int, int, CodeSpace]]) -> None:
        """List each (binding id, code) in its four band rows of its key space: one statement for all of
        them, its rows in key order (PostgreSQL takes the row locks in that order: no deadlock between
        two writers)."""
        appends: dict[int, list[tuple[int, int]]] = {}
        for binding_id, code64, space in codes:
            for key in bucket_keys(code64, space):
                appends.setdefault(key, []).append((binding_id, to_signed(code64)))
        if not appends:
            return
        keys = sorted(appends)
        held: dict[int, bytes] = {}
        if not self._postgres:
            # The rows this writer rewrites whole (it holds SQLite's write lock since the entry's INSERT).
            held = {key: bytes(codes) for key, codes in connection.execute(self._buckets_held, {"keys": keys})}
        connection.execute(
            self._append_to_bucket,
            [{"key": key, "codes": held.get(key, b"") + pack_pairs(appends[key])} for key in keys],
        )

    def _unindex(self, connection: Connection, entry_id: int) -> None:
        """Remove the entry's codes from their band rows (locked in key order, as `_index` does)."""
        codes = connection.execute(
            select(_bindings.id, _bindings.code64, _bindings.alg, _bindings.value).where(
                _bindings.entry_id == entry_id, _bindings.code64.is_not(None)
            )
        ).all()
        removed: dict[int, set[int]] = {}
        for binding_id, stored, alg, value in codes:
            for key in bucket_keys(to_unsigned(stored), _space(alg, bytes(value))):
                removed.setdefault(key, set()).add(binding_id)
        for key in sorted(removed):
            blob = connection.execute(self._bucket_for_update, {"key": key}).scalar_one_or_none()
            kept = [pair for pair in unpack_pairs(blob or b"") if pair[0] not in removed[key]]
            if kept:
                connection.execute(self._set_bucket, {"bucket_key": key, "new_codes": pack_pairs(kept)})
            else:
                connection.execute(delete(repository_buckets).where(_buckets.key == key))

    def set_private(self, tenant: str, manifest_id: str, private: bool, *, actor: str) -> bool:
        if not actor:
            raise ValueError("a change of visibility names who made it (actor)")
        if not is_tenant_name(tenant) or manifest_id_problem(manifest_id) is not None:
            return False
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            row = connection.execute(self._owned, {"owner": tenant, "manifest_id": manifest_id}).first()
            if row is None:
                return False
            connection.execute(update(repository_entries).where(_entries.id == row.id).values(private=private))
            shared = row.origin == EntryOrigin.SIGNED.value and not private
            connection.execute(update(repository_bindings).where(_bindings.entry_id == row.id).values(shared=shared))
            connection.execute(self._visibility_change(manifest_id, tenant, private, actor=actor))
            if private and row.origin == EntryOrigin.SIGNED.value:
                self._derived_made_private(connection, manifest_id, row.asset_sha256, actor=actor)
            elif private:
                # A verify-kept copy is its tenant's alone: the signer's store (and whatever carries it,
                # others' renditions and thumbnails) stays as its signer set it. Only the tenant's own
                # thumbnails of these bytes follow its copy.
                connection.execute(
                    update(feed_thumbnails)
                    .where(feed_thumbnails.c.tenant == tenant, feed_thumbnails.c.source_sha256 == row.asset_sha256)
                    .values(private=True)
                )
        return True

    def _derived_made_private(self, connection: Connection, manifest_id: str, asset_sha256: str, *, actor: str) -> None:
        """What carries the entry's store made private with it, in its transaction: the signed entries
        of renditions and thumbnails whose history names `manifest_id` (whoever signed them: a rendition
        is public only while its original's store is), and the feed thumbnails made of those files or of
        the original's own bytes. Made public again, they stay private (their owners decide).

        The rendition's stored verdict lists its whole history (its ingredients' manifest ids): the
        link is found there, with no column of its own; a rare write, so its scan of the signed
        entries' verdicts is acceptable."""
        derived = connection.execute(
            select(_entries.id, _entries.manifest_id, _entries.tenant, _entries.asset_sha256)
            .select_from(repository_entries.join(verdicts, verdicts.c.sha256 == _entries.asset_sha256))
            .where(
                _entries.manifest_id != manifest_id,
                _entries.origin == EntryOrigin.SIGNED.value,
                _entries.private.is_(False),
                verdicts.c.verdict_json.contains(f'"{manifest_id}"', autoescape=True),
            )
        ).all()
        for entry in derived:
            connection.execute(update(repository_entries).where(_entries.id == entry.id).values(private=True))
            connection.execute(update(repository_bindings).where(_bindings.entry_id == entry.id).values(shared=False))
            connection.execute(self._visibility_change(entry.manifest_id, entry.tenant, True, actor=actor))
        sources = sorted({asset_sha256, *(entry.asset_sha256 for entry in derived)})
        connection.execute(
            update(feed_thumbnails).where(feed_thumbnails.c.source_sha256.in_(sources)).values(private=True)
        )

    @staticmethod
    def _visibility_change(manifest_id: str, tenant: str, private: bool, *, actor: str) -> Insert:
        """The record of a change of visibility (a later one, or private from the start)."""
        return insert(repository_visibility_changes).values(
            manifest_id=manifest_id,
            tenant=tenant,
            private=private,
            changed_at=datetime.datetime.now(datetime.UTC),
            actor=actor,
        )

    def store_is_public(self, connection: Connection, manifest_id: str, store_sha256: str) -> bool:
        query = select(public_store(bindparam("manifest_id", manifest_id), bindparam("store_sha256", store_sha256)))
        if self._postgres:
            # Waits for a change of the signer's entry in flight (its row lock): decided after it.
            connection.execute(
                select(_entries.id)
                .where(_entries.manifest_id == manifest_id, _entries.origin == EntryOrigin.SIGNED.value)
                .with_for_update()
            )
        return bool(connection.execute(query).scalar())

    def delete_entry(self, tenant: str, manifest_id: str, *, actor: str, reason: str) -> Deletion | None:
        if not actor or not reason:
            raise ValueError("a takedown names who asked (actor) and why (reason)")
        if not is_tenant_name(tenant) or manifest_id_problem(manifest_id) is not None:
            return None
        deleted_at = datetime.datetime.now(datetime.UTC)
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            if not self._postgres:
                # Python's sqlite3 would begin only at the first write, after the band rows are read:
                # take the write lock first, so no append lands between the read and the rewrite.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            row = connection.execute(self._owned, {"owner": tenant, "manifest_id": manifest_id}).first()
            if row is None:
                return None
            deletion = Deletion(
                manifest_id=manifest_id,
                tenant=tenant,
                asset_sha256=row.asset_sha256,
                store_object_uri=row.store_object_uri,
                deleted_at=deleted_at,
                actor=actor,
                reason=reason,
            )
            self._unindex(connection, row.id)
            connection.execute(delete(repository_bindings).where(_bindings.entry_id == row.id))
            connection.execute(delete(repository_entries).where(_entries.id == row.id))
            recorded = {name: getattr(deletion, name) for name in _DELETION_COLUMNS}
            connection.execute(insert(repository_deletions).values(origin=row.origin, **recorded))
        return deletion

    # Reading

    def entry_by_manifest_id(self, tenant: str | None, manifest_id: str) -> RepositoryEntry | None:
        # tenant None binds :viewer to NULL: `tenant = NULL` is never true, so only public entries.
        if (tenant is not None and not is_tenant_name(tenant)) or manifest_id_problem(manifest_id) is not None:
            return None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(self._by_manifest_id, {"viewer": tenant, "manifest_id": manifest_id}).first()
            if row is None:
                return None
            return self._with_bindings(connection, [row])[0]

    def entries_by_manifest_ids(self, tenant: str | None, manifest_ids: Sequence[str]) -> dict[str, RepositoryEntry]:
        if tenant is not None and not is_tenant_name(tenant):
            return {}
        wanted = sorted({manifest_id for manifest_id in manifest_ids if manifest_id_problem(manifest_id) is None})
        if not wanted:
            return {}
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            rows = connection.execute(self._visible_with_ids, {"viewer": tenant, "manifest_ids": wanted}).all()
            # entry_by_manifest_id's order, per id: the tenant's own first, then the oldest.
            first: dict[str, Row] = {}
            for row in sorted(rows, key=lambda row: (row.tenant != tenant, row.id)):
                first.setdefault(row.manifest_id, row)
            entries = self._with_bindings(connection, list(first.values())) if first else []
        return {entry.manifest_id: entry for entry in entries}

    def entries_with_manifest_id(self, manifest_id: str) -> list[RepositoryEntry]:
        if manifest_id_problem(manifest_id) is not None:
            return []
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            rows = connection.execute(self._every_owner, {"manifest_id": manifest_id}).all()
            return self._with_bindings(connection, rows) if rows else []

    def candidates_near(
        self, code64: int, radius: int, tenant: str | None, *, views: bool = False, space: CodeSpace = CodeSpace.IMAGE
    ) -> list[Candidate]:
        return self.candidates_near_each([code64], radius, tenant, views=views, space=space)[0]

    def candidates_near_each(
        self,
        codes: Sequence[int],
        radius: int,
        tenant: str | None,
        *,
        views: bool = False,
        space: CodeSpace = CodeSpace.IMAGE,
    ) -> list[list[Candidate]]:
        queries = [check_code64(code64) for code64 in codes]
        check_radius(radius)
        if not queries or (tenant is not None and not is_tenant_name(tenant)):  # None: the public
            return [[] for _ in queries]
        # The band rows of every probe in one read: a row another probe brought can only hold codes
        # that probe's own rows hold too if they are within its radius (multi-index hashing finds
        # them all), so each probe's answer is the one it would get alone.
        keys = sorted({key for query in queries for key in probe_keys(query, radius, space)})
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            found: list[tuple] = []
            for chunk in _chunks(keys, _KEYS_PER_READ):
                if not self._postgres:  # a few statement texts, each prepared once, not one per key count
                    chunk = chunk + [_NO_KEY] * (-len(chunk) % _KEY_LIST_STEP)
                found += _driver_rows(
                    connection,
                    _probe_sql(self._postgres, len(chunk)),
                    [chunk] if self._postgres else chunk,
                    binary=self._postgres,
                )
            blob = b"".join(bytes(codes_blob) for (codes_blob,) in found if codes_blob)
            # A code can come from several bands: each dict keeps it once.
            near_each = [codes_within(blob, query, radius) for query in queries]
            near = sorted(set().union(*near_each))
            statement = self._candidates_with_views if views else self._candidates
            rows: dict[int, Row] = {}
            for ids in _chunks(near, _KEYS_PER_READ):  # SQLite binds at most 32,766 parameters
                rows.update(
                    (row.id, row) for row in connection.execute(statement, {"viewer": tenant, "binding_ids": ids})
                )
        answers = []
        for distances in near_each:
            # The binding id last: an entry's image row and its view rows (or a video's key frames) tie
            # on the rest, and a probe's answer must not depend on which rows the others brought.
            ranked = sorted(
                (binding_id for binding_id in distances if binding_id in rows),
                key=lambda binding_id: (
                    distances[binding_id],
                    -rows[binding_id].created_at.timestamp(),
                    rows[binding_id].manifest_id,
                    binding_id,
                ),
            )
            answers.append(
                [_candidate(rows[binding_id], distances[binding_id]) for binding_id in ranked[:MAX_CANDIDATES]]
            )
        return answers

    def candidates_with_value(self, alg: str, value: bytes, tenant: str | None) -> list[Candidate]:
        if (tenant is not None and not is_tenant_name(tenant)) or not 0 < len(value) <= MAX_BINDING_VALUE_BYTES:
            return []
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            rows = connection.execute(self._with_value, {"viewer": tenant, "alg": alg, "value": value}).all()
        return [_candidate(row, 0) for row in rows]

    def export(self, tenant: str | None = None) -> Iterator[RepositoryEntry]:
        statement = self._export_batch
        if tenant is not None:
            check_tenant_name(tenant)
            statement = statement.where(_entries.tenant == tenant)
        after_id = 0
        while True:
            with database_errors_as_unavailable(), self._db_engine.connect() as connection:
                rows = connection.execute(statement, {"after_id": after_id}).all()
                entries = self._with_bindings(connection, rows) if rows else []
            yield from entries
            if len(rows) < _EXPORT_BATCH:
                return
            after_id = rows[-1].id

    def stats(self, tenant: str | None = None) -> RepositoryStats:
        entries_where = [] if tenant is None else [_entries.tenant == tenant]
        bindings_where = [] if tenant is None else [_bindings.tenant == tenant]
        deletions_where = [] if tenant is None else [repository_deletions.c.tenant == tenant]
        signed = EntryOrigin.SIGNED.value
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            counts = connection.execute(
                select(
                    func.count(),
                    func.count().filter(_entries.origin == signed),
                    func.count().filter(_entries.origin != signed),
                    func.count().filter(_entries.private.is_(True)),
                    func.coalesce(func.sum(func.length(_entries.store_bytes)), 0),
                    func.count(_entries.store_object_uri),
                ).where(*entries_where)
            ).one()
            fingerprinted = connection.execute(
                select(func.count(func.distinct(_bindings.entry_id))).where(
                    _bindings.code64.is_not(None), *bindings_where
                )
            ).scalar_one()
            deletions = connection.execute(
                select(func.count()).select_from(repository_deletions).where(*deletions_where)
            ).scalar_one()
        return RepositoryStats(
            entries=counts[0],
            signed=counts[1],
            verified=counts[2],
            private=counts[3],
            inline_bytes=int(counts[4]),
            object_stored=counts[5],
            fingerprinted=fingerprinted,
            deletions=deletions,
        )

    def _with_bindings(self, connection: Connection, rows: Sequence) -> list[RepositoryEntry]:
        by_entry: dict[int, list[SoftBinding]] = {row.id: [] for row in rows}
        for entry_id, alg, value, stored_code, descriptor in connection.execute(
            self._bindings_of, {"entry_ids": list(by_entry)}
        ):
            by_entry[entry_id].append(
                SoftBinding(
                    alg=alg,
                    value=bytes(value),
                    code64=None if stored_code is None else to_unsigned(stored_code),
                    descriptor=None if descriptor is None else bytes(descriptor),
                )
            )
        return [_entry(row, tuple(by_entry[row.id])) for row in rows]


def _driver_rows(connection: Connection, sql: str, parameters: list, *, binary: bool = False) -> list[tuple]:
    """Rows as the driver's own tuples: for ~10,000 rows SQLAlchemy's result rows cost more than
    the query (measured at 1 M entries, radius 12: p50 39 ms through exec_driver_sql, 15 ms so).
    `binary` (psycopg only): the rows in PostgreSQL's binary format, where a bytea travels as its
    bytes instead of hex text twice its size that both ends must encode and decode (the band rows
    of one search, ~0.5 MB at 5 M codes: p50 13.9 -> 7.0 ms measured). The driver's connection
    errors become StoreUnavailable, as SQLAlchemy's would."""
    dbapi = connection.dialect.loaded_dbapi
    raw = connection.connection.dbapi_connection
    cursor = raw.cursor(binary=True) if binary else raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, parameters)
        return list(cursor.fetchall())
    except (dbapi.OperationalError, dbapi.InterfaceError) as error:
        raise StoreUnavailable(f"the database is unavailable: {str(error).strip()[:300]}") from error
    finally:
        cursor.close()


# A search's band row keys (and the candidates' ids) are read this many at a time: SQLite binds at
# most 32,766 parameters, and the probes of one lookup at MAX_RADIUS pass that.
_KEYS_PER_READ = 30_000
# SQLite: a key list is padded to a multiple of this with a key no row has, so the statement texts
# are a few (sqlite3 prepares each new text: ~1 ms per 1,000 keys), not one per count of keys.
_KEY_LIST_STEP = 256
_NO_KEY = -1


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@functools.lru_cache(maxsize=256)
def _probe_sql(postgres: bool, count: int) -> str:
    """The band rows of a search: a primary-key IN-list (driver SQL, built once per key count)."""
    if postgres:  # one value back: 1,108 bytea rows cost more to send and decode than the lookups
        return "SELECT string_agg(codes, ''::bytea) FROM repository_buckets WHERE key = ANY(%s::integer[])"
    return f"SELECT codes FROM repository_buckets WHERE key IN ({', '.join('?' * count)})"


def _space(alg: str, value: bytes) -> CodeSpace:
    """The key space of an indexed row: an io.iscc.v0 Video-Code's own; any other (an Image-Code, a view) the images'."""
    return CodeSpace.VIDEO if alg == ISCC_ALG and iscc_video_code64(value) is not None else CodeSpace.IMAGE


def _binding_row(entry_id: int, tenant: str, shared: bool, binding: SoftBinding) -> dict:
    return {
        "entry_id": entry_id,
        "tenant": tenant,
        "shared": shared,
        "alg": binding.alg,
        "value": binding.value,
        "code64": None if binding.code64 is None else to_signed(binding.code64),
        "descriptor": binding.descriptor,
    }


def _entry(row, bindings: tuple[SoftBinding, ...]) -> RepositoryEntry:
    return RepositoryEntry(
        manifest_id=row.manifest_id,
        tenant=row.tenant,
        asset_sha256=row.asset_sha256,
        origin=EntryOrigin(row.origin),
        private=bool(row.private),
        created_at=row.created_at,
        store=StoredManifest(
            size=row.store_size,
            sha256=row.store_sha256,
            inline=None if row.store_bytes is None else bytes(row.store_bytes),
            object_uri=row.store_object_uri,
        ),
        bindings=bindings,
    )
