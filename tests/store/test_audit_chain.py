"""The audit log as a hash chain, on SQLite and PostgreSQL: appends chain, concurrent appenders
never fork it, tampering that gets past the triggers is found by `verify_chain` and by
`originmark audit verify`, and migration 0002 chains the records an older database already had.
(The audit key's MACs: test_audit_mac.py.)
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from app.cli import cli
from app.store.audit import GENESIS_HASH, ChainProblem, SqlAuditLog, record_hash
from app.store.audit_encoding import (
    CURRENT_VERSION,
    ENTRY_FIELDS_V1,
    ENTRY_FIELDS_V2,
    ENTRY_FIELDS_V3,
    VERSION_2,
    VERSION_3,
    keyed_record_hash,
    keyed_record_mac,
)
from app.store.audit_verify import ChainBreak, ChainReport
from app.store.database import create_db_engine
from app.store.interface import AuditEntry
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade_database
from app.store.schema import audit_log
from app.store.sql import open_store

PROJECT = Path(__file__).resolve().parents[2]


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _entry(n: int, **changes) -> AuditEntry:
    entry = AuditEntry(
        key_id="abcdefghij" if n % 3 else None,
        signed_at=datetime.datetime(2026, 5, 1, 12, 0, n % 60, 1000 * n, tzinfo=datetime.UTC),
        input_sha256=_sha(f"in {n}"),
        output_sha256=_sha(f"out {n}"),
        manifest_label=f"urn:c2pa:{n:08d}-0000-4000-8000-000000000000" if n % 2 else None,
        certificate_fingerprint=_sha("certificate"),
        generator=f"image model «{n}» \u202e<script>",
        generator_version="2.1" if n % 2 else None,
        media_id=f"post:{n}",
    )
    return dataclasses.replace(entry, **changes)


def _chain_rows(store) -> list:
    with store.db_engine.connect() as connection:
        return connection.execute(
            select(audit_log.c.id, audit_log.c.prev_hash, audit_log.c.record_hash).order_by(audit_log.c.id)
        ).all()


def _audit(store, keys=None) -> SqlAuditLog:
    """The log as `audit verify` reads it: with the session's audit key unless told otherwise."""
    return SqlAuditLog(db_engine=store.db_engine, keys=keys if keys is not None else _SESSION_KEYS[0])


_SESSION_KEYS: list = []


@pytest.fixture(autouse=True)
def _session_keys(audit_keys):
    _SESSION_KEYS[:] = [audit_keys]


def break_of(report: ChainReport) -> ChainBreak:
    """Where the chain `report` checked is broken; fails the test when it is intact."""
    assert report.broken is not None, f"the chain of {report.records} records is intact"
    return report.broken


def _drop_append_only_triggers(store) -> None:
    """What a database owner can do: the triggers no longer stand in the way."""
    with store.db_engine.begin() as connection:
        if store.dialect == "postgresql":
            connection.execute(text("DROP TRIGGER audit_log_reject_change ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_reject_update"))
            connection.execute(text("DROP TRIGGER audit_log_reject_delete"))


def _fill(store, count: int = 5) -> list:
    for n in range(count):
        store.append(_entry(n))
    return _chain_rows(store)


# --- appending ---


def test_each_record_carries_the_hash_of_the_one_before(store):
    rows = _fill(store, 4)
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.record_hash
    records = list(reversed(_audit(store).records(limit=10)))
    key = _SESSION_KEYS[0].current
    for record in records:
        fields = dataclasses.asdict(record.entry)
        assert record.hash_version == CURRENT_VERSION == VERSION_3 and record.mac_key_id == key.key_id
        assert record.record_hash == keyed_record_hash(
            VERSION_3, fields, prev_hash=record.prev_hash, mac_key_id=key.key_id
        )
        assert record.mac == keyed_record_mac(VERSION_3, key, fields, prev_hash=record.prev_hash)
    assert [record.entry for record in records] == [_entry(n) for n in range(4)]

    report = _audit(store).verify_chain()
    assert report.intact and report.records == 4 and report.authenticated_records == 4
    assert report.head_hash == rows[-1].record_hash
    assert (report.first_id, report.last_id) == (rows[0].id, rows[-1].id)


def test_an_empty_log_is_intact(store):
    report = _audit(store).verify_chain()
    assert report.intact and report.records == 0 and report.head_hash is None


