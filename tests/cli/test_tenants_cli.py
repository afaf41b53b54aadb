"""`originmark tenants` and `apikey create --tenant` through the CLI's entry point (SQLite and PostgreSQL)."""

from __future__ import annotations

from typer.testing import CliRunner, Result

from app.cli import cli
from app.jobs.tenant_secrets import tenant_webhook_secret
from app.store.sql import open_store

from . import test_apikey_cli

authenticated, issued = test_apikey_cli.authenticated, test_apikey_cli.issued
database_url = test_apikey_cli.database_url  # the fixture: a fresh database on SQLite and on PostgreSQL

WEBHOOK_SECRET = "operator-master-key-0123456789abcdefghij"


def run(database_url: str, tmp_path, *args: str, **env: str) -> Result:
    environment = {
        "ORIGINMARK_DATABASE_URL": database_url,
        "ORIGINMARK_OBJECTS_DIR": str(tmp_path / "objects"),
        "COLUMNS": "200",
        **env,
    }
    return CliRunner().invoke(cli, list(args), env=environment, catch_exceptions=False)


def test_create_list_show_update_and_a_key_of_the_tenant(database_url, tmp_path):
    objects = tmp_path / "objects"
    created = run(
        database_url,
        tmp_path,
        "tenants",
        "create",
        "acme-ai",
        "--object-prefix",
        "s3://acme-out/generated/",
        "--object-prefix",
        "acme/",
    )
    assert created.exit_code == 0, created.output
    assert "Created tenant acme-ai" in created.stdout and "s3://acme-out/generated/" in created.stdout

    key = run(
        database_url, tmp_path, "apikey", "create", "--tenant", "acme-ai", "--name", "pipeline", "--scopes", "sign"
    )
    assert key.exit_code == 0, key.output
    assert "of tenant acme-ai" in key.stdout
    with open_store(database_url, pool_size=1) as store:
        assert authenticated(store, issued(key.stdout).group(0)).tenant == "acme-ai"

    listed = run(database_url, tmp_path, "tenants", "list")
    assert listed.exit_code == 0
    acme = next(line for line in listed.stdout.splitlines() if line.strip().startswith("acme-ai"))
    assert acme.split()[:4] == ["acme-ai", "1", "no", "s3://acme-out/generated/"]
    assert any(line.split()[:4] == ["default", "0", "no", "-"] for line in listed.stdout.splitlines())

    shown = run(database_url, tmp_path, "tenants", "show", "acme-ai")
    assert shown.exit_code == 0 and "pipeline" in shown.stdout and "1 active" in shown.stdout

    updated = run(
        database_url, tmp_path, "tenants", "update", "acme-ai", "--object-prefix", (objects / "acme").as_uri() + "/"
    )
    assert updated.exit_code == 0, updated.output
    with open_store(database_url, pool_size=1) as store:
        tenant = store.tenant("acme-ai")
        assert tenant is not None and tenant.object_prefixes == ((objects / "acme").as_uri() + "/",)
    cleared = run(database_url, tmp_path, "tenants", "update", "acme-ai")
    assert cleared.exit_code == 0 and "none (jobs take uploaded files only)" in cleared.stdout


def test_sbr_public_is_opened_and_closed_and_leaves_the_prefixes_alone(database_url, tmp_path):
    assert run(database_url, tmp_path, "tenants", "create", "acme", "--object-prefix", "acme/").exit_code == 0
    shown = run(database_url, tmp_path, "tenants", "show", "acme")
    assert "Public SBR reading: no" in shown.stdout

    opened = run(database_url, tmp_path, "tenants", "update", "acme", "--sbr-public")
    assert opened.exit_code == 0, opened.output
    assert "Public SBR reading: yes" in opened.stdout and "acme/" in opened.stdout
    with open_store(database_url, pool_size=1) as store:
        acme = store.tenant("acme")
        assert acme is not None and acme.sbr_public and acme.object_prefixes == ("acme/",)  # prefixes kept
        default = store.tenant("default")
        assert default is not None and default.sbr_public is False
    listed = run(database_url, tmp_path, "tenants", "list").stdout.splitlines()
    assert next(line for line in listed if line.strip().startswith("acme")).split()[:4] == ["acme", "0", "yes", "acme/"]
    assert "Public SBR reading: yes" in run(database_url, tmp_path, "tenants", "show", "acme").stdout

    # Both at once: the prefixes given replace the old ones, and the reading closes.
    closed = run(database_url, tmp_path, "tenants", "update", "acme", "--no-sbr-public", "--object-prefix", "other/")
    assert closed.exit_code == 0, closed.output
    with open_store(database_url, pool_size=1) as store:
        acme = store.tenant("acme")
        assert acme is not None and not acme.sbr_public and acme.object_prefixes == ("other/",)
    unknown = run(database_url, tmp_path, "tenants", "update", "nobody", "--sbr-public")
    assert unknown.exit_code == 2 and "no tenant 'nobody'" in unknown.output


