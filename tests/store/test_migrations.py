"""Migrations: an empty database reaches head, matches app/store/schema.py, and can go back down."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import IntegrityError

from app.store.audit import SqlAuditLog
from app.store.audit_encoding import ENTRY_FIELDS_V1, GENESIS_HASH, record_hash
from app.store.database import parse_database_url
from app.store.interface import AuditEntry, Scope
from app.store.migrate import alembic_config, current_revision, head_revision, include_name, upgrade_database
from app.store.schema import audit_log, metadata
from app.store.sql import open_store

TABLES = {
    "verdicts",
    "media",
    "api_keys",
    "audit_log",
    "tenants",
    "tenant_content",
    "originmark_jobs",
    "originmark_batches",
    "originmark_batch_jobs",
    "repository_entries",
    "repository_bindings",
    "repository_deletions",
    "repository_visibility_changes",
    "feed_thumbnails",
}


def _tables(database_url: str) -> set[str]:
    db_engine = create_engine(parse_database_url(database_url))
    try:
        return set(inspect(db_engine).get_table_names())
    finally:
        db_engine.dispose()


def test_an_empty_database_is_brought_to_head_and_a_second_upgrade_changes_nothing(database_url):
    assert current_revision(database_url) is None
    assert _tables(database_url) & TABLES == set()

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision() == "0013_feed_thumbnails"
    assert _tables(database_url) >= TABLES

    upgrade_database(database_url)  # what every start of the service and every `apikey` command does
    assert current_revision(database_url) == head_revision()


def test_the_migrated_schema_is_exactly_the_schema_the_code_uses(database_url):
    upgrade_database(database_url)
    db_engine = create_engine(parse_database_url(database_url))
    try:
        with db_engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": include_name})
            differences = compare_metadata(context, metadata)
    finally:
        db_engine.dispose()
    assert differences == []


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(database_url):
    upgrade_database(database_url)
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    assert _tables(database_url) & TABLES == set()
    upgrade_database(database_url)
    assert _tables(database_url) >= TABLES


def test_processes_upgrading_at_once_all_succeed(database_url, tmp_path):
    """Several server workers starting together: the upgrade runs once, the others wait and find head."""
    import subprocess
    import sys
    import time

    go = tmp_path / "go"
    script = (
        "import sys, time, pathlib\n"
        "from app.store.migrate import upgrade_database\n"
        "pathlib.Path(sys.argv[2]).touch()\n"  # imported and ready
        "while not pathlib.Path(sys.argv[3]).exists(): time.sleep(0.001)\n"
        "upgrade_database(sys.argv[1])\n"
    )
    ready = [tmp_path / f"ready-{n}" for n in range(4)]
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, database_url, str(flag), str(go)], stderr=subprocess.PIPE, text=True
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all at once
    failures = [worker.communicate(timeout=120)[1] for worker in workers if worker.wait(timeout=120) != 0]
    assert failures == []
    assert current_revision(database_url) == head_revision()


# --- 0007_audit_claims: the audit log gains the claim, the tenant and MACs, in place ---

_AUDIT_LOG_AT_0006 = sa.table(  # the columns as 0002 left them (frozen here, not the code's schema)
    "audit_log",
    *(sa.column(name) for name in ENTRY_FIELDS_V1),
    sa.column("prev_hash"),
    sa.column("record_hash"),
)


def _legacy_entry(n: int) -> AuditEntry:
    digest = hashlib.sha256(f"legacy {n}".encode()).hexdigest()
    return AuditEntry(
        key_id="abcdefghij" if n % 2 else None,
        signed_at=datetime.datetime(2026, 6, 1, 8, 0, n, 500 * n, tzinfo=datetime.UTC),
        input_sha256=digest,
        output_sha256=digest,
        manifest_label=None,
        certificate_fingerprint=digest,
        generator=f"model {n}",
        media_id=f"old:{n}",
    )


def _write_legacy_chain(database_url: str, count: int) -> None:
    """Records as the code before 0007 wrote them: version 1 hashes, no MAC."""
    db_engine = create_engine(parse_database_url(database_url))
    prev_hash = GENESIS_HASH
    try:
        with db_engine.begin() as connection:
            for n in range(count):
                fields = {name: getattr(_legacy_entry(n), name) for name in ENTRY_FIELDS_V1}
                if db_engine.dialect.name == "sqlite":  # naive UTC, as the store's UtcDateTime keeps it there
                    fields["signed_at"] = fields["signed_at"].replace(tzinfo=None)
                own = record_hash(fields, prev_hash=prev_hash)
                connection.execute(sa.insert(_AUDIT_LOG_AT_0006).values(**fields, prev_hash=prev_hash, record_hash=own))
                prev_hash = own
    finally:
        db_engine.dispose()


def test_0007_upgrades_an_audit_log_in_place_and_its_old_records_keep_verifying(database_url, audit_keys):
    config = alembic_config(database_url)
    command.upgrade(config, "0006_webhook_pending")
    _write_legacy_chain(database_url, 3)

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision()
    with open_store(database_url, pool_size=1, audit_keys=audit_keys) as store:
        audit = SqlAuditLog(db_engine=store.db_engine, keys=audit_keys)
        report = audit.verify_chain()
        assert report.intact and report.records == 3
        assert (report.legacy_records, report.authenticated_records) == (3, 0)
        old = store.entries(limit=3)
        assert old == [_legacy_entry(n) for n in (2, 1, 0)]
        assert {(e.tenant, e.digital_source_type, e.title) for e in old} == {("default", None, None)}
        store.append(dataclasses.replace(_legacy_entry(3), digital_source_type="trainedAlgorithmicMedia", title="t"))
        report = audit.verify_chain()
        assert report.intact and (report.legacy_records, report.authenticated_records) == (3, 1)
        # No table rebuild: the append-only triggers are still there on both dialects.
        with pytest.raises(IntegrityError, match="append-only"), store.db_engine.begin() as connection:
            connection.execute(sa.update(audit_log).values(generator="rewritten"))
        with pytest.raises(IntegrityError, match="append-only"), store.db_engine.begin() as connection:
            connection.execute(sa.delete(audit_log))

    command.downgrade(config, "0006_webhook_pending")
    db_engine = create_engine(parse_database_url(database_url))
    try:
        columns = {column["name"] for column in inspect(db_engine).get_columns("audit_log")}
        assert columns == {"id", *ENTRY_FIELDS_V1, "prev_hash", "record_hash"}
        with db_engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(_AUDIT_LOG_AT_0006)).scalar_one() == 4
        with pytest.raises(IntegrityError, match="append-only"), db_engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM audit_log"))
    finally:
        db_engine.dispose()
    upgrade_database(database_url)  # and up again
    assert current_revision(database_url) == head_revision()


def test_0008_puts_every_existing_key_media_id_and_job_into_the_default_tenant(database_url):
    """A database from before tenants: after the upgrade everything is `default`'s and reads as before."""
    from app.store.sql import open_store

    command.upgrade(alembic_config(database_url), "0007_audit_claims")
    db_engine = create_engine(parse_database_url(database_url))
    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    sha = "ab" * 32
    try:
        with db_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO verdicts (sha256, state, label_kind, verdict_json, label_json, trust_fingerprint, "
                    "stored_at) VALUES (:sha, 'none', 'none', '{}', '{\"kind\":\"none\"}', 't', :now)"
                ),
                {"sha": sha, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO media (media_id, sha256, label_json, updated_at) VALUES ('post-1', :sha, 'L', :now)"
                ),
                {"sha": sha, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO api_keys (key_id, name, secret_hash, scopes, created_at) "
                    "VALUES ('abcdefghij', 'old', :hash, 'read', :now)"
                ),
                {"hash": "0" * 64, "now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO originmark_jobs (id, kind, idempotency_key, source, status) "
                    "VALUES (:id, 'verify', 'k', 's3://b/k', 'queued')"
                ),
                {"id": "f" * 32},
            )
    finally:
        db_engine.dispose()

    upgrade_database(database_url)
    with open_store(database_url) as store:
        assert [t.name for t in store.list_tenants()] == ["default"]
        default = store.tenant("default")
        assert default is not None and default.object_prefixes == ()  # secure by default: granted explicitly
        assert [k.tenant for k in store.list_keys()] == ["default"]
        assert store.labels_json_for("default", ["post-1"]) == {"post-1": "L"}
        assert store.labels_json_for("other", ["post-1"]) == {"post-1": None}
        with store.db_engine.connect() as connection:
            assert connection.execute(sa.text("SELECT tenant FROM originmark_jobs")).scalar_one() == "default"
            # Submitted by the one tenant there was: `default` may read it by hash.
            submitted = connection.execute(sa.text("SELECT tenant, sha256 FROM tenant_content")).all()
            assert [tuple(row) for row in submitted] == [("default", sha)]

        store.create_tenant("other")
        other_key, _token = store.create_key(name="other", scopes=frozenset({Scope.READ}), tenant="other")

    command.downgrade(alembic_config(database_url), "0007_audit_claims")
    db_engine = create_engine(parse_database_url(database_url))
    try:
        with db_engine.connect() as connection:
            assert connection.execute(sa.text("SELECT media_id FROM media")).scalars().all() == ["post-1"]
            revoked: dict[str, bool] = dict(
                connection.execute(sa.text("SELECT key_id, revoked_at IS NOT NULL FROM api_keys")).all()
            )
    finally:
        db_engine.dispose()
    # Without owners, another tenant's key would act on `default`'s data: it is revoked; default's stays.
    assert revoked == {"abcdefghij": False, other_key.key_id: True}