def test_the_version_1_encoding_is_frozen():
    """Records written before audit keys must verify forever: the same fields give the same hash as
    the code that wrote them (this value was computed with it)."""
    fields = dict(
        key_id=None,
        signed_at=datetime.datetime(2026, 5, 1, 12, 0, 0, 1000, tzinfo=datetime.UTC),
        input_sha256="a" * 64,
        output_sha256="b" * 64,
        manifest_label=None,
        certificate_fingerprint="c" * 64,
        generator="g «x»",
        generator_version=None,
        media_id="m/1",
    )
    expected = "128d8737966ad5f5094b372ae8318fd3eb9770fa0f2220e14a0d33783a7434ea"
    assert record_hash(fields, prev_hash=GENESIS_HASH) == expected
    # Fields added later are not part of version 1.
    assert record_hash({**fields, "title": "x", "tenant": "t"}, prev_hash=GENESIS_HASH) == expected


def test_the_version_2_hash_and_mac_cover_every_field_the_previous_hash_and_the_key_id(audit_keys):
    key = audit_keys.current
    entry = _entry(1, digital_source_type="trainedAlgorithmicMedia", title="t", tenant="acme")
    base = {name: value for name, value in dataclasses.asdict(entry).items() if name in ENTRY_FIELDS_V2}
    reference = keyed_record_hash(VERSION_2, base, prev_hash=GENESIS_HASH, mac_key_id=key.key_id)
    reference_mac = keyed_record_mac(VERSION_2, key, base, prev_hash=GENESIS_HASH)
    assert keyed_record_hash(VERSION_2, base, prev_hash=GENESIS_HASH, mac_key_id=None) != reference
    assert keyed_record_hash(VERSION_2, base, prev_hash="1" * 64, mac_key_id=key.key_id) != reference
    assert keyed_record_mac(VERSION_2, key, base, prev_hash="1" * 64) != reference_mac
    assert reference_mac != reference  # separate domains: the MAC is not a keyed copy of the hash
    for name, value in base.items():
        other = "x" if value is None or isinstance(value, str) else value + datetime.timedelta(microseconds=1)
        changed = {**base, name: other}
        assert keyed_record_hash(VERSION_2, changed, prev_hash=GENESIS_HASH, mac_key_id=key.key_id) != reference, name
        assert keyed_record_mac(VERSION_2, key, changed, prev_hash=GENESIS_HASH) != reference_mac, name


def test_the_version_3_hash_and_mac_cover_what_became_of_prior_credentials(audit_keys):
    """Version 3 (migration 0012) covers v2's fields and prior_credentials, under domains of its own."""
    key = audit_keys.current
    entry = _entry(1, digital_source_type="trainedAlgorithmicMedia", title="t", tenant="acme", prior_credentials="kept")
    base = dataclasses.asdict(entry)
    assert tuple(base) == ENTRY_FIELDS_V3
    reference = keyed_record_hash(VERSION_3, base, prev_hash=GENESIS_HASH, mac_key_id=key.key_id)
    reference_mac = keyed_record_mac(VERSION_3, key, base, prev_hash=GENESIS_HASH)
    # Not v2's bytes under another name: the same v2 fields give another hash and MAC.
    assert reference != keyed_record_hash(VERSION_2, base, prev_hash=GENESIS_HASH, mac_key_id=key.key_id)
    assert reference_mac != keyed_record_mac(VERSION_2, key, base, prev_hash=GENESIS_HASH)
    for name, value in base.items():
        other = "x" if value is None or isinstance(value, str) else value + datetime.timedelta(microseconds=1)
        changed = {**base, name: other}
        assert keyed_record_hash(VERSION_3, changed, prev_hash=GENESIS_HASH, mac_key_id=key.key_id) != reference, name
        assert keyed_record_mac(VERSION_3, key, changed, prev_hash=GENESIS_HASH) != reference_mac, name
    replaced = {**base, "prior_credentials": "replaced"}
    assert keyed_record_mac(VERSION_3, key, replaced, prev_hash=GENESIS_HASH) != reference_mac


