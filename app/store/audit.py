"""The audit log: one row per signature issued, appended and never changed, as an authenticated hash chain.

The store only ever INSERTs here; the migrations' triggers make UPDATE and DELETE fail on the
database itself (and TRUNCATE on PostgreSQL), whoever issues them. Whoever owns the database can
still drop those triggers, so every record also carries:

- `prev_hash`: the `record_hash` of the record before it (GENESIS_HASH for the first one), unique,
  so two records can never claim the same predecessor (the chain cannot fork);
- `record_hash`: SHA-256 over a canonical encoding of the record's fields and `prev_hash`
  (app/store/audit_encoding.py; `hash_version` says which encoding: 3 since migration 0012, which
  added what the signature did with the credentials the file carried, `prior_credentials`);
- `mac` (since migration 0007): HMAC-SHA256 of the same encoding under the audit key, which lives
  in a file or the environment, never in the database (keys/audit_key.py), and `mac_key_id`.

`verify_chain` walks the records in id order and reports the first one whose content no longer
matches its hash (edited), whose `prev_hash` is not its predecessor's hash (a record removed,
inserted or reordered), or whose MAC does not match (the chain rewritten and recomputed by someone
who knows the encoding but not the key): app/store/audit_verify.py. What it cannot show is the
newest records removed: for that, keep the head hash that `verify_chain` reports somewhere outside
the database and pass it back as `anchor` later.

Appends are serialised across server processes, so two of them never chain to the same head:
on PostgreSQL a transaction-scoped advisory lock (per audit_log table, so per schema) taken
before the head is read; on SQLite the transaction is opened with BEGIN IMMEDIATE, which holds
the database's one write lock from before the head is read until the commit.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import Connection, Engine, bindparam, insert, select, text

from app.store.audit_encoding import (
    CURRENT_VERSION,
    ENTRY_FIELDS_V1,
    ENTRY_FIELDS_V3,
    GENESIS_HASH,
    keyed_record_hash,
    keyed_record_mac,
    record_hash,
)
from app.store.audit_verify import ChainBreak, ChainedRecord, ChainProblem, ChainReport, ChainWalk
from app.store.errors import database_errors_as_unavailable
from app.store.interface import AuditEntry
from app.store.schema import audit_log
from app.store.validation import check_media_id, check_sha256_hex
from keys.audit_key import AuditKeyring

__all__ = [
    "ENTRY_FIELDS",
    "GENESIS_HASH",
    "ChainBreak",
    "ChainProblem",
    "ChainReport",
    "ChainedRecord",
    "SqlAuditLog",
    "record_hash",
]

# Version 1's fields, by the name migration 0002 (frozen) imports them with.
ENTRY_FIELDS = ENTRY_FIELDS_V1
# Any constant: with the table's oid it names "the chain of this audit_log" among advisory locks.
_PG_CHAIN_LOCK_CLASS = 0x6F6D6175  # "omau"
_VERIFY_BATCH = 1000
_RECORD_COLUMNS = ("hash_version", "mac_key_id", "mac")
# What an entry may say about the credentials the signed file carried (signer.manifest.PriorCredentials's
# values; None: not said, as in every record from before migration 0012).
PRIOR_CREDENTIALS_VALUES = frozenset({None, "none", "kept", "replaced"})


class SqlAuditLog:
    """`AuditLog` on SQLAlchemy Core; thread-safe.

    `keys`: the audit key new records are authenticated with (`current`) and the older ones that
    `verify_chain` also accepts. Without a current key, records are still chained but carry no MAC
    (and `verify_chain` counts them as not authenticated): the service always has one
    (app/audit_keys.py); only tools and tests open a store without.
    """

    def __init__(self, *, db_engine: Engine, keys: AuditKeyring | None = None) -> None:
        self._db_engine = db_engine
        self._keys = keys
        self._insert = insert(audit_log)
        entry_columns = tuple(audit_log.c[name] for name in ENTRY_FIELDS_V3)
        chain_columns = (
            audit_log.c.id,
            *entry_columns,
            audit_log.c.prev_hash,
            audit_log.c.record_hash,
            *(audit_log.c[name] for name in _RECORD_COLUMNS),
        )
        self._newest = select(*chain_columns).order_by(audit_log.c.id.desc()).limit(bindparam("limit"))
        self._head = select(audit_log.c.record_hash).order_by(audit_log.c.id.desc()).limit(1)
        self._walk = (
            select(*chain_columns)
            .where(audit_log.c.id > bindparam("after_id"))
            .order_by(audit_log.c.id)
            .limit(_VERIFY_BATCH)
        )
        # The table's oid resolves through search_path: one chain lock per schema's audit_log.
        self._pg_lock = text(
            f"SELECT pg_advisory_xact_lock(:lock_class, '{audit_log.name}'::regclass::oid::integer)"
        ).bindparams(lock_class=_PG_CHAIN_LOCK_CLASS)

    def append(self, entry: AuditEntry) -> None:
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            self.write_entry(connection, entry)

    def write_entry(self, connection: Connection, entry: AuditEntry) -> None:
        """`append` inside the caller's transaction, which then holds the chain until it ends.

        Call it before the transaction's other writes: on PostgreSQL it takes the chain's lock, and
        taking that after row locks that another appender may wait for could deadlock.
        """
        check_sha256_hex(entry.input_sha256, what="input_sha256")
        check_sha256_hex(entry.output_sha256, what="output_sha256")
        check_sha256_hex(entry.certificate_fingerprint, what="certificate_fingerprint")
        if entry.media_id is not None:
            check_media_id(entry.media_id)
        if entry.prior_credentials not in PRIOR_CREDENTIALS_VALUES:
            raise ValueError(
                f"prior_credentials is one of none, kept, replaced (or None), not {entry.prior_credentials!r}"
            )
        if entry.replaced_manifest_id is not None and entry.prior_credentials != "replaced":
            raise ValueError(
                "replaced_manifest_id names what a replacement dropped: prior_credentials must be replaced"
            )
        values = {name: getattr(entry, name) for name in ENTRY_FIELDS_V3}
        key = self._keys.current if self._keys is not None else None
        self._hold_chain(connection)
        prev_hash = connection.execute(self._head).scalar_one_or_none() or GENESIS_HASH
        mac_key_id = key.key_id if key is not None else None
        chain = {
            "prev_hash": prev_hash,
            "record_hash": keyed_record_hash(CURRENT_VERSION, values, prev_hash=prev_hash, mac_key_id=mac_key_id),
            "hash_version": CURRENT_VERSION,
            "mac_key_id": mac_key_id,
            "mac": keyed_record_mac(CURRENT_VERSION, key, values, prev_hash=prev_hash) if key is not None else None,
        }
        connection.execute(self._insert, {**values, **chain})

    def _hold_chain(self, connection: Connection) -> None:
        """Make this transaction the only appender until it ends (see the module docstring)."""
        if connection.dialect.name == "postgresql":
            connection.execute(self._pg_lock)
            return
        # Python's sqlite3 begins a transaction only before the first INSERT/UPDATE/DELETE: the head
        # would be read outside it, before the write lock. Already in a transaction means a write
        # came first, which under the store's BEGIN IMMEDIATE already holds the lock.
        driver = connection.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)  # not PostgreSQL (above): the store's other dialect
        if not driver.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def entries(self, *, limit: int = 100) -> list[AuditEntry]:
        """The newest entries first."""
        return [record.entry for record in self.records(limit=limit)]

    def records(self, *, limit: int = 100) -> list[ChainedRecord]:
        """The newest records first, with their chain hashes."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            rows = connection.execute(self._newest, {"limit": limit}).all()
        return [_chained(row) for row in rows]

    def verify_chain(self, *, anchor: str | None = None) -> ChainReport:
        """Walk the whole chain in id order; stop at the first broken record.

        `anchor`: a record hash noted earlier (a past head); the chain must still contain it.
        Reads in batches (flat memory for any size); each batch is its own short read.
        """
        walk = ChainWalk(keys=self._keys)
        first_id: int | None = None
        count = 0
        anchor_seen = anchor is None
        broken: ChainBreak | None = None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            while broken is None:
                rows = connection.execute(self._walk, {"after_id": walk.previous_id or 0}).all()
                connection.rollback()  # no long-lived snapshot (PostgreSQL) or read lock (SQLite)
                for row in rows:
                    record = _chained(row)
                    count += 1
                    first_id = record.id if first_id is None else first_id
                    broken = walk.check(record)
                    if broken is not None:
                        break
                    anchor_seen = anchor_seen or record.record_hash == anchor
                if len(rows) < _VERIFY_BATCH:
                    break
        if broken is not None:
            return _report(walk, records=count, first_id=first_id, last_id=record.id, head=None, broken=broken)
        head = walk.expected_prev if count else None
        if not anchor_seen:
            broken = ChainBreak(
                problem=ChainProblem.ANCHOR_MISSING,
                record_id=None,
                message=(
                    "no record in the chain has the hash noted earlier: records were removed from the end "
                    "of the log, or the chain was rewritten from some point before that record"
                ),
                expected=str(anchor),
                found=head or "(empty log)",
            )
        return _report(walk, records=count, first_id=first_id, last_id=walk.previous_id, head=head, broken=broken)


def _report(
    walk: ChainWalk,
    *,
    records: int,
    first_id: int | None,
    last_id: int | None,
    head: str | None,
    broken: ChainBreak | None,
) -> ChainReport:
    return ChainReport(
        records=records,
        first_id=first_id,
        last_id=last_id,
        head_hash=head,
        broken=broken,
        legacy_records=walk.legacy,
        unkeyed_records=walk.unkeyed,
        authenticated_records=walk.authenticated,
        mac_key_ids=tuple(sorted(walk.key_ids)),
    )


def _chained(row) -> ChainedRecord:
    record_id, *fields, prev_hash, stored_hash, hash_version, mac_key_id, mac = row
    return ChainedRecord(
        id=record_id,
        entry=AuditEntry(**dict(zip(ENTRY_FIELDS_V3, fields, strict=True))),
        prev_hash=prev_hash,
        record_hash=stored_hash,
        hash_version=hash_version,
        mac_key_id=mac_key_id,
        mac=mac,
    )