def test_0009_adds_the_repository_beside_existing_data_and_its_downgrade_removes_only_it(database_url):
    import hashlib

    from app.store.repository import EntryOrigin, NewEntry, StoredManifest

    command.upgrade(alembic_config(database_url), "0008_tenants")
    with open_store(database_url, pool_size=1) as store:
        store.create_tenant("acme")
    upgrade_database(database_url)
    repository_tables = {"repository_entries", "repository_bindings", "repository_deletions"}
    later_tables = {
        "repository_visibility_changes",
        "feed_thumbnails",
    }  # 0010's and 0013's: a downgrade to 0008 drops them too
    assert _tables(database_url) >= repository_tables
    with open_store(database_url, pool_size=1) as store:
        assert [tenant.name for tenant in store.list_tenants()] == ["acme", "default"]  # untouched
        kept = StoredManifest(size=3, sha256=hashlib.sha256(b"abc").hexdigest(), inline=b"abc")
        store.repository.add_entry(
            NewEntry(
                manifest_id="urn:c2pa:m", tenant="acme", asset_sha256="a" * 64, origin=EntryOrigin.SIGNED, store=kept
            )
        )

    command.downgrade(alembic_config(database_url), "0008_tenants")
    assert current_revision(database_url) == "0008_tenants"
    assert _tables(database_url) & repository_tables == set()
    assert _tables(database_url) >= TABLES - repository_tables - later_tables
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1) as store:
        assert store.repository.stats().entries == 0  # the downgrade dropped the entries with their tables
        assert store.tenant("acme") is not None


