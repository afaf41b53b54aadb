"""One home for data (issue 13): the same data from every folder, `info`, read-only commands that
create nothing, the legacy ./data layout and `home migrate`, the config file's place in the settings.

The default home is the platformdirs user data dir; tests point it into a temporary folder with
XDG_DATA_HOME (what platformdirs reads on Linux), never at the real one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner, Result

from app.cli import cli
from app.settings import Settings
from app.store.migrate import upgrade_database
from tests.support import free_port, running_server, sign_generated_jpeg

ORIGINMARK = Path(sys.executable).with_name("originmark")
TOKEN = re.compile(r"om_[a-z0-9]{10}_[A-Za-z0-9_-]{43}")


def _default_home_env(xdg: Path, **extra: str) -> dict[str, str]:
    """The environment of a user who set no ORIGINMARK_HOME, their data dir under `xdg`."""
    env = {name: value for name, value in os.environ.items() if name != "ORIGINMARK_HOME"}
    return {**env, "XDG_DATA_HOME": str(xdg), "COLUMNS": "200", **extra}


def _originmark(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ORIGINMARK), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _cli(*args: str, **env: str | None) -> Result:
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "200", **env}, catch_exceptions=False)


# --- the same data from every folder, against one running server --------------------------------


def test_a_key_made_in_one_folder_works_on_a_server_started_in_another(tmp_path):
    folder_a, folder_b, xdg = tmp_path / "a", tmp_path / "b", tmp_path / "xdg"
    for folder in (folder_a, folder_b):
        folder.mkdir()
    light = {"ORIGINMARK_VERIFY_WORKERS": "1", "ORIGINMARK_SIGN_WORKERS": "1", "ORIGINMARK_SIGN_CONCURRENCY": "1"}
    env = _default_home_env(xdg, **light)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(ORIGINMARK), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with running_server(command, env=env, log_path=tmp_path / "server.log", base_url=url, cwd=folder_b):
        created = _originmark(folder_a, env, "apikey", "create", "--name", "from-a", "--scopes", "sign,verify")
        assert created.returncode == 0, created.stderr
        assert "created database" not in created.stderr  # the server's database, found from folder A
        token = TOKEN.search(created.stdout)
        assert token is not None, created.stdout
        signed = sign_generated_jpeg(url, token.group(0))  # the key works there
    for folder in (folder_a, folder_b):
        (folder / "signed.jpg").write_bytes(signed)
        inspected = _originmark(folder, env, "inspect", "signed.jpg")
        assert "state: trusted  trust list: local" in inspected.stdout, (folder, inspected.stdout, inspected.stderr)
        verified = _originmark(folder, env, "verify", "--format", "json", "signed.jpg")
        assert json.loads(verified.stdout)[0]["state"] == "trusted", (folder, verified.stdout)
        info = json.loads(_originmark(folder, env, "info", "--format", "json").stdout)
        assert info["home"] == str(xdg / "originmark") and info["home_chosen_by"] == "default"
        assert not (folder / "data").exists()  # nothing written relative to the current folder


# --- info ------------------------------------------------------------------------------------------


def test_info_says_where_everything_is_within_80_columns_and_hides_the_password(tmp_path):
    home = tmp_path / "home"
    database_url = "postgresql+psycopg://originmark:s3cret-pw@db.internal:5432/originmark"
    result = _cli(
        "info",
        ORIGINMARK_HOME=str(home),
        ORIGINMARK_DATABASE_URL=database_url,
        ORIGINMARK_API_KEY="om_abcdefghij_secretsecretsecret",
        ORIGINMARK_PKCS11_PIN="1234",
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "s3cret-pw" not in text and "secretsecret" not in text and "1234" not in text
    assert "postgresql+psycopg://originmark:***@db.internal:5432/originmark" in text
    flat = re.sub(r"\n {13}", "", text)  # long paths are wrapped (cut anywhere) under their label
    for expected in (
        f"home         {home}(set by ORIGINMARK_HOME)",
        f"keys         {home / 'keys'}(no signing",
        f"objects      {home / 'objects'}",
        "spool",
        "c2pa (manifest)",
        "itl (manifest)",
        "engine       c2pa-rs",
        "originmark   ",
        f"{home / 'config.toml'}(not present; optional)",
    ):
        assert expected in flat, expected
    assert not home.exists()  # info only looks

    as_json = json.loads(_cli("info", "--format", "json", ORIGINMARK_HOME=str(home)).stdout)
    assert as_json["home"] == str(home) and as_json["home_chosen_by"] == "ORIGINMARK_HOME"
    assert as_json["database_url"] == f"sqlite:///{home / 'originmark.db'}" and as_json["database_exists"] is False
    assert {item["name"] for item in as_json["trust_lists"]} >= {"c2pa", "c2pa-tsa", "itl"}
    assert not home.exists()


def test_info_names_the_config_file_used_and_the_credentials_found(tmp_path, dev_credentials):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f'keys_dir = "{dev_credentials.directory}"\n')
    facts = json.loads(_cli("info", "-f", "json", ORIGINMARK_HOME=str(home)).stdout)
    assert facts["config_file"] == str(home / "config.toml") and facts["config_file_used"] is True
    assert facts["keys_dir"] == str(dev_credentials.directory) and facts["signing_credentials"] is True
    assert "local" in {item["name"] for item in facts["trust_lists"]}


# --- read-only commands create nothing ------------------------------------------------------------

READ_ONLY = [
    ["apikey", "list"],
    ["apikey", "revoke", "abcdefghij"],
    ["apikey", "policy", "abcdefghij"],
    ["audit", "verify"],
    ["audit", "show"],
    ["tenants", "list"],
    ["tenants", "show", "acme"],
    ["batch", "report", "0" * 32],
]


@pytest.mark.parametrize("command", READ_ONLY, ids=lambda command: " ".join(command[:2]))
def test_a_command_that_only_reads_says_where_it_looked_and_creates_nothing(tmp_path, command):
    home = tmp_path / "home"
    result = _cli(*command, ORIGINMARK_HOME=str(home))
    assert result.exit_code == 2, result.output
    said = " ".join(result.stderr.split())
    assert f"there is no originmark database at sqlite:///{home / 'originmark.db'}; nothing was created" in said
    assert not home.exists()


def test_a_command_that_creates_the_database_says_where(tmp_path):
    home = tmp_path / "home"
    first = _cli("tenants", "create", "acme", ORIGINMARK_HOME=str(home))
    assert first.exit_code == 0, first.output
    assert f"created database at sqlite:///{home / 'originmark.db'}" in " ".join(first.stderr.split())
    second = _cli("apikey", "create", "--name", "n", "--scopes", "read", "--tenant", "acme", ORIGINMARK_HOME=str(home))
    assert second.exit_code == 0 and "created database" not in second.stderr
    assert "acme" in _cli("tenants", "list", ORIGINMARK_HOME=str(home)).stdout


# --- the legacy ./data layout and `home migrate` ---------------------------------------------------


def _legacy_checkout(tmp_path: Path) -> Path:
    """A folder with ./data of the old layout: a database with one API key, and keys/."""
    checkout = tmp_path / "checkout"
    made = _cli("apikey", "create", "--name", "old-key", "--scopes", "read", ORIGINMARK_HOME=str(checkout / "data"))
    assert made.exit_code == 0, made.output
    (checkout / "data" / "keys").mkdir()
    (checkout / "data" / "keys" / "ca.pem").write_text("not a real CA\n")
    return checkout


def test_a_legacy_data_folder_is_used_with_a_warning_then_migrated_into_the_home(tmp_path, monkeypatch):
    checkout, xdg = _legacy_checkout(tmp_path), tmp_path / "xdg"
    default_home = xdg / "originmark"
    unset = {"ORIGINMARK_HOME": None, "XDG_DATA_HOME": str(xdg)}
    monkeypatch.chdir(checkout)

    listed = _cli("apikey", "list", **unset)
    assert listed.exit_code == 0 and "old-key" in listed.stdout  # found, not silently abandoned
    warning = " ".join(listed.stderr.split())
    assert f"Warning: using {checkout / 'data'} (the old ./data layout" in warning
    assert "originmark home migrate" in warning
    assert not default_home.exists()

    moved = _cli("home", "migrate", **unset)
    assert moved.exit_code == 0, moved.output
    assert f"Moved keys/, originmark.db from {checkout / 'data'} to {default_home}." in " ".join(moved.stdout.split())
    assert (default_home / "keys" / "ca.pem").is_file() and not (checkout / "data").exists()

    for folder in (checkout, tmp_path):  # now the same keys from anywhere, and no warning
        monkeypatch.chdir(folder)
        listed = _cli("apikey", "list", **unset)
        assert "old-key" in listed.stdout and "Warning" not in listed.stderr

    again = _cli("home", "migrate", "--from", str(checkout / "data"), **unset)
    assert again.exit_code == 2 and "nothing to move" in again.stderr


def test_migrate_refuses_a_home_that_already_has_data_and_moves_nothing(tmp_path, monkeypatch):
    checkout = _legacy_checkout(tmp_path)
    home = tmp_path / "home"
    upgrade_database(f"sqlite:///{home / 'originmark.db'}")
    monkeypatch.chdir(tmp_path)
    refused = _cli("home", "migrate", "--from", str(checkout / "data"), ORIGINMARK_HOME=str(home))
    assert refused.exit_code == 2
    assert f"the home {home} already holds a database or keys: nothing moved" in " ".join(refused.stderr.split())
    assert (checkout / "data" / "originmark.db").is_file() and not (home / "keys").exists()


def test_an_explicit_home_wins_over_a_legacy_folder(tmp_path, monkeypatch):
    checkout = _legacy_checkout(tmp_path)
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("ORIGINMARK_HOME", str(tmp_path / "elsewhere"))
    settings = Settings()
    assert settings.home == tmp_path / "elsewhere" and settings.home_source.name == "ENVIRONMENT"


# --- the config file -------------------------------------------------------------------------------


def test_the_config_file_is_below_the_environment_and_above_the_defaults(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('# comment\nport = 9001\nlog_level = "debug"\nkeys_dir = "my-keys"\n')
    monkeypatch.setenv("ORIGINMARK_HOME", str(home))
    monkeypatch.setenv("ORIGINMARK_PORT", "9002")
    settings = Settings()
    assert settings.port == 9002  # the environment wins
    assert settings.log_level == "debug"  # the file wins over the default
    assert settings.keys_dir == home / "my-keys"  # a relative path in the file is relative to the home
    assert settings.database_url == f"sqlite:///{home / 'originmark.db'}"  # the default, from the home
    assert settings.config_file == home / "config.toml"


@pytest.mark.parametrize("variable", ["ORIGINMARK_SIGN_CONCURRENCY", "ORIGINMARK_ENGINE_THREADS"])
def test_sign_concurrency_is_read_under_its_name_and_its_deprecated_one(tmp_path, monkeypatch, variable):
    monkeypatch.setenv("ORIGINMARK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ORIGINMARK_SIGN_CONCURRENCY", raising=False)
    monkeypatch.delenv("ORIGINMARK_ENGINE_THREADS", raising=False)
    monkeypatch.setenv(variable, "3")
    assert Settings().sign_concurrency == 3


def test_the_new_name_wins_over_the_deprecated_one_in_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ORIGINMARK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ORIGINMARK_ENGINE_THREADS", "3")
    monkeypatch.setenv("ORIGINMARK_SIGN_CONCURRENCY", "5")
    assert Settings().sign_concurrency == 5
    assert Settings(sign_concurrency=7).sign_concurrency == 7  # by name in code, above the environment


@pytest.mark.parametrize("name", ["sign_concurrency", "engine_threads"])
def test_the_config_file_takes_sign_concurrency_under_either_name(tmp_path, monkeypatch, name):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(f"{name} = 3\n")
    monkeypatch.setenv("ORIGINMARK_HOME", str(home))
    monkeypatch.delenv("ORIGINMARK_SIGN_CONCURRENCY", raising=False)
    monkeypatch.delenv("ORIGINMARK_ENGINE_THREADS", raising=False)
    assert Settings().sign_concurrency == 3
    monkeypatch.setenv("ORIGINMARK_ENGINE_THREADS", "4")  # the environment, under any name, wins over the file
    assert Settings().sign_concurrency == 4


def test_the_environment_is_read_in_any_case_under_the_constructor_and_validated(tmp_path, monkeypatch):
    monkeypatch.setenv("ORIGINMARK_HOME", str(tmp_path))
    monkeypatch.setenv("originmark_port", "9003")  # the prefix and the name in any case
    monkeypatch.setenv("ORIGINMARK_Thumbnails", "yes")
    monkeypatch.setenv("ORIGINMARK_NOT_A_SETTING", "ignored")
    monkeypatch.setenv("ORIGINMARK_SERVER_URL", "")  # empty is a value (verify here), not unset
    settings = Settings(log_level="debug")
    assert (settings.port, settings.thumbnails, settings.server_url, settings.log_level) == (9003, True, "", "debug")
    assert Settings(port=1).port == 1  # the constructor wins over the environment
    monkeypatch.setenv("ORIGINMARK_WORKER_METRICS_PORT", "")
    with pytest.raises(ValidationError, match="worker_metrics_port"):
        Settings()


def test_a_relative_home_is_made_absolute_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORIGINMARK_HOME", "relative")
    assert Settings().keys_dir == tmp_path / "relative" / "keys"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("port = 9001\nprot = 9002\n", "line 2: unknown setting 'prot'"),
        ('port = "nine"\n', "line 1: port: Input should be a valid integer"),
        ("\n\nport = [\n", "not valid TOML"),
        ('home = "/elsewhere"\n', "line 1: 'home' cannot be set in the config file"),
        ("verify_workers = 0\n", "line 1: verify_workers: Input should be greater than or equal to 1"),
        ("engine_threads = 0\n", "line 1: engine_threads: Input should be greater than or equal to 1"),
        (
            "sign_concurrency = 2\nengine_threads = 3\n",
            "line 2: sign_concurrency and engine_threads are one setting (the older name is deprecated): "
            "keep only sign_concurrency",
        ),
    ],
)
def test_a_bad_config_file_is_a_clear_error_naming_the_file_and_line(tmp_path, content, message):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(content)
    result = _cli("info", ORIGINMARK_HOME=str(home))
    assert result.exit_code == 2
    said = " ".join(result.stderr.split())
    assert f"config file {home / 'config.toml'}" in said and message in said, said
    assert "Traceback" not in result.output