def test_mistakes_exit_2_and_change_nothing(database_url, tmp_path):
    assert run(database_url, tmp_path, "tenants", "create", "Bad Name").exit_code == 2
    assert run(database_url, tmp_path, "tenants", "create", "acme").exit_code == 0
    again = run(database_url, tmp_path, "tenants", "create", "acme")
    assert again.exit_code == 2 and "exists already" in again.output
    outside = run(database_url, tmp_path, "tenants", "update", "acme", "--object-prefix", "../elsewhere/")
    assert outside.exit_code == 2 and "'..'" in outside.output
    assert run(database_url, tmp_path, "tenants", "update", "acme", "--object-prefix", "ftp://x/").exit_code == 2
    assert run(database_url, tmp_path, "tenants", "show", "nobody").exit_code == 2
    unknown = run(database_url, tmp_path, "apikey", "create", "--tenant", "nobody", "--name", "n", "--scopes", "read")
    assert unknown.exit_code == 2 and "no tenant 'nobody'" in unknown.output
    with open_store(database_url, pool_size=1) as store:
        acme = store.tenant("acme")
        assert acme is not None and acme.object_prefixes == ()
        assert store.list_keys() == []
        assert [t.name for t in store.list_tenants()] == ["acme", "default"]


def test_webhook_secret_is_per_tenant_and_rotates(database_url, tmp_path):
    assert run(database_url, tmp_path, "tenants", "webhook-secret", "default").exit_code == 2  # no webhooks here
    env = {"ORIGINMARK_WEBHOOK_MASTER_KEY": WEBHOOK_SECRET}
    assert run(database_url, tmp_path, "tenants", "create", "acme").exit_code == 0
    shown = run(database_url, tmp_path, "tenants", "webhook-secret", "acme", **env)
    assert shown.exit_code == 0
    assert shown.stdout.strip() == tenant_webhook_secret(WEBHOOK_SECRET, tenant="acme", generation=1)
    assert WEBHOOK_SECRET not in shown.output  # the operator's secret is never printed
    rotated = run(database_url, tmp_path, "tenants", "webhook-secret", "acme", "--rotate", **env)
    assert rotated.exit_code == 0
    assert rotated.stdout.strip() == tenant_webhook_secret(WEBHOOK_SECRET, tenant="acme", generation=2)
    other = run(database_url, tmp_path, "tenants", "webhook-secret", "default", **env)
    assert other.stdout.strip() == tenant_webhook_secret(WEBHOOK_SECRET, tenant="default", generation=1)


def test_the_shared_webhook_secret_of_earlier_versions_is_refused_with_the_upgrade_steps(database_url, tmp_path):
    refused = run(
        database_url, tmp_path, "tenants", "webhook-secret", "default", ORIGINMARK_WEBHOOK_SECRET="old-shared"
    )
    assert refused.exit_code == 2
    assert "ORIGINMARK_WEBHOOK_MASTER_KEY" in refused.output and "old-shared" not in refused.output


def test_feed_thumbnails_are_turned_on_and_off_and_leave_the_prefixes_alone(database_url, tmp_path):
    assert run(database_url, tmp_path, "tenants", "create", "acme", "--object-prefix", "acme/").exit_code == 0
    assert "Feed thumbnails: no" in run(database_url, tmp_path, "tenants", "show", "acme").stdout

    on = run(database_url, tmp_path, "tenants", "update", "acme", "--feed-thumbnails")
    assert on.exit_code == 0, on.output
    assert "Feed thumbnails: yes" in on.stdout
    with open_store(database_url, pool_size=1) as store:
        acme = store.tenant("acme")
        assert acme is not None and acme.feed_thumbnails and acme.object_prefixes == ("acme/",)
        default = store.tenant("default")
        assert default is not None and default.feed_thumbnails is False

    off = run(database_url, tmp_path, "tenants", "update", "acme", "--no-feed-thumbnails")
    assert off.exit_code == 0, off.output
    assert "Feed thumbnails: no" in off.stdout
    with open_store(database_url, pool_size=1) as store:
        acme = store.tenant("acme")
        assert acme is not None and not acme.feed_thumbnails and acme.object_prefixes == ("acme/",)