def _tenant_columns(database_url: str) -> set[str]:
    db_engine = create_engine(parse_database_url(database_url))
    try:
        return {column["name"] for column in inspect(db_engine).get_columns("tenants")}
    finally:
        db_engine.dispose()


def test_0011_adds_sbr_public_closed_for_every_tenant_and_its_downgrade_keeps_the_tenants(database_url):
    command.upgrade(alembic_config(database_url), "0010_repository_visibility")
    db_engine = create_engine(parse_database_url(database_url))
    try:
        with db_engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO tenants (name, object_prefixes, webhook_secret_generation, created_at) "
                    "VALUES ('acme', '[\"shared/acme/\"]', 3, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        db_engine.dispose()
    assert "sbr_public" not in _tenant_columns(database_url)

    upgrade_database(database_url)
    with open_store(database_url, pool_size=1) as store:
        # Existing tenants stay closed (the default), with everything else they had.
        assert {tenant.name: tenant.sbr_public for tenant in store.list_tenants()} == {"acme": False, "default": False}
        acme = store.set_sbr_public("acme", True)
        assert acme is not None and acme.sbr_public and acme.object_prefixes == ("shared/acme/",)
        assert acme.webhook_secret_generation == 3
        reread = store.tenant("acme")
        assert reread is not None and reread.sbr_public is True
        assert store.set_sbr_public("nobody", True) is None
        store.create_tenant("newer")
        newer = store.tenant("newer")
        assert newer is not None and newer.sbr_public is False

    command.downgrade(alembic_config(database_url), "0010_repository_visibility")
    assert current_revision(database_url) == "0010_repository_visibility"
    assert "sbr_public" not in _tenant_columns(database_url)
    db_engine = create_engine(parse_database_url(database_url))
    try:
        with db_engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT name, object_prefixes, webhook_secret_generation FROM tenants ORDER BY name")
            ).all()
    finally:
        db_engine.dispose()
    assert [tuple(row) for row in rows] == [("acme", '["shared/acme/"]', 3), ("default", "[]", 1), ("newer", "[]", 1)]

    upgrade_database(database_url)  # up again: every tenant closed, the opening went with the column
    with open_store(database_url, pool_size=1) as store:
        assert not any(tenant.sbr_public for tenant in store.list_tenants())
