"""`originmark apikey` through the CLI's entry point, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from app.store.interface import ApiKey, ApiKeyStore, Scope
from app.store.migrate import upgrade_database
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


def run(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["apikey", *args], env={"ORIGINMARK_DATABASE_URL": database_url, "COLUMNS": "200"}, catch_exceptions=False
    )


def issued(output: str) -> re.Match[str]:
    """The token `apikey create` printed (group 1 is its key id); fails the test when it printed none."""
    match = TOKEN.search(output)
    assert match is not None, f"no API token in the output:\n{output}"
    return match


def authenticated(store: ApiKeyStore, token: str) -> ApiKey:
    """The active key of `token`; fails the test when the store does not accept it."""
    key = store.authenticate(token)
    assert key is not None, "the token does not authenticate"
    return key


def test_create_prints_the_token_once_and_it_authenticates(database_url):
    created = run(database_url, "create", "--name", "upload pipeline", "--scopes", "sign, VERIFY")
    assert created.exit_code == 0, created.output
    tokens = TOKEN.findall(created.stdout)
    assert len(tokens) == 1  # one key id: the token appears once
    token = issued(created.stdout).group(0)
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
    token, key_id = issued(created.stdout).group(0, 1)

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
    upgrade_database(database_url)
    result = run(database_url, "revoke", "nosuchkey0")
    assert result.exit_code == 2
    assert "no API key has the id 'nosuchkey0'" in result.stderr


@pytest.mark.parametrize(
    ("scopes", "message"),
    [
        ("sign,admin", "unknown scope 'admin'; the scopes are sign, verify, read, sbr"),
        (",", "name at least one scope"),
    ],
)
def test_an_invalid_scope_exits_2_with_the_valid_scopes_and_creates_nothing(database_url, scopes, message):
    result = run(database_url, "create", "--name", "n", "--scopes", scopes)
    assert result.exit_code == 2
    assert message in " ".join(result.stderr.replace("│", " ").split())
    assert TOKEN.search(result.output) is None
    assert "there is no originmark database" in run(database_url, "list").stderr  # not even a database


def test_an_empty_name_exits_2(database_url):
    result = run(database_url, "create", "--name", "  ", "--scopes", "read")
    assert result.exit_code == 2
    assert "a key name is 1 to 200 characters" in result.stderr


def test_list_on_a_new_database_says_how_to_create_a_key(database_url):
    upgrade_database(database_url)
    result = run(database_url, "list")
    assert result.exit_code == 0
    assert "No API keys yet" in result.stdout


@pytest.mark.parametrize("command", [["list"], ["revoke", "nosuchkey0"], ["policy", "nosuchkey0"]])
def test_without_a_database_only_create_makes_one_and_says_where(database_url, command):
    result = run(database_url, *command)
    assert result.exit_code == 2
    assert f"there is no originmark database at {database_url.split('?')[0]}" in " ".join(result.stderr.split())
    assert "nothing was created" in result.stderr
    if database_url.startswith("sqlite"):
        assert not Path(database_url.removeprefix("sqlite:///")).exists()
    created = run(database_url, "create", "--name", "n", "--scopes", "read")
    assert created.exit_code == 0
    assert "created database at" in created.stderr
    assert "created database" not in run(database_url, "create", "--name", "m", "--scopes", "read").stderr


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


# --- signing policies (issue 5): --generators / --source-types, `apikey policy` ---

DEFAULT_TYPES = "compositeWithTrainedAlgorithmicMedia,trainedAlgorithmicMedia"


def _flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_create_with_a_signing_policy_stores_and_lists_it(database_url):
    from signer.manifest import DigitalSourceType
    from signer.policy import SigningPolicy

    created = run(
        database_url,
        "create",
        "--name",
        "acme product",
        "--scopes",
        "sign",
        "--generators",
        "Acme Diffusion, Acme Labs *",
        "--source-types",
        "trainedAlgorithmicMedia,COMPOSITEWITHTRAINEDALGORITHMICMEDIA",
    )
    assert created.exit_code == 0, created.output
    assert (
        "Signing policy: may claim generators: 'Acme Diffusion', 'Acme Labs *'; "
        "digital source types: compositeWithTrainedAlgorithmicMedia,trainedAlgorithmicMedia"
    ) in _flat(created.stdout)
    token = issued(created.stdout).group(0)
    with open_store(database_url, pool_size=1) as store:
        key = authenticated(store, token)
    assert key.signing_policy == SigningPolicy.of(
        generators=["Acme Diffusion", "Acme Labs *"],
        source_types=[
            DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA,
            DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        ],
    )

    plain = run(database_url, "create", "--name", "default signer", "--scopes", "sign,verify")
    assert f"may claim generators: any; digital source types: {DEFAULT_TYPES}" in _flat(plain.stdout)
    reader = run(database_url, "create", "--name", "feed", "--scopes", "read")
    assert "Signing policy" not in reader.stdout  # only sign keys have one that matters

    listed = run(database_url, "list")
    assert listed.exit_code == 0
    lines = listed.stdout.splitlines()
    acme = next(n for n, line in enumerate(lines) if key.key_id in line)
    assert "Acme Diffusion" in lines[acme] and "compositeWithTrainedAlgorithmicMedia" in lines[acme]
    assert "Acme Labs *" in lines[acme + 1] and "trainedAlgorithmicMedia" in lines[acme + 1]
    feed = next(line for line in lines if " feed " in line)
    assert feed.split()[4:6] == ["-", "-"]  # no policy shown for a key that cannot sign


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--source-types", "trainedAlgorithmicMedia,handPainted"],
            "unknown digital source type 'handPainted'; the known ones are trainedAlgorithmicMedia, "
            "compositeWithTrainedAlgorithmicMedia, algorithmicMedia",
        ),
        (["--source-types", " , "], "name at least one digital source type"),
        (["--generators", ","], "name at least one generator, or '*' for any"),
        (["--generators", "Acme\x07"], "a generator name or pattern contains a control character"),
        (["--generators", "g" * 257], "a generator name or pattern is over 256 characters"),
    ],
    ids=["unknown-source-type", "no-source-type", "no-generator", "control-character", "too-long"],
)
def test_an_invalid_policy_exits_2_and_creates_nothing(database_url, options, message):
    result = run(database_url, "create", "--name", "n", "--scopes", "sign", *options)
    assert result.exit_code == 2, result.output
    assert message in _flat(result.stderr)
    assert TOKEN.search(result.output) is None
    assert "there is no originmark database" in run(database_url, "list").stderr  # not even a database


def test_a_policy_for_a_key_that_cannot_sign_exits_2(database_url):
    result = run(database_url, "create", "--name", "feed", "--scopes", "read", "--source-types", "digitalCapture")
    assert result.exit_code == 2
    assert "--generators, --source-types and --allow-replace-credentials are for keys with the sign scope" in _flat(
        result.stderr
    )
    assert "there is no originmark database" in run(database_url, "list").stderr  # nothing was created


def test_policy_shows_and_changes_a_keys_policy_at_once(database_url):
    from signer.manifest import DigitalSourceType

    created = run(database_url, "create", "--name", "camera app", "--scopes", "sign")
    token, key_id = issued(created.stdout).group(0, 1)

    shown = run(database_url, "policy", key_id)
    assert shown.exit_code == 0
    assert f"may claim generators: any; digital source types: {DEFAULT_TYPES}" in _flat(shown.stdout)

    changed = run(database_url, "policy", key_id, "--source-types", "digitalCapture,computationalCapture")
    assert changed.exit_code == 0, changed.output
    out = _flat(changed.stdout)
    assert f"Signing policy of API key {key_id} changed." in out
    assert f"before: may claim generators: any; digital source types: {DEFAULT_TYPES}" in out
    assert "now: may claim generators: any; digital source types: computationalCapture,digitalCapture" in out
    with open_store(database_url, pool_size=1) as store:
        policy = authenticated(store, token).signing_policy
    assert policy.any_generator  # not given: kept
    assert policy.source_types == {DigitalSourceType.DIGITAL_CAPTURE, DigitalSourceType.COMPUTATIONAL_CAPTURE}

    everything = run(database_url, "policy", key_id, "--generators", "Demo Camera", "--source-types", "*")
    assert "now: may claim generators: 'Demo Camera'; digital source types: any (digitalCapture included)" in (
        _flat(everything.stdout)
    )
    with open_store(database_url, pool_size=1) as store:
        assert authenticated(store, token).signing_policy.source_types == frozenset(DigitalSourceType)


def test_replacing_credentials_is_denied_until_granted_and_can_be_withdrawn(database_url):
    created = run(database_url, "create", "--name", "uploads", "--scopes", "sign")
    token, key_id = issued(created.stdout).group(0, 1)
    assert "replacing a file's credentials: denied" in _flat(created.stdout)  # the default

    granted = run(database_url, "policy", key_id, "--allow-replace-credentials")
    assert granted.exit_code == 0, granted.output
    out = _flat(granted.stdout)
    assert "before: may claim generators: any; digital source types: " in out
    assert f"digital source types: {DEFAULT_TYPES}; replacing a file's credentials: allowed" in out  # the rest kept
    with open_store(database_url, pool_size=1) as store:
        assert authenticated(store, token).signing_policy.may_replace_credentials is True
    listed = _flat(run(database_url, "list").stdout)
    assert "replace credentials" in listed and "allowed" in listed

    withdrawn = run(database_url, "policy", key_id, "--no-allow-replace-credentials")
    assert "now: may claim generators: any" in _flat(withdrawn.stdout)
    assert "replacing a file's credentials: denied" in _flat(withdrawn.stdout).split("now:")[1]
    with open_store(database_url, pool_size=1) as store:
        assert authenticated(store, token).signing_policy.may_replace_credentials is False

    at_creation = run(database_url, "create", "--name", "tool", "--scopes", "sign", "--allow-replace-credentials")
    assert "replacing a file's credentials: allowed" in _flat(at_creation.stdout)
    refused = run(database_url, "create", "--name", "feed", "--scopes", "read", "--allow-replace-credentials")
    assert refused.exit_code == 2 and "sign scope" in _flat(refused.stderr)


def test_policy_on_an_unknown_revoked_or_non_sign_key_exits_2(database_url):
    upgrade_database(database_url)
    assert run(database_url, "policy", "nosuchkey0").exit_code == 2
    unknown = run(database_url, "policy", "nosuchkey0", "--generators", "x")
    assert unknown.exit_code == 2 and "no API key has the id 'nosuchkey0'" in unknown.stderr

    reader = issued(run(database_url, "create", "--name", "feed", "--scopes", "read").stdout).group(1)
    assert "has no sign scope: no signing policy applies" in _flat(run(database_url, "policy", reader).stdout)
    refused = run(database_url, "policy", reader, "--generators", "x")
    assert refused.exit_code == 2 and "has no sign scope" in refused.stderr

    signer = issued(run(database_url, "create", "--name", "old", "--scopes", "sign").stdout).group(1)
    run(database_url, "revoke", signer)
    revoked = run(database_url, "policy", signer, "--source-types", "digitalCapture")
    assert revoked.exit_code == 2 and "is revoked" in revoked.stderr

    bad = run(database_url, "policy", signer, "--source-types", "nope")
    assert bad.exit_code == 2 and "unknown digital source type 'nope'" in _flat(bad.stderr)


def test_algorithmic_and_composite_synthetic_are_granted_only_explicitly(database_url):
    from signer.manifest import DigitalSourceType as D

    plain = run(database_url, "create", "--name", "ai product", "--scopes", "sign")
    granted = run(
        database_url,
        "create",
        "--name",
        "procedural art",
        "--scopes",
        "sign",
        "--source-types",
        "algorithmicMedia,compositeSynthetic",
    )
    assert granted.exit_code == 0, granted.output
    assert "digital source types: algorithmicMedia,compositeSynthetic" in _flat(granted.stdout)
    with open_store(database_url, pool_size=1) as store:
        default_policy = authenticated(store, issued(plain.stdout).group(0)).signing_policy
        granted_policy = authenticated(store, issued(granted.stdout).group(0)).signing_policy
    assert not default_policy.allows_source_type(D.ALGORITHMIC_MEDIA)
    assert not default_policy.allows_source_type(D.COMPOSITE_SYNTHETIC)
    assert granted_policy.source_types == {D.ALGORITHMIC_MEDIA, D.COMPOSITE_SYNTHETIC}
