"""Checking the audit log record by record: the chain's links, each record's hash, and its MAC.

`ChainWalk` is fed the records in id order and answers the first problem; `SqlAuditLog.verify_chain`
(app/store/audit.py) reads the records and sums up a `ChainReport`.

How records written at different times are judged:

- version 1 (before audit keys, app/store/audit_encoding.py): the chain and the hash are checked;
  the record is counted as "not authenticated (written before audit keys)", not as tampered. Such
  records can only come first: one after a version 2 record was rewritten into the old encoding.
- version 2 or 3 without a MAC (a store opened without an audit key): counted as "not authenticated
  (written without an audit key)"; once a record carries a MAC, every later one must too, so
  stripping MACs from a rewritten tail is found.
- version 2 or 3 with a MAC: it must match under the key its `mac_key_id` names. Someone who rewrote a
  record and recomputed the chain cannot make it match without the key. A key id that was not
  given cannot be checked, and fails the check (an attacker could otherwise name a made-up key).
- version 3 (migration 0012) adds `prior_credentials` to what is hashed and authenticated. A
  version 1 or 2 record must not carry it (it would be outside its hash). Version 2 records may
  follow version 3 ones (a server process from before the upgrade still running): relabelling an
  authenticated version 3 record as version 2, to drop a "replaced", changes what its MAC covers,
  so it fails without the key as any other rewrite does.

What no check can see: the newest records cut off, or a log rewritten from its very first record
onwards into one with no MAC at all (then no record is authenticated, and the report says so).
Keep the head hash outside the database for the first (`anchor`), and the count of authenticated
records for the second.
"""

from __future__ import annotations

import dataclasses
import enum
import hmac
from dataclasses import dataclass
from typing import Any

from app.store.audit_encoding import (
    FIELDS_ADDED_IN_V2,
    FIELDS_ADDED_IN_V3,
    GENESIS_HASH,
    KEYED_VERSIONS,
    VERSION_1,
    VERSION_2,
    VERSION_3,
    keyed_record_hash,
    keyed_record_mac,
    record_hash,
)
from app.store.interface import DEFAULT_TENANT, AuditEntry
from keys.audit_key import AuditKeyring


class ChainProblem(str, enum.Enum):
    CONTENT_CHANGED = "content_changed"  # the record's fields no longer hash to its record_hash
    LINK_BROKEN = "link_broken"  # its prev_hash is not the hash of the record before it
    ANCHOR_MISSING = "anchor_missing"  # the head hash noted earlier is no longer in the chain
    MAC_INVALID = "mac_invalid"  # its MAC does not match under its audit key: rewritten without the key
    MAC_MISSING = "mac_missing"  # no MAC (or the old encoding) after records that had one
    MAC_KEY_UNKNOWN = "mac_key_unknown"  # authenticated with an audit key that was not given


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
    legacy_records: int = 0  # not authenticated: written before audit keys (version 1)
    unkeyed_records: int = 0  # not authenticated: written by a store without an audit key
    authenticated_records: int = 0  # MAC checked under a key given
    mac_key_ids: tuple[str, ...] = ()  # the audit keys the authenticated records were made with

    @property
    def intact(self) -> bool:
        return self.broken is None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainedRecord:
    """An audit entry with its place in the chain and its authentication."""

    id: int
    entry: AuditEntry
    prev_hash: str
    record_hash: str
    hash_version: int = VERSION_2
    mac_key_id: str | None = None  # None: no MAC (version 1, or written without an audit key)
    mac: str | None = None


