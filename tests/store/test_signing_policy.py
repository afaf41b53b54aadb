"""Signing policies stored with API keys, on SQLite and PostgreSQL: saved, loaded, changed, migrated."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import create_engine, select, update

from app.store.database import parse_database_url
from app.store.errors import StoreError
from app.store.interface import Scope
from app.store.migrate import alembic_config, current_revision, head_revision, upgrade_database
from app.store.schema import LEGACY_0004_ALLOWED_GENERATORS_JSON, LEGACY_0004_ALLOWED_SOURCE_TYPES_JSON, api_keys
from app.store.sql import open_store
from app.store.tokens import format_token, hash_secret, new_secret
from signer.manifest import DigitalSourceType as D
from signer.policy import SigningPolicy

SIGN = frozenset({Scope.SIGN})
ACME = SigningPolicy.of(
    generators=["Acme Diffusion", "Acme *", "Studio, Inc. — Modèle ☃"],  # a comma and non-ASCII in a name
    source_types=[D.TRAINED_ALGORITHMIC_MEDIA, D.DIGITAL_CAPTURE],
)


def _row(store, key_id: str):
    with store.db_engine.connect() as connection:
        return connection.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one()


def test_a_policy_is_saved_and_loaded_by_authenticate_and_list(store):
    key, token = store.create_key(name="acme", scopes=SIGN | {Scope.VERIFY}, signing_policy=ACME)
    assert key.signing_policy == ACME
    assert store.authenticate(token).signing_policy == ACME
    [listed] = store.list_keys()
    assert listed.signing_policy == ACME
    assert listed.signing_policy.allows_generator("Studio, Inc. — Modèle ☃")


# What migration 0004 gave the keys that existed then (and they keep): the default of that time.
LEGACY_0004_POLICY = SigningPolicy.of(
    generators=["*"],
    source_types=[
        D.TRAINED_ALGORITHMIC_MEDIA,
        D.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        D.ALGORITHMIC_MEDIA,
        D.COMPOSITE_SYNTHETIC,
    ],
)


def test_a_new_key_gets_the_genai_default_written_explicitly_not_the_legacy_server_default(store):
    signer, token = store.create_key(name="pipeline", scopes=SIGN)
    reader, _ = store.create_key(name="feed", scopes=frozenset({Scope.READ}))
    assert signer.signing_policy == SigningPolicy.default() == store.authenticate(token).signing_policy
    assert reader.signing_policy == SigningPolicy.default()  # stored for every key, used only with sign
    for key in (signer, reader):
        row = _row(store, key.key_id)
        assert row.allowed_generators == LEGACY_0004_ALLOWED_GENERATORS_JSON == '["*"]'
        # Written by the code, not left to the column's server default (0004's wider default).
        assert row.allowed_source_types == '["compositeWithTrainedAlgorithmicMedia","trainedAlgorithmicMedia"]'
        assert row.allowed_source_types != LEGACY_0004_ALLOWED_SOURCE_TYPES_JSON


def test_a_policy_for_a_key_without_the_sign_scope_is_refused(store):
    with pytest.raises(ValueError, match="only for keys with the sign scope"):
        store.create_key(name="feed", scopes=frozenset({Scope.READ}), signing_policy=ACME)
    assert store.list_keys() == []


def test_the_grant_to_replace_credentials_is_stored_read_and_withdrawn(store):
    """Migration 0012's column: a grant survives the round trip, and only the key it was given to holds it."""
    plain, plain_token = store.create_key(name="acme", scopes=SIGN)
    assert plain.signing_policy.may_replace_credentials is False  # denied unless granted
    granted = SigningPolicy.of(generators=["*"], source_types=ACME.source_types, may_replace_credentials=True)
    tool, tool_token = store.create_key(name="tool", scopes=SIGN, signing_policy=granted)
    assert tool.signing_policy == granted
    assert store.authenticate(tool_token).signing_policy == granted
    assert _row(store, tool.key_id).may_replace_credentials is True
    assert store.authenticate(plain_token).signing_policy.may_replace_credentials is False

    changed = store.set_signing_policy(
        plain.key_id, dataclasses.replace(plain.signing_policy, may_replace_credentials=True)
    )
    assert changed is not None and changed.signing_policy.may_replace_credentials
    assert store.authenticate(plain_token).signing_policy.may_replace_credentials is True
    withdrawn = store.set_signing_policy(plain.key_id, plain.signing_policy)
    assert withdrawn is not None and withdrawn.signing_policy.may_replace_credentials is False
    assert {k.name: k.signing_policy.may_replace_credentials for k in store.list_keys()} == {
        "acme": False,
        "tool": True,
    }


