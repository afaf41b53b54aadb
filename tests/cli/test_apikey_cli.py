"""`originmark apikey` through the CLI's entry point, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.store.interface import Scope
from app.store.sql import open_store

TOKEN = re.compile(r"om_([a-z0-9]{10})_[A-Za-z0-9_-]{43}")
POSTGRES_URL = os.environ.get("ORIGINMARK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> Iterator[str]:
    """A database the commands have never seen (they migrate it themselves)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'originmark.db'}"
        return
    server = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"originmark_cli_test_{uuid.uuid4().hex[:16]}"
    try:
        admin = psycopg.connect(server, autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            separator = "&" if "?" in POSTGRES_URL else "?"
            yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def run(database_url: str, *args: str):
    return CliRunner().invoke(
        cli, ["apikey", *args], env={"ORIGINMARK_DATABASE_URL": database_url, "COLUMNS": "200"}, catch_exceptions=False
    )


def test_create_prints_the_token_once_and_it_authenticates(database_url):
    created = run(database_url, "create", "--name", "upload pipeline", "--scopes", "sign, VERIFY")
    assert created.exit_code == 0, created.output
    tokens = TOKEN.findall(created.stdout)
    assert len(tokens) == 1  # one key id: the token appears once
    token = TOKEN.search(created.stdout).group(0)
    assert created.stdout.count(token) == 1
    assert "shown only this once" in created.stdout
    assert "scopes sign,verify" in created.stdout

    with open_store(database_url, pool_size=1) as store:
        key = store.authenticate(token)
    assert key is not None and key.name == "upload pipeline"
    assert key.scopes == frozenset({Scope.SIGN, Scope.VERIFY})

    listed = run(database_url, "list")
    assert listed.exit_code == 0
    assert key.key_id in listed.stdout and "upload pipeline" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout and token.split("_", 2)[2] not in listed.stdout


def test_revoke_makes_the_key_fail_and_list_shows_when(database_url):
    created = run(database_url, "create", "--name", "leaked", "--scopes", "read")
    token = TOKEN.search(created.stdout).group(0)
    key_id = TOKEN.search(created.stdout).group(1)

    revoked = run(database_url, "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert f"Revoked API key {key_id}" in revoked.stdout
    with open_store(database_url, pool_size=1) as store:
        assert store.authenticate(token) is None

    again = run(database_url, "revoke", key_id)
    assert again.exit_code == 0 and "already revoked" in again.stdout
    listed = run(database_url, "list")
    row = next(line for line in listed.stdout.splitlines() if key_id in line)
    assert "active" not in row and row.count("UTC") == 2  # created and revoked times


def test_revoking_an_unknown_key_id_exits_2(database_url):
    result = run(database_url, "revoke", "nosuchkey0")
    assert result.exit_code == 2
    assert "no API key has the id 'nosuchkey0'" in result.stderr


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("sign,admin", "unknown scope 'admin'; the scopes are sign, verify, read"),
        (",", "name at least one scope"),
    ],
)
def test_an_invalid_scope_exits_2_with_the_valid_scopes_and_creates_nothing(database_url, scopes, message):
    result = run(database_url, "create", "--name", "n", "--scopes", scopes)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert TOKEN.search(result.output) is None
    assert "No API keys yet" in run(database_url, "list").stdout


def test_an_empty_name_exits_2(database_url):
    result = run(database_url, "create", "--name", "  ", "--scopes", "read")
    assert result.exit_code == 2
    assert "a key name is 1 to 200 characters" in result.stderr


def test_list_on_a_new_database_says_how_to_create_a_key(database_url):
    result = run(database_url, "list")
    assert result.exit_code == 0
    assert "No API keys yet" in result.stdout


def test_a_name_with_markup_and_escape_sequences_is_shown_inert(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    hostile = "[link=https://evil.example]x[/link]\x1b[2Jname"
    created = run(url, "create", "--name", hostile, "--scopes", "read")
    assert created.exit_code == 0
    listed = run(url, "list")
    assert "\x1b" not in listed.stdout and "\x1b" not in created.stdout
    assert "[link=https://evil.example]x[/link]" in listed.stdout  # shown literally, not as a link


def test_a_database_that_cannot_be_used_exits_2_with_a_message(tmp_path):
    result = run("mysql://root@localhost/originmark", "list")
    assert result.exit_code == 2
    assert "unsupported database 'mysql'" in result.stderr
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = run(f"sqlite:///{blocked}/o.db", "list")
    assert result.exit_code == 2
    assert "Error:" in result.stderr