def test_the_hash_covers_every_field_and_the_previous_hash(store):
    base = {name: value for name, value in dataclasses.asdict(_entry(1)).items() if name in ENTRY_FIELDS_V1}
    reference = record_hash(base, prev_hash=GENESIS_HASH)
    assert record_hash(base, prev_hash="1" * 64) != reference
    for name, value in base.items():
        other = "x" if value is None or isinstance(value, str) else value + datetime.timedelta(microseconds=1)
        changed = {**base, name: other}
        assert record_hash(changed, prev_hash=GENESIS_HASH) != reference, name
    # The same instant in another time zone, or naive UTC (as SQLite keeps it), is the same record.
    moved = base["signed_at"].astimezone(datetime.timezone(datetime.timedelta(hours=5)))
    assert record_hash({**base, "signed_at": moved}, prev_hash=GENESIS_HASH) == reference
    naive = base["signed_at"].replace(tzinfo=None)
    assert record_hash({**base, "signed_at": naive}, prev_hash=GENESIS_HASH) == reference


def test_a_signature_recorded_with_its_verdict_is_chained_too(store, real_verdicts):
    store.append(_entry(0))
    store.record_signature(
        tenant="default",
        entry=_entry(1, output_sha256=real_verdicts.trusted.sha256),
        verdict=real_verdicts.trusted,
        label=real_verdicts.trusted_label,
        trust_fingerprint="t",
        media_id="post:1",
    )
    assert _audit(store).verify_chain().records == 2
    assert _audit(store).verify_chain().intact


def test_a_second_record_after_the_same_predecessor_is_refused_by_the_database(store):
    """The unique prev_hash: even a writer that skipped the lock cannot fork the chain."""
    rows = _fill(store, 2)
    forged = {**dataclasses.asdict(_entry(9)), "prev_hash": rows[0].record_hash}
    forged["record_hash"] = record_hash(forged, prev_hash=rows[0].record_hash)
    with pytest.raises(IntegrityError), store.db_engine.begin() as connection:
        connection.execute(insert(audit_log).values(**forged))
    assert _audit(store).verify_chain().intact


# --- concurrency ---

_APPENDER = """
import datetime, hashlib, pathlib, sys, time
from app.store.interface import AuditEntry
from app.store.sql import open_store
url, ready, go, name = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4]
count = int(sys.argv[5])
store = open_store(url, pool_size=1)
store.ping()
ready.touch()
while not go.exists():
    time.sleep(0.001)
for n in range(count):
    digest = hashlib.sha256(f"{name} {n}".encode()).hexdigest()
    store.append(AuditEntry(key_id=None, signed_at=datetime.datetime.now(datetime.UTC), input_sha256=digest,
                            output_sha256=digest, manifest_label=None, certificate_fingerprint=digest,
                            generator=name, media_id=f"{name}-{n}"))
store.close()
"""


