"""The audit log: one row per signature issued, appended and never changed, as a hash chain.

The store only ever INSERTs here; the migrations' triggers make UPDATE and DELETE fail on the
database itself (and TRUNCATE on PostgreSQL), whoever issues them. Whoever owns the database can
still drop those triggers, so every record also carries:

- `prev_hash`: the `record_hash` of the record before it (GENESIS_HASH for the first one), unique,
  so two records can never claim the same predecessor (the chain cannot fork);
- `record_hash`: SHA-256 over a canonical encoding of the record's fields and `prev_hash`.

`verify_chain` walks the records in id order and reports the first one whose content no longer
matches its hash (edited) or whose `prev_hash` is not its predecessor's hash (a record removed,
inserted or reordered). What a chain alone cannot show is the newest records removed, or the
whole chain recomputed by someone who knows this encoding: for that, keep the head hash that
`verify_chain` reports somewhere outside the database and pass it back as `anchor` later.

Appends are serialised across server processes, so two of them never chain to the same head:
on PostgreSQL a transaction-scoped advisory lock (per audit_log table, so per schema) taken
before the head is read; on SQLite the transaction is opened with BEGIN IMMEDIATE, which holds
the database's one write lock from before the head is read until the commit.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, insert, select, text

from app.store.errors import database_errors_as_unavailable
from app.store.interface import AuditEntry
from app.store.schema import audit_log
from app.store.validation import check_media_id, check_sha256_hex

ENTRY_FIELDS = (
    "key_id",
    "signed_at",
    "input_sha256",
    "output_sha256",
    "manifest_label",
    "certificate_fingerprint",
    "generator",
    "generator_version",
    "media_id",
)

GENESIS_HASH = "0" * 64  # what the first record chains to
# Frozen: records written with it must verify forever. A new encoding gets a new prefix.
_HASH_DOMAIN = b"originmark audit record v1\n"
# Any constant: with the table's oid it names "the chain of this audit_log" among advisory locks.
_PG_CHAIN_LOCK_CLASS = 0x6F6D6175  # "omau"
_VERIFY_BATCH = 1000


def record_hash(fields: Mapping[str, Any], *, prev_hash: str) -> str:
    """SHA-256 (hex) of a record's fields and its predecessor's hash, canonically encoded.

    The encoding is JSON with sorted keys, no whitespace and ASCII escapes, times as UTC ISO 8601
    with microseconds (both databases keep microseconds); a naive time is UTC (how SQLite keeps it).
    """
    canonical: dict[str, Any] = {name: _canonical_value(fields[name]) for name in ENTRY_FIELDS}
    canonical["prev_hash"] = prev_hash
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(_HASH_DOMAIN + encoded.encode("ascii")).hexdigest()


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"an audit field holds a {type(value).__name__}, which has no canonical encoding")


class ChainProblem(str, enum.Enum):
    CONTENT_CHANGED = "content_changed"  # the record's fields no longer hash to its record_hash
    LINK_BROKEN = "link_broken"  # its prev_hash is not the hash of the record before it
    ANCHOR_MISSING = "anchor_missing"  # the head hash noted earlier is no longer in the chain


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainBreak:
    problem: ChainProblem
    record_id: int | None  # None for ANCHOR_MISSING: no one record is at fault
    message: str  # a sentence for the operator
    expected: str
    found: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainReport:
    records: int  # records checked (up to and including the first break)
    first_id: int | None
    last_id: int | None
    head_hash: str | None  # record_hash of the last record checked
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.broken is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainedRecord:
    """An audit entry with its place in the chain."""

    id: int
    entry: AuditEntry
    prev_hash: str
    record_hash: str


class SqlAuditLog:
    """`AuditLog` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine
        self._insert = insert(audit_log)
        entry_columns = tuple(audit_log.c[name] for name in ENTRY_FIELDS)
        chain_columns = (audit_log.c.id, *entry_columns, audit_log.c.prev_hash, audit_log.c.record_hash)
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
        with database_errors_as_unavailable(), self._engine.begin() as connection:
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
        values = {name: getattr(entry, name) for name in ENTRY_FIELDS}
        self._hold_chain(connection)
        prev_hash = connection.execute(self._head).scalar_one_or_none() or GENESIS_HASH
        connection.execute(
            self._insert, {**values, "prev_hash": prev_hash, "record_hash": record_hash(values, prev_hash=prev_hash)}
        )

    def _hold_chain(self, connection: Connection) -> None:
        """Make this transaction the only appender until it ends (see the module docstring)."""
        if connection.dialect.name == "postgresql":
            connection.execute(self._pg_lock)
            return
        # Python's sqlite3 begins a transaction only before the first INSERT/UPDATE/DELETE: the head
        # would be read outside it, before the write lock. Already in a transaction means a write
        # came first, which under the store's BEGIN IMMEDIATE already holds the lock.
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    def entries(self, *, limit: int = 100) -> list[AuditEntry]:
        """The newest entries first."""
        return [record.entry for record in self.records(limit=limit)]

    def records(self, *, limit: int = 100) -> list[ChainedRecord]:
        """The newest records first, with their chain hashes."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        with database_errors_as_unavailable(), self._engine.connect() as connection:
            rows = connection.execute(self._newest, {"limit": limit}).all()
        return [_chained(row) for row in rows]

    def verify_chain(self, *, anchor: str | None = None) -> ChainReport:
        """Walk the whole chain in id order; stop at the first broken record.

        `anchor`: a record hash noted earlier (a past head); the chain must still contain it.
        Reads in batches (flat memory for any size); each batch is its own short read.
        """
        expected_prev = GENESIS_HASH
        previous_id: int | None = None
        first_id: int | None = None
        count = 0
        anchor_seen = anchor is None
        with database_errors_as_unavailable(), self._engine.connect() as connection:
            while True:
                rows = connection.execute(self._walk, {"after_id": previous_id or 0}).all()
                connection.rollback()  # no long-lived snapshot (PostgreSQL) or read lock (SQLite)
                for row in rows:
                    record = _chained(row)
                    count += 1
                    first_id = record.id if first_id is None else first_id
                    broken = _check(record, expected_prev=expected_prev, previous_id=previous_id)
                    if broken is not None:
                        return ChainReport(
                            records=count, first_id=first_id, last_id=record.id, head_hash=None, broken=broken
                        )
                    anchor_seen = anchor_seen or record.record_hash == anchor
                    expected_prev, previous_id = record.record_hash, record.id
                if len(rows) < _VERIFY_BATCH:
                    break
        head = expected_prev if count else None
        broken = None
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
        return ChainReport(records=count, first_id=first_id, last_id=previous_id, head_hash=head, broken=broken)


def _check(record: ChainedRecord, *, expected_prev: str, previous_id: int | None) -> ChainBreak | None:
    if record.prev_hash != expected_prev:
        where = (
            f"the record before it (#{previous_id})"
            if previous_id is not None
            else "the start of the chain (so records before it were removed)"
        )
        return ChainBreak(
            problem=ChainProblem.LINK_BROKEN,
            record_id=record.id,
            message=(
                f"record #{record.id} does not chain to {where}: a record was removed, inserted or "
                "reordered here, or the previous record was rewritten with a new hash"
            ),
            expected=expected_prev,
            found=record.prev_hash,
        )
    computed = record_hash(_entry_fields(record.entry), prev_hash=record.prev_hash)
    if computed != record.record_hash:
        return ChainBreak(
            problem=ChainProblem.CONTENT_CHANGED,
            record_id=record.id,
            message=f"record #{record.id} was changed after it was written: its fields no longer match its hash",
            expected=record.record_hash,
            found=computed,
        )
    return None


def _entry_fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in ENTRY_FIELDS}


def _chained(row) -> ChainedRecord:
    record_id, *fields, prev_hash, stored_hash = row
    return ChainedRecord(
        id=record_id,
        entry=AuditEntry(**dict(zip(ENTRY_FIELDS, fields, strict=True))),
        prev_hash=prev_hash,
        record_hash=stored_hash,
    )
