"""The audit key, on SQLite and PostgreSQL: a database owner who rewrites a record and recomputes the
whole chain with the public encoding is caught by `verify_chain` and by `originmark audit verify`
WITHOUT a noted head; records from before audit keys verify as a chain and are reported as not
authenticated; records made with an older key verify when that key is given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from app.cli import cli
from app.store.audit import SqlAuditLog
from app.store.audit_encoding import ENTRY_FIELDS_V1, GENESIS_HASH, keyed_record_hash, record_hash
from app.store.audit_verify import ChainProblem
from app.store.database import parse_database_url
from app.store.interface import AuditEntry
from app.store.migrate import alembic_config, upgrade_database
from app.store.schema import audit_log
from app.store.sql import open_store
from keys.audit_key import AuditKeyring, create_audit_key_file, read_audit_key_file
from tests.store.test_audit_chain import break_of
from tests.store.test_audit_log import _entry as _plain_entry


def _entry(n: int) -> AuditEntry:
    return dataclasses.replace(_plain_entry(n), digital_source_type="trainedAlgorithmicMedia", title=f"picture {n}")


def _drop_append_only_triggers(db_engine) -> None:
    """What a database owner can do: the triggers no longer stand in the way."""
    with db_engine.begin() as connection:
        if db_engine.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER audit_log_reject_change ON audit_log"))
        else:
            connection.execute(text("DROP TRIGGER audit_log_reject_update"))
            connection.execute(text("DROP TRIGGER audit_log_reject_delete"))


def _rows(db_engine) -> list:
    with db_engine.connect() as connection:
        return connection.execute(select(audit_log).order_by(audit_log.c.id)).all()


def _rechain(
    db_engine, *, from_id: int, changes: dict | None = None, strip_macs: bool = False, to_version_1: bool = False
) -> None:
    """The attack: rewrite records from `from_id` on and recompute every hash after it with the public
    encoding (the key id and MAC columns are left as they were unless stripped)."""
    rows = _rows(db_engine)
    prev_hash = GENESIS_HASH
    with db_engine.begin() as connection:
        for row in rows:
            if row.id < from_id:
                prev_hash = row.record_hash
                continue
            fields = {name: getattr(row, name) for name in AuditEntry.__dataclass_fields__}
            if row.id == from_id:
                fields.update(changes or {})
            new = dict(fields)
            if to_version_1:
                new.update(
                    digital_source_type=None,
                    title=None,
                    prior_credentials=None,
                    replaced_manifest_id=None,
                    hash_version=1,
                    mac_key_id=None,
                    mac=None,
                )
                own = record_hash({name: fields[name] for name in ENTRY_FIELDS_V1}, prev_hash=prev_hash)
            else:
                mac_key_id = None if strip_macs else row.mac_key_id
                if strip_macs:
                    new.update(mac_key_id=None, mac=None)
                own = keyed_record_hash(row.hash_version, fields, prev_hash=prev_hash, mac_key_id=mac_key_id)
            connection.execute(
                update(audit_log).where(audit_log.c.id == row.id).values(**new, prev_hash=prev_hash, record_hash=own)
            )
            prev_hash = own


@pytest.fixture
def keyed(store, audit_keys):
    for n in range(5):
        store.append(_entry(n))
    return store


def _cli_verify(database_url: str, key_file: Path, *extra: str):
    return CliRunner().invoke(
        cli,
        ["audit", "verify", "--database-url", database_url, *extra],
        env={"COLUMNS": "200", "ORIGINMARK_AUDIT_KEY_FILE": str(key_file)},
        catch_exceptions=False,
    )


def test_a_rewritten_and_rechained_record_is_found_without_a_noted_head(
    keyed, audit_keys, audit_key_file, database_url
):
    rows = _rows(keyed.db_engine)
    before = SqlAuditLog(db_engine=keyed.db_engine, keys=audit_keys).verify_chain()
    assert before.intact and before.authenticated_records == 5 and before.mac_key_ids == (audit_keys.current.key_id,)

    _drop_append_only_triggers(keyed.db_engine)
    _rechain(keyed.db_engine, from_id=rows[2].id, changes={"generator": "Someone Else's Camera"})
    # Every link and every hash is consistent again: a chain alone would say intact.
    assert break_of(SqlAuditLog(db_engine=keyed.db_engine).verify_chain()).problem is ChainProblem.MAC_KEY_UNKNOWN

    report = SqlAuditLog(db_engine=keyed.db_engine, keys=audit_keys).verify_chain()
    assert not report.intact
    broken = break_of(report)
    assert broken.problem is ChainProblem.MAC_INVALID
    assert broken.record_id == rows[2].id
    assert broken.expected == rows[2].mac
    assert report.authenticated_records == 2  # the two before it

    result = _cli_verify(database_url, audit_key_file)
    assert result.exit_code == 1, result.output
    assert f"BROKEN at record #{rows[2].id}" in result.output
    assert "mac_invalid" in result.output and "without the audit key" in result.output


@pytest.mark.parametrize("how", ["strip-macs", "back-to-version-1"])
def test_macs_removed_from_a_rewritten_tail_are_found(keyed, audit_keys, audit_key_file, database_url, how):
    rows = _rows(keyed.db_engine)
    _drop_append_only_triggers(keyed.db_engine)
    _rechain(
        keyed.db_engine,
        from_id=rows[3].id,
        changes={"title": "another picture"},
        strip_macs=how == "strip-macs",
        to_version_1=how == "back-to-version-1",
    )
    report = SqlAuditLog(db_engine=keyed.db_engine, keys=audit_keys).verify_chain()
    assert report.broken is not None and report.broken.problem is ChainProblem.MAC_MISSING
    assert report.broken.record_id == rows[3].id
    result = _cli_verify(database_url, audit_key_file)
    assert result.exit_code == 1 and "mac_missing" in result.output


def test_a_record_naming_a_made_up_key_is_not_taken_as_verified(keyed, audit_keys, database_url):
    rows = _rows(keyed.db_engine)
    _drop_append_only_triggers(keyed.db_engine)
    with keyed.db_engine.begin() as connection:
        connection.execute(update(audit_log).where(audit_log.c.id == rows[4].id).values(mac_key_id="00000000"))
    _rechain(keyed.db_engine, from_id=rows[4].id)
    report = SqlAuditLog(db_engine=keyed.db_engine, keys=audit_keys).verify_chain()
    broken = break_of(report)
    assert broken.problem is ChainProblem.MAC_KEY_UNKNOWN and broken.found == "00000000"


def test_records_of_an_older_key_verify_when_it_is_given(database_url, audit_keys, audit_key_file, tmp_path):
    new_key_file = tmp_path / "new-audit.key"
    new_key = create_audit_key_file(new_key_file)
    assert new_key_file.stat().st_mode & 0o777 == 0o600
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1, audit_keys=audit_keys) as before_rotation:
        before_rotation.append(_entry(0))
    rotated = AuditKeyring(current=new_key)
    with open_store(database_url, pool_size=1, audit_keys=rotated) as after_rotation:
        after_rotation.append(_entry(1))
        old_id = audit_keys.current.key_id
        report = SqlAuditLog(db_engine=after_rotation.db_engine, keys=rotated).verify_chain()
        broken = break_of(report)
        assert broken.problem is ChainProblem.MAC_KEY_UNKNOWN and broken.found == old_id
        both = AuditKeyring(current=new_key, retired=(read_audit_key_file(audit_key_file),))
        report = SqlAuditLog(db_engine=after_rotation.db_engine, keys=both).verify_chain()
        assert report.intact and report.authenticated_records == 2
        assert report.mac_key_ids == tuple(sorted((old_id, new_key.key_id)))

    without_old = _cli_verify(database_url, new_key_file)
    assert without_old.exit_code == 1 and "mac_key_unknown" in without_old.output and "--key-file" in without_old.output
    with_old = _cli_verify(database_url, new_key_file, "--key-file", str(audit_key_file))
    assert with_old.exit_code == 0, with_old.output
    assert "authenticated  2 records" in with_old.output
    unreadable = _cli_verify(database_url, new_key_file, "--key-file", str(tmp_path / "gone.key"))
    assert unreadable.exit_code == 2 and "Cannot read the audit key file" in unreadable.output


def test_records_from_before_audit_keys_are_reported_not_authenticated_not_tampered(
    database_url, audit_keys, audit_key_file
):
    command.upgrade(alembic_config(database_url), "0006_webhook_pending")
    legacy = sa.table(
        "audit_log", *(sa.column(name) for name in ENTRY_FIELDS_V1), sa.column("prev_hash"), sa.column("record_hash")
    )
    db_engine = sa.create_engine(parse_database_url(database_url))
    prev_hash = GENESIS_HASH
    with db_engine.begin() as connection:
        for n in range(3):
            fields = {name: getattr(_entry(n), name) for name in ENTRY_FIELDS_V1}
            if db_engine.dialect.name == "sqlite":
                fields["signed_at"] = fields["signed_at"].replace(tzinfo=None)  # naive UTC, as the store keeps it
            own = record_hash(fields, prev_hash=prev_hash)
            connection.execute(sa.insert(legacy).values(**fields, prev_hash=prev_hash, record_hash=own))
            prev_hash = own
    db_engine.dispose()
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1, audit_keys=audit_keys) as store:
        store.append(_entry(3))
        report = SqlAuditLog(db_engine=store.db_engine, keys=audit_keys).verify_chain()
    assert report.intact and (report.legacy_records, report.authenticated_records) == (3, 1)

    result = _cli_verify(database_url, audit_key_file)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "4 records" in result.output
    assert "not authenticated (written before audit keys)  3 records" in result.output


def test_audit_show_lists_the_claim_and_the_audit_key(keyed, audit_keys, audit_key_file, database_url):
    result = CliRunner().invoke(
        cli, ["audit", "show", "--last", "1", "--database-url", database_url], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    assert "trainedAlgorithmicMedia" in result.output and "picture 4" in result.output
    assert audit_keys.current.key_id in result.output
    assert audit_key_file.read_text().strip() not in result.output