class ChainWalk:
    """Checks records fed in id order; remembers what the next one is checked against."""

    def __init__(self, *, keys: AuditKeyring | None) -> None:
        self._keys = keys
        self.expected_prev = GENESIS_HASH
        self.previous_id: int | None = None
        self.legacy = 0
        self.unkeyed = 0
        self.authenticated = 0
        self.key_ids: set[str] = set()

    def check(self, record: ChainedRecord) -> ChainBreak | None:
        broken = self._link(record) or self._content(record) or self._authentication(record)
        if broken is None:
            self.expected_prev, self.previous_id = record.record_hash, record.id
        return broken

    def _link(self, record: ChainedRecord) -> ChainBreak | None:
        if record.prev_hash == self.expected_prev:
            return None
        where = (
            f"the record before it (#{self.previous_id})"
            if self.previous_id is not None
            else "the start of the chain (so records before it were removed)"
        )
        return _record_break(
            record,
            ChainProblem.LINK_BROKEN,
            f"does not chain to {where}: a record was removed, inserted or reordered here, or the previous "
            "record was rewritten with a new hash",
            expected=self.expected_prev,
            found=record.prev_hash,
        )

    def _content(self, record: ChainedRecord) -> ChainBreak | None:
        fields = dataclasses.asdict(record.entry)
        if record.hash_version == VERSION_1:
            if _has_v2_only_values(record):
                return _changed(
                    record,
                    "it is in the encoding from before audit keys, yet carries a source type, "
                    "title, tenant, what became of prior credentials, or a MAC, which such records never had "
                    "(they are outside its hash)",
                )
            computed = record_hash(fields, prev_hash=record.prev_hash)
        elif record.hash_version in KEYED_VERSIONS:
            if record.hash_version == VERSION_2 and (
                record.entry.prior_credentials is not None or record.entry.replaced_manifest_id is not None
            ):
                return _changed(
                    record,
                    "it is in the encoding from before prior credentials were recorded, yet says what became "
                    "of them, which such records never did (it is outside its hash)",
                )
            computed = keyed_record_hash(
                record.hash_version, fields, prev_hash=record.prev_hash, mac_key_id=record.mac_key_id
            )
        else:
            return _changed(record, f"it claims record version {record.hash_version}, which originmark never wrote")
        if computed == record.record_hash:
            return None
        return _record_break(
            record,
            ChainProblem.CONTENT_CHANGED,
            "was changed after it was written: its fields no longer match its hash",
            expected=record.record_hash,
            found=computed,
        )

    def _authentication(self, record: ChainedRecord) -> ChainBreak | None:
        if record.hash_version == VERSION_1:
            if self.unkeyed or self.authenticated:
                return _mac_missing(record, "is in the encoding from before audit keys")
            self.legacy += 1
            return None
        if record.mac_key_id is None and record.mac is None:
            if self.authenticated:
                return _mac_missing(record, "carries no MAC")
            self.unkeyed += 1
            return None
        if record.mac_key_id is None or record.mac is None:
            return _mac_missing(record, "carries half a MAC (a key id without a MAC, or the reverse)")
        key = self._keys.key(record.mac_key_id) if self._keys is not None else None
        if key is None:
            given = ", ".join(self._keys.key_ids) if self._keys is not None and self._keys.key_ids else "none"
            return _record_break(
                record,
                ChainProblem.MAC_KEY_UNKNOWN,
                f"is authenticated with audit key {record.mac_key_id}, which was not given: pass that key's file "
                "(--key-file) to check it, or the record was rewritten naming a made-up key",
                expected=f"a record made with one of the audit keys given ({given})",
                found=record.mac_key_id,
            )
        fields: dict[str, Any] = dataclasses.asdict(record.entry)
        expected_mac = keyed_record_mac(record.hash_version, key, fields, prev_hash=record.prev_hash)
        if not hmac.compare_digest(expected_mac, record.mac):
            return _record_break(
                record,
                ChainProblem.MAC_INVALID,
                f"does not match its MAC under audit key {key.key_id}: it was rewritten (and the chain "
                "recomputed) by someone without the audit key",
                expected=record.mac,
                # Never the MAC computed here: printed, it would be the forgery the rewriter lacks.
                found=f"another MAC under audit key {key.key_id}",
            )
        self.authenticated += 1
        self.key_ids.add(key.key_id)
        return None


def _has_v2_only_values(record: ChainedRecord) -> bool:
    entry = record.entry
    return (
        entry.digital_source_type is not None
        or entry.title is not None
        or entry.prior_credentials is not None
        or entry.replaced_manifest_id is not None
        or entry.tenant != DEFAULT_TENANT
        or record.mac_key_id is not None
        or record.mac is not None
    )


def _record_break(record: ChainedRecord, problem: ChainProblem, what: str, *, expected: str, found: str) -> ChainBreak:
    """The break at `record`; `what` continues the sentence "record #N ..."."""
    return ChainBreak(
        problem=problem, record_id=record.id, message=f"record #{record.id} {what}", expected=expected, found=found
    )


def _changed(record: ChainedRecord, why: str) -> ChainBreak:
    return _record_break(
        record,
        ChainProblem.CONTENT_CHANGED,
        f"was changed after it was written: {why}",
        expected=(
            f"record version {VERSION_1}, {VERSION_2} or {VERSION_3} with only its own fields "
            f"(v2 adds {', '.join(FIELDS_ADDED_IN_V2)}; v3 adds {', '.join(FIELDS_ADDED_IN_V3)})"
        ),
        found=f"version {record.hash_version}",
    )


def _mac_missing(record: ChainedRecord, what: str) -> ChainBreak:
    return _record_break(
        record,
        ChainProblem.MAC_MISSING,
        f"{what}, after records that were authenticated (or written in the newer encoding): the MAC was "
        "stripped when the record was rewritten",
        expected="a MAC under an audit key",
        found="none",
    )
