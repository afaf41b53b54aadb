"""`originmark repository stats|show|delete|export` through the CLI's entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json

from typer.testing import CliRunner

from app.cli import cli
from app.store.migrate import upgrade_database
from app.store.repository import ISCC_ALG, EntryOrigin, NewEntry, SoftBinding, StoredManifest
from app.store.sql import open_store

from . import test_apikey_cli

database_url = test_apikey_cli.database_url  # the fixture: a fresh database on SQLite and on PostgreSQL

CODE = 0x0123_4567_89AB_CDEF
STORE = b"\x00\x00\x00\x10jumb manifest store bytes"


def run(database_url: str, tmp_path, *args: str, columns: int = 80):
    environment = {
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_OBJECTS_DIR": str(tmp_path / "objects"),
        "COLUMNS": str(columns),
    }
    return CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)


def _fill(database_url: str, *entries: tuple[str, str, EntryOrigin, bool]) -> None:
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1) as store:
        for manifest_id, tenant, origin, private in entries:
            store.repository.add_entry(
                NewEntry(
                    manifest_id=manifest_id,
                    tenant=tenant,
                    asset_sha256=hashlib.sha256(manifest_id.encode()).hexdigest(),
                    origin=origin,
                    private=private,
                    store=StoredManifest(size=len(STORE), sha256=hashlib.sha256(STORE).hexdigest(), inline=STORE),
                    bindings=(SoftBinding(alg=ISCC_ALG, value=b"\x21\x01" + CODE.to_bytes(8, "big"), code64=CODE),),
                )
            )


def _rows(output: str) -> dict[str, str]:
    return {line.rsplit(None, 1)[0].strip(): line.rsplit(None, 1)[1] for line in output.splitlines()[1:]}


def _assert_fits(output: str) -> None:
    assert all(len(line) <= 80 for line in output.splitlines()), output


def test_stats_show_and_export(database_url, tmp_path):
    _fill(
        database_url,
        ("urn:c2pa:one", "default", EntryOrigin.SIGNED, False),
        ("urn:c2pa:two", "acme", EntryOrigin.SIGNED, True),
        ("urn:c2pa:three", "acme", EntryOrigin.VERIFIED, False),
    )
    stats = run(database_url, tmp_path, "repository", "stats")
    assert stats.exit_code == 0, stats.output
    _assert_fits(stats.stdout)
    rows = _rows(stats.stdout)
    assert rows["kept"] == "3" and rows["private"] == "1" and rows["kept from a verify"] == "1"
    assert rows["searchable by content (io.iscc.v0)"] == "3" and rows["deleted (takedowns)"] == "0"
    assert _rows(run(database_url, tmp_path, "repository", "stats", "--tenant", "acme").stdout)["kept"] == "2"

    shown = run(database_url, tmp_path, "repository", "show", "urn:c2pa:two")
    assert shown.exit_code == 0, shown.output
    _assert_fits(shown.stdout)
    assert "Tenant: acme  (private)" in shown.stdout and f"code64 {CODE:016x}" in shown.stdout
    # As another tenant sees it: a private entry is not there.
    hidden = run(database_url, tmp_path, "repository", "show", "urn:c2pa:two", "--tenant", "default")
    assert hidden.exit_code == 2 and "no entry" in hidden.output

    out = tmp_path / "export.jsonl"
    exported = run(database_url, tmp_path, "repository", "export", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["manifest_id"] for line in lines] == ["urn:c2pa:one", "urn:c2pa:two", "urn:c2pa:three"]
    assert base64.b64decode(lines[0]["manifest_store"]) == STORE
    assert lines[1]["private"] is True and lines[2]["origin"] == "verified"
    assert lines[0]["bindings"][0]["code64"] == CODE
    to_stdout = run(database_url, tmp_path, "repository", "export", "--tenant", "acme")
    assert [json.loads(line)["manifest_id"] for line in to_stdout.stdout.splitlines()] == [
        "urn:c2pa:two",
        "urn:c2pa:three",
    ]


def test_delete_is_a_recorded_takedown(database_url, tmp_path):
    _fill(database_url, ("urn:c2pa:gone", "acme", EntryOrigin.SIGNED, False))
    without_reason = run(database_url, tmp_path, "repository", "delete", "urn:c2pa:gone")
    assert without_reason.exit_code == 2  # --reason is required
    deleted = run(database_url, tmp_path, "repository", "delete", "urn:c2pa:gone", "--reason", "takedown TD-7")
    assert deleted.exit_code == 0, deleted.output
    assert "Deleted urn:c2pa:gone of tenant acme" in deleted.stdout
    with open_store(database_url, pool_size=1) as store:
        assert store.repository.entries_with_manifest_id("urn:c2pa:gone") == []
        assert store.repository.candidates_near(CODE, 0, "acme") == []
        with store.db_engine.connect() as connection:
            actor, reason = connection.exec_driver_sql("SELECT actor, reason FROM repository_deletions").one()
    assert actor.startswith("cli:") and reason == "takedown TD-7"
    again = run(database_url, tmp_path, "repository", "delete", "urn:c2pa:gone", "--reason", "again")
    assert again.exit_code == 2 and "no entry" in again.output


def test_delete_of_an_id_two_tenants_keep_asks_which(database_url, tmp_path):
    _fill(
        database_url,
        ("urn:c2pa:shared", "acme", EntryOrigin.VERIFIED, False),
        ("urn:c2pa:shared", "beta", EntryOrigin.VERIFIED, False),
    )
    ambiguous = run(database_url, tmp_path, "repository", "delete", "urn:c2pa:shared", "--reason", "r")
    assert ambiguous.exit_code == 2 and "acme, beta" in ambiguous.output and "--tenant" in ambiguous.output
    chosen = run(database_url, tmp_path, "repository", "delete", "urn:c2pa:shared", "--reason", "r", "--tenant", "beta")
    assert chosen.exit_code == 0, chosen.output
    # --tenant deletes that tenant's own entry only, never another's it can see.
    _fill(database_url, ("urn:c2pa:public", "acme", EntryOrigin.SIGNED, False))
    not_owner = run(
        database_url, tmp_path, "repository", "delete", "urn:c2pa:public", "--reason", "r", "--tenant", "beta"
    )
    assert not_owner.exit_code == 2 and "keeps no entry" in not_owner.output
    assert run(database_url, tmp_path, "repository", "show", "urn:c2pa:shared").stdout.count("Entry ") == 1


def test_private_and_public_change_what_other_tenants_find_and_are_recorded(database_url, tmp_path):
    _fill(database_url, ("urn:c2pa:mine", "acme", EntryOrigin.SIGNED, False))
    made_private = run(database_url, tmp_path, "repository", "private", "urn:c2pa:mine", "--tenant", "acme")
    assert made_private.exit_code == 0, made_private.output
    assert "urn:c2pa:mine of tenant acme is now private" in made_private.stdout
    with open_store(database_url, pool_size=1) as store:
        assert store.repository.entry_by_manifest_id("beta", "urn:c2pa:mine") is None
        assert store.repository.candidates_near(CODE, 0, "beta") == []
        own = store.repository.entry_by_manifest_id("acme", "urn:c2pa:mine")
        assert own is not None and own.private
    # --tenant acts on that tenant's own entry only: beta cannot make acme's entry public.
    not_owner = run(database_url, tmp_path, "repository", "public", "urn:c2pa:mine", "--tenant", "beta")
    assert not_owner.exit_code == 2 and "keeps no entry" in not_owner.output
    made_public = run(database_url, tmp_path, "repository", "public", "urn:c2pa:mine")  # the one owner
    assert made_public.exit_code == 0 and "is now public" in made_public.stdout
    with open_store(database_url, pool_size=1) as store:
        found = store.repository.entry_by_manifest_id("beta", "urn:c2pa:mine")
        assert found is not None and found.tenant == "acme"
        assert [c.manifest_id for c in store.repository.candidates_near(CODE, 0, "beta")] == ["urn:c2pa:mine"]
        with store.db_engine.connect() as connection:
            recorded = connection.exec_driver_sql(
                "SELECT tenant, private, actor FROM repository_visibility_changes ORDER BY id"
            ).all()
    assert [(tenant, bool(private)) for tenant, private, _ in recorded] == [("acme", True), ("acme", False)]
    assert all(actor.startswith("cli:") for _, _, actor in recorded)
    unknown = run(database_url, tmp_path, "repository", "private", "urn:c2pa:nobody")
    assert unknown.exit_code == 2 and "no entry" in unknown.output
