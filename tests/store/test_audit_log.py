"""AuditLog conformance: entries are appended and read back; the database refuses changes to them."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.store.interface import AuditEntry
from app.store.migrate import upgrade_database
from app.store.schema import audit_log, verdicts
from app.store.sql import open_store


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _entry(n: int, **changes) -> AuditEntry:
    entry = AuditEntry(
        key_id="abcdefghij",
        signed_at=datetime.datetime(2026, 5, 1, 12, 0, n, 123456, tzinfo=datetime.UTC),
        input_sha256=_sha(f"in {n}"),
        output_sha256=_sha(f"out {n}"),
        manifest_label=f"urn:c2pa:{n:08d}-0000-4000-8000-000000000000",
        certificate_fingerprint=_sha("certificate"),
        generator="image model",
        generator_version="2.1",
        media_id=f"post:{n}",
    )
    return dataclasses.replace(entry, **changes)


def _rows(store) -> int:
    with store.db_engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(audit_log)).scalar_one()


def test_appended_entries_read_back_equal_newest_first(store):
    entries = [_entry(0), _entry(1, key_id=None, generator_version=None, media_id=None, manifest_label=None), _entry(2)]
    for entry in entries:
        store.append(entry)
    assert store.entries() == list(reversed(entries))
    assert store.entries(limit=1) == [entries[2]]


def test_a_generator_name_of_any_length_is_recorded(store):
    entry = _entry(0, generator="g" * 5000, generator_version="v" * 5000)
    store.append(entry)
    assert store.entries() == [entry]


@pytest.mark.parametrize(
    "changes",
    [
        {"input_sha256": "ABC"},
        {"output_sha256": "G" * 64},
        {"certificate_fingerprint": "AA:BB"},
        {"media_id": ""},
    ],
)
def test_an_entry_with_a_malformed_hash_or_media_id_is_a_value_error(store, changes):
    with pytest.raises(ValueError):
        store.append(_entry(0, **changes))
    assert _rows(store) == 0


@pytest.mark.parametrize(
    "statement",
    [
        update(audit_log).values(generator="rewritten"),
        update(audit_log).where(audit_log.c.id == -1).values(generator="nothing matches"),
        delete(audit_log),
        delete(audit_log).where(audit_log.c.key_id == "abcdefghij"),
    ],
    ids=["update-all", "update-none-sqlite-allows", "delete-all", "delete-some"],
)
def test_the_database_refuses_to_update_or_delete_audit_entries(store, statement, request):
    store.append(_entry(0))
    store.append(_entry(1))
    matches_nothing = "none" in request.node.callspec.id
    if matches_nothing and store.dialect == "sqlite":
        # SQLite's triggers are per row: a statement that touches no row changes nothing either way.
        with store.db_engine.begin() as connection:
            assert connection.execute(statement).rowcount == 0
    else:
        with pytest.raises(IntegrityError, match="audit_log is append-only"), store.db_engine.begin() as connection:
            connection.execute(statement)
    assert store.entries() == [_entry(1), _entry(0)]


def test_postgresql_also_refuses_truncate(postgres_database_url):
    upgrade_database(postgres_database_url)
    with open_store(postgres_database_url, pool_size=1) as store:
        store.append(_entry(0))
        with pytest.raises(IntegrityError, match="append-only: TRUNCATE"), store.db_engine.begin() as connection:
            connection.execute(text("TRUNCATE audit_log"))
        assert _rows(store) == 1


def test_a_signature_is_recorded_with_its_verdict_in_one_transaction(store, real_verdicts):
    entry = _entry(0, output_sha256=real_verdicts.trusted.sha256)
    stored = store.record_signature(
        tenant="default",
        entry=entry,
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="t",
        media_id="post:0",
    )
    assert store.entries() == [entry]
    assert store.verdict_by_media_id("default", "post:0") == stored

    # A bad entry writes neither the entry nor the verdict.
    with pytest.raises(ValueError):
        store.record_signature(
            tenant="default",
            entry=_entry(1, input_sha256="nope"),
            verdict=real_verdicts.plain,
            label=real_verdicts.plain_label,
            trust_fingerprint="t",
            media_id="post:1",
        )
    assert _rows(store) == 1
    with store.db_engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(verdicts)).scalar_one() == 1
