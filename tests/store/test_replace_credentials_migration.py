"""Migration 0012, on SQLite and PostgreSQL: API keys get the grant to replace credentials (denied
for every key that exists), and the audit log records what each signature did with the credentials
the file carried, in record version 3; a log with version 2 records before and version 3 records
after the upgrade verifies (`verify_chain` and `originmark audit verify`), and a version 3 record
relabelled as version 2 to hide a replacement is found.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import inspect, select, text, update
from typer.testing import CliRunner

from app.cli import cli
from app.store.audit import SqlAuditLog
from app.store.audit_encoding import (
    ENTRY_FIELDS_V2,
    GENESIS_HASH,
    VERSION_2,
    VERSION_3,
    keyed_record_hash,
    keyed_record_mac,
)
from app.store.audit_verify import ChainProblem
from app.store.database import parse_database_url
from app.store.interface import AuditEntry, Scope
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade_database
from app.store.schema import audit_log
from app.store.sql import open_store
from app.store.tokens import format_token, hash_secret, new_secret
from keys.audit_key import AuditKeyring
from signer.policy import SigningPolicy
from tests.store.test_audit_chain import break_of
from tests.store.test_audit_log import _entry as _plain_entry
from tests.store.test_audit_mac import _drop_append_only_triggers

BEFORE = "0011_tenant_sbr_public"


def _entry(n: int, **changes) -> AuditEntry:
    return dataclasses.replace(
        _plain_entry(n), digital_source_type="trainedAlgorithmicMedia", title=f"picture {n}", **changes
    )


def _columns(database_url: str, table: str) -> set[str]:
    db_engine = sa.create_engine(parse_database_url(database_url))
    try:
        return {column["name"] for column in inspect(db_engine).get_columns(table)}
    finally:
        db_engine.dispose()


def _write_version_2_records(database_url: str, keys: AuditKeyring, count: int) -> None:
    """What the code before 0012 wrote: version 2 records with their MAC, in the 0011 table."""
    key = keys.current
    assert key is not None
    table = sa.table(
        "audit_log",
        *(sa.column(name) for name in ENTRY_FIELDS_V2),
        *(sa.column(name) for name in ("prev_hash", "record_hash", "hash_version", "mac_key_id", "mac")),
    )
    db_engine = sa.create_engine(parse_database_url(database_url))
    prev_hash = GENESIS_HASH
    try:
        with db_engine.begin() as connection:
            for n in range(count):
                fields = {name: getattr(_entry(n), name) for name in ENTRY_FIELDS_V2}
                own = keyed_record_hash(VERSION_2, fields, prev_hash=prev_hash, mac_key_id=key.key_id)
                mac = keyed_record_mac(VERSION_2, key, fields, prev_hash=prev_hash)
                if db_engine.dialect.name == "sqlite":
                    fields["signed_at"] = fields["signed_at"].replace(tzinfo=None)  # naive UTC, as the store keeps it
                connection.execute(
                    sa.insert(table).values(
                        **fields,
                        prev_hash=prev_hash,
                        record_hash=own,
                        hash_version=VERSION_2,
                        mac_key_id=key.key_id,
                        mac=mac,
                    )
                )
                prev_hash = own
    finally:
        db_engine.dispose()


def _write_old_key(database_url: str) -> str:
    """A sign key as 0011 kept it; its token."""
    secret = new_secret()
    db_engine = sa.create_engine(parse_database_url(database_url))
    try:
        with db_engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_keys (key_id, tenant, name, secret_hash, scopes, created_at) "
                    "VALUES ('oldsigner0', 'default', 'old', :hash, 'sign', CURRENT_TIMESTAMP)"
                ),
                {"hash": hash_secret(secret)},
            )
    finally:
        db_engine.dispose()
    return format_token(key_id="oldsigner0", secret=secret)


def _verify_cli(database_url: str, key_file: Path):
    return CliRunner().invoke(
        cli,
        ["audit", "verify", "--database-url", database_url],
        env={"COLUMNS": "200", "ORIGINMARK_AUDIT_KEY_FILE": str(key_file)},
        catch_exceptions=False,
    )


def test_0012_keeps_old_keys_denied_and_chains_version_3_records_after_version_2_ones(
    database_url, audit_keys, audit_key_file
):
    command.upgrade(alembic_config(database_url), BEFORE)
    _write_version_2_records(database_url, audit_keys, 3)
    token = _write_old_key(database_url)
    assert "may_replace_credentials" not in _columns(database_url, "api_keys")
    assert not {"prior_credentials", "replaced_manifest_id"} & _columns(database_url, "audit_log")

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision()
    with open_store(database_url, pool_size=1, audit_keys=audit_keys) as store:
        old = store.authenticate(token)
        assert old is not None and old.signing_policy.may_replace_credentials is False  # denied, as before
        store.append(_entry(3, prior_credentials="replaced", replaced_manifest_id="urn:c2pa:dropped"))
        store.append(_entry(4, prior_credentials="kept"))
        store.append(_entry(5, prior_credentials="none"))
        with pytest.raises(ValueError, match="prior_credentials"):
            store.append(_entry(6, prior_credentials="erased"))
        with pytest.raises(ValueError, match="replaced_manifest_id"):
            store.append(_entry(6, prior_credentials="kept", replaced_manifest_id="urn:c2pa:x"))
        audit = SqlAuditLog(db_engine=store.db_engine, keys=audit_keys)
        records = list(reversed(audit.records(limit=10)))
        assert [(r.hash_version, r.entry.prior_credentials) for r in records] == [
            (VERSION_2, None),
            (VERSION_2, None),
            (VERSION_2, None),
            (VERSION_3, "replaced"),
            (VERSION_3, "kept"),
            (VERSION_3, "none"),
        ]
        report = audit.verify_chain()
        assert report.intact and report.records == 6 and report.authenticated_records == 6

    result = _verify_cli(database_url, audit_key_file)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "6 records" in result.output
    shown = CliRunner().invoke(
        cli, ["audit", "show", "--last", "6", "--database-url", database_url], env={"COLUMNS": "250"}
    )
    assert shown.exit_code == 0, shown.output
    assert "replaced urn:c2pa:dropped" in shown.output and "kept" in shown.output

    # Down again: the columns go, the keys and the version 2 records stay.
    command.downgrade(alembic_config(database_url), BEFORE)
    assert "may_replace_credentials" not in _columns(database_url, "api_keys")
    assert not {"prior_credentials", "replaced_manifest_id"} & _columns(database_url, "audit_log")
    db_engine = sa.create_engine(parse_database_url(database_url))
    try:
        with db_engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 1
            assert connection.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 6
    finally:
        db_engine.dispose()


def test_a_replacement_hidden_by_relabelling_its_record_as_version_2_is_found(
    store, audit_keys, audit_key_file, database_url
):
    for n in range(3):
        replaced = {"prior_credentials": "replaced", "replaced_manifest_id": "urn:c2pa:dropped"}
        store.append(_entry(n, **(replaced if n == 1 else {"prior_credentials": "kept"})))
    _drop_append_only_triggers(store.db_engine)
    with store.db_engine.connect() as connection:
        rows = connection.execute(select(audit_log).order_by(audit_log.c.id)).all()
    target = rows[1]
    # The public encoding recomputed as version 2 (which has no prior_credentials): the hash
    # matches, the MAC cannot without the audit key.
    fields = {name: getattr(target, name) for name in ENTRY_FIELDS_V2}
    if isinstance(fields["signed_at"], datetime.datetime) and fields["signed_at"].tzinfo is None:
        fields["signed_at"] = fields["signed_at"].replace(tzinfo=datetime.UTC)
    rehashed = keyed_record_hash(VERSION_2, fields, prev_hash=target.prev_hash, mac_key_id=target.mac_key_id)
    with store.db_engine.begin() as connection:
        connection.execute(
            update(audit_log)
            .where(audit_log.c.id == target.id)
            .values(hash_version=VERSION_2, prior_credentials=None, replaced_manifest_id=None, record_hash=rehashed)
        )
        connection.execute(update(audit_log).where(audit_log.c.id == rows[2].id).values(prev_hash=rehashed))
    broken = break_of(SqlAuditLog(db_engine=store.db_engine, keys=audit_keys).verify_chain())
    assert broken.problem is ChainProblem.MAC_INVALID and broken.record_id == target.id
    assert _verify_cli(database_url, audit_key_file).exit_code == 1


def test_a_version_2_record_that_says_what_became_of_prior_credentials_was_changed(store, audit_keys):
    store.append(_entry(0, prior_credentials="kept"))
    _drop_append_only_triggers(store.db_engine)
    with store.db_engine.begin() as connection:
        # Outside version 2's hash: whatever it says there was never authenticated.
        connection.execute(update(audit_log).values(hash_version=VERSION_2))
    broken = break_of(SqlAuditLog(db_engine=store.db_engine, keys=audit_keys).verify_chain())
    assert broken.problem is ChainProblem.CONTENT_CHANGED
    assert "prior credentials" in broken.message


def test_a_key_granted_replacing_keeps_the_grant_for_itself_only(store):
    store.create_tenant("acme")
    store.create_tenant("globex")
    granted = dataclasses.replace(SigningPolicy.default(), may_replace_credentials=True)
    acme, acme_token = store.create_key(
        name="acme tool", scopes=frozenset({Scope.SIGN}), tenant="acme", signing_policy=granted
    )
    globex, globex_token = store.create_key(name="globex", scopes=frozenset({Scope.SIGN}), tenant="globex")
    assert store.authenticate(acme_token).signing_policy.may_replace_credentials is True
    assert store.authenticate(globex_token).signing_policy.may_replace_credentials is False