def test_two_processes_appending_at_once_keep_one_chain(database_url, tmp_path):
    upgrade_database(database_url)
    go = tmp_path / "go"
    per_process = 25
    ready = [tmp_path / f"ready-{n}" for n in range(2)]
    appenders = [
        subprocess.Popen(
            [sys.executable, "-c", _APPENDER, database_url, str(flag), str(go), f"p{n}", str(per_process)],
            cwd=PROJECT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, flag in enumerate(ready)
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        if any(appender.poll() is not None for appender in appenders):
            break
        time.sleep(0.01)
    go.touch()
    failures = [appender.communicate(timeout=120)[1] for appender in appenders if appender.wait(timeout=120) != 0]
    assert failures == []
    with open_store(database_url, pool_size=1) as store:
        report = _audit(store).verify_chain()
        assert report.intact, report.broken
        assert report.records == 2 * per_process
        generators = [record.entry.generator for record in _audit(store).records(limit=100)]
    assert sorted(set(generators)) == ["p0", "p1"]
    assert 0 < generators.count("p0") == per_process


def test_threads_appending_at_once_keep_one_chain(store):
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def append_some(thread: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(10):
                store.append(_entry(100 * thread + n))
        except BaseException as error:  # noqa: BLE001 - collected: the test fails with it below
            errors.append(error)

    threads = [threading.Thread(target=append_some, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    report = _audit(store).verify_chain()
    assert report.intact and report.records == 40


# --- tampering past the triggers ---


def _tamper(store, how: str, rows: list) -> None:
    middle, last = rows[2], rows[-1]
    with store.db_engine.begin() as connection:
        if how == "edit":
            connection.execute(update(audit_log).where(audit_log.c.id == middle.id).values(generator="not me"))
        elif how == "edit-and-rehash":
            entry = dataclasses.replace(_entry(2), generator="not me")
            key_id = _SESSION_KEYS[0].current.key_id
            new_hash = keyed_record_hash(
                CURRENT_VERSION, dataclasses.asdict(entry), prev_hash=middle.prev_hash, mac_key_id=key_id
            )
            connection.execute(
                update(audit_log).where(audit_log.c.id == middle.id).values(generator="not me", record_hash=new_hash)
            )
        elif how == "delete-middle":
            connection.execute(delete(audit_log).where(audit_log.c.id == middle.id))
        elif how == "delete-first":
            connection.execute(delete(audit_log).where(audit_log.c.id == rows[0].id))
        elif how == "swap-times":
            connection.execute(update(audit_log).where(audit_log.c.id == last.id).values(signed_at=_entry(0).signed_at))
        else:
            raise AssertionError(how)


@pytest.mark.parametrize(
    ("how", "broken_index", "problem"),
    [
        ("edit", 2, ChainProblem.CONTENT_CHANGED),
        ("edit-and-rehash", 2, ChainProblem.MAC_INVALID),  # the hash matches; the MAC cannot
        ("delete-middle", 3, ChainProblem.LINK_BROKEN),
        ("delete-first", 1, ChainProblem.LINK_BROKEN),
        ("swap-times", 4, ChainProblem.CONTENT_CHANGED),
    ],
)
def test_tampering_that_bypasses_the_triggers_is_found(store, how, broken_index, problem):
    rows = _fill(store, 5)
    assert _audit(store).verify_chain().intact
    _drop_append_only_triggers(store)
    _tamper(store, how, rows)

    report = _audit(store).verify_chain()
    assert not report.intact
    broken = break_of(report)
    assert broken.problem is problem
    assert broken.record_id == rows[broken_index].id
    assert f"#{rows[broken_index].id}" in broken.message


def test_cutting_the_newest_records_or_rewriting_the_chain_is_found_with_a_noted_head(database_url):
    """A chain without MACs (a store without an audit key): only the noted head finds these."""
    upgrade_database(database_url)
    with open_store(database_url, pool_size=2) as store:
        _cut_and_rewrite(store)


def _cut_and_rewrite(store) -> None:
    rows = _fill(store, 5)
    noted_head = _audit(store).verify_chain().head_hash
    assert _audit(store).verify_chain(anchor=noted_head).intact
    _drop_append_only_triggers(store)

    with store.db_engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.id == rows[-1].id))
    # A chain alone cannot see a shortened tail: that is what the noted head is for.
    assert _audit(store).verify_chain().intact
    report = _audit(store).verify_chain(anchor=noted_head)
    assert report.broken is not None and report.broken.problem is ChainProblem.ANCHOR_MISSING
    assert report.broken.expected == noted_head

    # Someone who knows the encoding rewrites record 2 and recomputes every hash after it.
    with store.db_engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.id >= rows[2].id))
    store.append(_entry(2, generator="not me"))
    store.append(_entry(3))
    assert _audit(store).verify_chain().intact
    assert break_of(_audit(store).verify_chain(anchor=noted_head)).problem is ChainProblem.ANCHOR_MISSING
    assert _audit(store).verify_chain(anchor=rows[1].record_hash).intact  # still there: before the rewrite


# --- migration 0002 ---


def test_an_upgraded_database_chains_the_records_it_already_had(database_url):
    command.upgrade(alembic_config(database_url), "0001_initial")
    entries = [_entry(n) for n in range(7)]
    db_engine = create_db_engine(database_url, pool_size=1)
    try:
        with db_engine.begin() as connection:
            old_columns = set(ENTRY_FIELDS_V1)  # the columns as 0001 made them
            for entry in entries:
                values = {name: value for name, value in dataclasses.asdict(entry).items() if name in old_columns}
                connection.execute(insert(audit_log).values(**values))
    finally:
        db_engine.dispose()

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision()
    with open_store(database_url, pool_size=1) as store:
        report = _audit(store).verify_chain()
        assert report.intact and report.records == 7
        assert _chain_rows(store)[0].prev_hash == GENESIS_HASH
        assert store.entries(limit=10) == list(reversed(entries))
        store.append(_entry(7))  # new records continue the migrated chain
        assert _audit(store).verify_chain().records == 8
        # The append-only triggers are back after the migration rebuilt or switched them.
        with pytest.raises(IntegrityError, match="append-only"), store.db_engine.begin() as connection:
            connection.execute(update(audit_log).values(generator="rewritten"))

    command.downgrade(alembic_config(database_url), "0001_initial")
    db_engine = create_db_engine(database_url, pool_size=1)
    try:
        with db_engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 8
        with pytest.raises(IntegrityError, match="append-only"), db_engine.begin() as connection:
            connection.execute(text("DELETE FROM audit_log"))
    finally:
        db_engine.dispose()


# --- originmark audit verify / show ---


def _cli(*args: str, env: dict[str, str] | None = None):
    # The session's audit key, as the service's configuration names it.
    env = {"COLUMNS": "200", "ORIGINMARK_AUDIT_KEY_FILE": str(_SESSION_KEY_FILE[0]), **(env or {})}
    return CliRunner().invoke(cli, ["audit", *args], env=env, catch_exceptions=False)


_SESSION_KEY_FILE: list = []


@pytest.fixture(autouse=True)
def _session_key_file(audit_key_file):
    _SESSION_KEY_FILE[:] = [audit_key_file]


def test_audit_verify_reports_an_intact_chain_and_its_head(store, database_url):
    rows = _fill(store, 3)
    result = _cli("verify", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "3 records" in result.output
    assert rows[-1].record_hash in result.output  # whole, to be copied

    result = _cli("verify", "--database-url", database_url, "--head", rows[1].record_hash.upper())
    assert result.exit_code == 0, result.output
    assert "found in the chain" in result.output


def test_audit_verify_names_the_first_broken_record_and_exits_1(store, database_url):
    rows = _fill(store, 4)
    _drop_append_only_triggers(store)
    _tamper(store, "edit", rows)
    result = _cli("verify", "--database-url", database_url)
    assert result.exit_code == 1, result.output
    assert f"BROKEN at record #{rows[2].id}" in result.output
    assert "content_changed" in result.output
    assert rows[2].record_hash in result.output


def test_audit_verify_with_a_head_no_longer_in_the_chain_exits_1(store, database_url):
    rows = _fill(store, 3)
    _drop_append_only_triggers(store)
    with store.db_engine.begin() as connection:
        connection.execute(delete(audit_log).where(audit_log.c.id == rows[-1].id))
    result = _cli("verify", "--database-url", database_url, "--head", rows[-1].record_hash)
    assert result.exit_code == 1, result.output
    assert "anchor_missing" in result.output and "removed from the end" in result.output


def test_audit_show_lists_the_newest_records(store, database_url):
    _fill(store, 5)
    result = _cli("show", "--last", "2", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert "post:4" in result.output and "post:3" in result.output and "post:2" not in result.output
    assert "\u202e" not in result.output  # hostile text is cleaned


def test_audit_show_at_80_columns_is_one_block_per_record_with_whole_headings(store, database_url):
    rows = _fill(store, 2)
    result = _cli("show", "--database-url", database_url, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert not [line for line in result.output.splitlines() if len(line.rstrip()) > 80]
    headings = [line.split("  ")[0] for line in result.output.splitlines() if line.strip()]
    assert headings.count("signed (UTC)") == 2 and headings.count("source type") == 2
    assert re.search(rf"^# +{rows[0].id} *$", result.output, flags=re.MULTILINE)
    assert re.search(rf"^record +{rows[1].record_hash[:8]} *$", result.output, flags=re.MULTILINE)
    assert "post:1" in result.output


def test_audit_commands_refuse_what_they_cannot_read_without_changing_it(tmp_path, database_url):
    missing = tmp_path / "nowhere" / "originmark.db"
    result = _cli("verify", "--database-url", f"sqlite:///{missing}")
    assert result.exit_code == 2 and "no originmark database" in result.output
    assert not missing.parent.exists()  # not created by looking

    result = _cli("verify", "--database-url", database_url)  # never migrated (SQLite: no file yet)
    assert result.exit_code == 2 and "no originmark database" in result.output
    command.upgrade(alembic_config(database_url), "0001_initial")
    result = _cli("show", "--database-url", database_url)
    assert result.exit_code == 2 and "0001_initial" in result.output
    assert current_revision(database_url) == "0001_initial"  # left as it was

    result = _cli("verify", "--head", "abc", "--database-url", database_url)
    assert result.exit_code == 2


def test_audit_verify_reads_the_configured_database(store, database_url):
    _fill(store, 2)
    result = _cli("verify", env={"ORIGINMARK_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    assert "2 records" in result.output