def test_a_changed_policy_applies_at_once_in_another_process(store, database_url):
    key, token = store.create_key(name="acme", scopes=SIGN)
    other_process = open_store(database_url, pool_size=1)
    try:
        before = other_process.authenticate(token)
        assert before is not None and before.signing_policy == SigningPolicy.default()
        changed = store.set_signing_policy(key.key_id, ACME)
        assert changed is not None and changed.signing_policy == ACME and changed.key_id == key.key_id
        after = other_process.authenticate(token)
        assert after is not None and after.signing_policy == ACME  # nothing cached
    finally:
        other_process.close()


def test_changing_the_policy_of_an_unknown_revoked_or_non_sign_key(store):
    assert store.set_signing_policy("nosuchkey0", ACME) is None
    assert store.set_signing_policy("bad id'--", ACME) is None
    reader, _ = store.create_key(name="feed", scopes=frozenset({Scope.READ}))
    with pytest.raises(ValueError, match="no sign scope"):
        store.set_signing_policy(reader.key_id, ACME)
    signer, _ = store.create_key(name="old", scopes=SIGN)
    store.revoke(signer.key_id)
    with pytest.raises(ValueError, match="revoked"):
        store.set_signing_policy(signer.key_id, ACME)
    assert [key.signing_policy for key in store.list_keys()] == [SigningPolicy.default()] * 2


def test_an_unknown_stored_term_is_dropped_and_an_unreadable_policy_fails_closed(store):
    key, token = store.create_key(name="acme", scopes=SIGN)
    with store.db_engine.begin() as connection:
        connection.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key.key_id)
            .values(allowed_source_types='["trainedAlgorithmicMedia","someFutureTerm"]')
        )
    assert store.authenticate(token).signing_policy.source_types == frozenset({D.TRAINED_ALGORITHMIC_MEDIA})
    for broken in ('["someFutureTerm"]', "not json", '{"a": 1}', "[1]"):
        with store.db_engine.begin() as connection:
            connection.execute(
                update(api_keys).where(api_keys.c.key_id == key.key_id).values(allowed_source_types=broken)
            )
        with pytest.raises(StoreError, match="signing policy cannot be read"):
            store.authenticate(token)


def test_keys_made_before_migration_0004_keep_the_policy_it_gave_them(database_url):
    """A database at 0003 with keys in it: after the upgrade every key has 0004's default (which
    included algorithmicMedia and compositeSynthetic); later code never rewrites those rows."""
    config = alembic_config(database_url)
    command.upgrade(config, "0003_media_recent_index")
    old_api_keys = sa.table(  # the columns as 0001 made them
        "api_keys",
        sa.column("key_id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("secret_hash", sa.String()),
        sa.column("scopes", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    made = datetime.datetime(2026, 5, 1, tzinfo=datetime.UTC)
    secrets = {"oldsigner0": new_secret(), "oldreader0": new_secret()}
    db_engine = create_engine(parse_database_url(database_url))
    try:
        with db_engine.begin() as connection:
            for key_id, scopes in (("oldsigner0", "sign,verify"), ("oldreader0", "read")):
                connection.execute(
                    sa.insert(old_api_keys).values(
                        key_id=key_id,
                        name=key_id,
                        secret_hash=hash_secret(secrets[key_id]),
                        scopes=scopes,
                        created_at=made,
                        revoked_at=None,
                    )
                )
    finally:
        db_engine.dispose()

    upgrade_database(database_url)
    assert current_revision(database_url) == head_revision()
    with open_store(database_url, pool_size=1) as store:
        signer = store.authenticate(format_token(key_id="oldsigner0", secret=secrets["oldsigner0"]))
        assert signer is not None and signer.scopes == frozenset({Scope.SIGN, Scope.VERIFY})
        assert signer.signing_policy == LEGACY_0004_POLICY != SigningPolicy.default()
        assert not signer.signing_policy.allows_source_type(D.DIGITAL_CAPTURE)
        assert [key.signing_policy for key in store.list_keys()] == [LEGACY_0004_POLICY] * 2
        store.set_signing_policy("oldsigner0", ACME)

    # Down to 0003 and up again: the keys survive; the policies go back to 0004's default.
    command.downgrade(config, "0003_media_recent_index")
    upgrade_database(database_url)
    with open_store(database_url, pool_size=1) as store:
        assert [key.signing_policy for key in store.list_keys()] == [LEGACY_0004_POLICY] * 2
