"""Fixtures for the storage conformance suite: every test runs on SQLite AND on PostgreSQL.

PostgreSQL is the server at ORIGINMARK_TEST_POSTGRES_URL (default: trust auth as `postgres` on
127.0.0.1:5432, database `test`, as in CI). Each test gets its own freshly made schema (through
`search_path` in the URL, so the store under test sees an empty database) which is dropped
afterwards: runs are isolated from each other and repeatable. An unreachable server FAILS the
PostgreSQL tests — a CI without PostgreSQL must not pass silently.

Verdicts are real: a JPEG signed with the session's development key, verified under two trust
policies (with and without the development CA), and a plain JPEG without credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from app.store.migrate import upgrade_database
from app.store.sql import SqlStore, open_store
from keys.audit_key import AuditKeyring, create_audit_key_file
from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest
from tests.support import libpq_url, postgres_schema
from verifier.label import label_for
from verifier.label_types import Label
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import Verdict

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")


def postgres_url() -> str:
    return os.environ.get("ORIGINMARK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL once it answered; fails (never skips) the tests that need it otherwise."""
    url = postgres_url()
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        pytest.fail(
            f"PostgreSQL is not reachable at {url} ({error.__class__.__name__}: {str(error).strip()[:300]}); "
            "the storage tests need it: start it or set ORIGINMARK_TEST_POSTGRES_URL"
        )
    return url


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """An empty database (not migrated) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'originmark.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
def postgres_database_url(postgres_server: str) -> Iterator[str]:
    """An empty PostgreSQL database (a fresh schema), for what only PostgreSQL has."""
    with postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def audit_key_file(tmp_path_factory) -> Path:
    """An audit key made for this session (never committed), in a file as the service keeps it."""
    path = tmp_path_factory.mktemp("audit-key") / "audit.key"
    create_audit_key_file(path)
    return path


@pytest.fixture(scope="session")
def audit_keys(audit_key_file: Path) -> AuditKeyring:
    from keys.audit_key import read_audit_key_file

    return AuditKeyring(current=read_audit_key_file(audit_key_file))


@pytest.fixture
def store(database_url: str, audit_keys: AuditKeyring) -> Iterator[SqlStore]:
    """A store on a database migrated to head, authenticating audit records with the session's key."""
    upgrade_database(database_url)
    with open_store(database_url, pool_size=8, audit_keys=audit_keys) as opened:
        yield opened


@dataclass(frozen=True, slots=True, kw_only=True)
class RealVerdicts:
    trusted: Verdict  # our signed JPEG, development CA trusted ("local")
    trusted_label: Label
    untrusted: Verdict  # the same bytes, development CA not trusted
    untrusted_label: Label
    plain: Verdict  # a JPEG without credentials
    plain_label: Label


@pytest.fixture(scope="session")
def real_verdicts(signing_key, dev_credentials, tmp_path_factory) -> RealVerdicts:
    folder = tmp_path_factory.mktemp("store-media")
    plain_path = folder / "plain.jpg"
    Image.new("RGB", (32, 24), (200, 40, 90)).save(plain_path, "JPEG", quality=85)
    signed_path = folder / "signed.jpg"
    ContentSigner(signing_key=signing_key, options=SignerOptions()).sign_file(
        source=plain_path,
        destination=signed_path,
        request=GenerationRequest(generator_name="store-test-model", generator_version="1.0", title="store test"),
    )
    with_local = Verifier(policy=default_trust_policy(local_anchors_pem=dev_credentials.ca_path.read_text()))
    without_local = Verifier(policy=default_trust_policy())
    trusted = with_local.verify_file(signed_path)
    untrusted = without_local.verify_file(signed_path)
    plain = with_local.verify_file(plain_path)
    return RealVerdicts(
        trusted=trusted,
        trusted_label=label_for(trusted),
        untrusted=untrusted,
        untrusted_label=label_for(untrusted),
        plain=plain,
        plain_label=label_for(plain),
    )
