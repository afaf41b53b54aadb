"""ApiKeyStore conformance: keys are shown once, stored as hashes, and revoked at once."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from app.store.interface import ApiKey, Scope
from app.store.schema import api_keys
from app.store.sql import open_store
from app.store.tokens import parse_token


def _secret(token: str) -> str:
    """The secret part of a well-formed token; fails the test for any other."""
    parsed = parse_token(token)
    assert parsed is not None, f"not a well-formed token: {token!r}"
    return parsed.secret


def test_a_new_key_authenticates_with_its_token_and_has_its_scopes(store):
    key, token = store.create_key(name="upload pipeline", scopes=frozenset({Scope.SIGN, Scope.VERIFY}))
    assert token.startswith(f"om_{key.key_id}_")
    assert key.name == "upload pipeline" and key.active
    assert key.scopes == frozenset({Scope.SIGN, Scope.VERIFY})
    assert store.authenticate(token) == key


def test_only_a_sha256_of_the_secret_is_stored(store):
    key, token = store.create_key(name="feed", scopes=frozenset({Scope.READ}))
    secret = _secret(token)
    with store.db_engine.connect() as connection:
        row = connection.execute(select(api_keys).where(api_keys.c.key_id == key.key_id)).one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in "".join(str(value) for value in row)
    assert token not in "".join(str(value) for value in row)


def test_a_wrong_secret_for_a_real_key_id_is_refused(store):
    key, token = store.create_key(name="k", scopes=frozenset({Scope.SIGN}))
    other_key, other_token = store.create_key(name="other", scopes=frozenset({Scope.SIGN}))
    forged = f"om_{key.key_id}_{_secret(other_token)}"
    assert store.authenticate(forged) is None
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert store.authenticate(flipped) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "om_",
        "Bearer om_abcdefghij_" + "a" * 43,  # the header's scheme is the API's to strip
        "om_abcdefghij_" + "a" * 42,  # secret one short
        "om_abcdefghij_" + "a" * 44,  # one long
        "om_ABCDEFGHIJ_" + "a" * 43,  # key ids are lowercase
        "xx_abcdefghij_" + "a" * 43,
        "om_abcdefghij_" + "a" * 42 + "=",
        "om_abcdefghij_" + "a" * 42 + "\n",
        "om_abc'; DROP TABLE api_keys; --_" + "a" * 43,
        "om_" + "a" * 100_000,
    ],
)
def test_malformed_tokens_are_refused_without_a_query(store, token):
    from sqlalchemy import event

    statements = []
    event.listen(store.db_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assert store.authenticate(token) is None
    assert statements == []


def test_an_unknown_key_id_is_refused(store):
    assert store.authenticate("om_zzzzzzzzzz_" + "a" * 43) is None


def test_a_revoked_key_is_refused_at_once_also_by_another_store_on_the_same_database(store, database_url):
    key, token = store.create_key(name="leaked", scopes=frozenset({Scope.READ}))
    other_process = open_store(database_url, pool_size=1)
    try:
        assert other_process.authenticate(token) == key
        revoked = store.revoke(key.key_id)
        assert revoked is not None and revoked.revoked_at is not None and not revoked.active
        assert other_process.authenticate(token) is None
        assert store.authenticate(token) is None
    finally:
        other_process.close()


def test_revoking_again_keeps_the_first_revocation_time_and_unknown_ids_are_none(store):
    key, _ = store.create_key(name="k", scopes=frozenset({Scope.READ}))
    first = store.revoke(key.key_id)
    assert store.revoke(key.key_id) == first
    assert store.revoke("nosuchkey0") is None
    assert store.revoke("nul\x00") is None


def test_list_shows_every_key_in_creation_order_and_nothing_secret(store):
    made = [store.create_key(name=f"key {n}", scopes=frozenset({Scope.READ})) for n in range(3)]
    store.revoke(made[1][0].key_id)
    listed = store.list_keys()
    assert [key.key_id for key in listed] == [key.key_id for key, _ in made]
    assert [key.active for key in listed] == [True, False, True]
    assert all(isinstance(key, ApiKey) for key in listed)
    assert not hasattr(listed[0], "secret_hash")
    shown = repr(listed)
    for _, token in made:
        assert _secret(token) not in shown
        assert hashlib.sha256(_secret(token).encode()).hexdigest() not in shown


def test_tokens_are_unique_and_ids_are_short_lowercase(store):
    made = [store.create_key(name="n", scopes=frozenset({Scope.SIGN})) for _ in range(20)]
    assert len({token for _, token in made}) == 20
    assert len({key.key_id for key, _ in made}) == 20
    assert all(len(key.key_id) == 10 and key.key_id.isalnum() and key.key_id.islower() for key, _ in made)


@pytest.mark.parametrize(
    ("name", "scopes", "problem"),
    [
        ("", frozenset({Scope.READ}), "1 to 200"),
        ("   ", frozenset({Scope.READ}), "1 to 200"),
        ("n" * 201, frozenset({Scope.READ}), "1 to 200"),
        ("ok", frozenset(), "at least one scope"),
    ],
)
def test_a_key_without_a_name_or_scopes_is_refused(store, name, scopes, problem):
    with pytest.raises(ValueError, match=problem):
        store.create_key(name=name, scopes=scopes)
    assert store.list_keys() == []


@pytest.mark.parametrize("outcome", ["valid", "unknown key id", "wrong secret", "revoked"])
def test_every_outcome_does_the_same_work_one_query_and_one_constant_time_comparison(store, monkeypatch, outcome):
    """No branch skips the comparison: timing cannot tell an unknown key id from a wrong or revoked key."""
    import hmac

    from sqlalchemy import event

    key, token = store.create_key(name="k", scopes=frozenset({Scope.SIGN}))
    secret = _secret(token)
    presented = {
        "valid": token,
        "unknown key id": f"om_zzzzzzzzzz_{secret}",
        "wrong secret": f"om_{key.key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",
        "revoked": token,
    }[outcome]
    if outcome == "revoked":
        store.revoke(key.key_id)

    comparisons = []
    real_compare_digest = hmac.compare_digest

    def counting_compare_digest(a, b):
        comparisons.append((a, b))
        return real_compare_digest(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counting_compare_digest)
    statements = []
    event.listen(store.db_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    result = store.authenticate(presented)

    assert (result == key) if outcome == "valid" else result is None
    assert len(statements) == 1  # one primary-key lookup, whatever the outcome
    assert len(comparisons) == 1
    presented_hash, stored_hash = comparisons[0]
    assert len(presented_hash) == len(stored_hash) == 64  # equal lengths: no early exit on length either
    assert presented_hash == hashlib.sha256(_secret(presented).encode()).hexdigest().encode()


def test_the_stand_in_hash_for_unknown_key_ids_matches_no_secret():
    from app.store.tokens import NO_SUCH_KEY_HASH, new_secret, secret_matches

    assert len(NO_SUCH_KEY_HASH) == 64
    assert not any(c in "0123456789abcdef" for c in NO_SUCH_KEY_HASH)  # no SHA-256 hex digest equals it
    assert not secret_matches(new_secret(), NO_SUCH_KEY_HASH)


def test_a_secret_matches_only_its_own_hash_whatever_position_differs():
    from app.store.tokens import hash_secret, new_secret, secret_matches

    secret = new_secret()
    stored = hash_secret(secret)
    assert secret_matches(secret, stored)
    for position in (0, 31, 63):
        other = stored[:position] + ("0" if stored[position] != "0" else "1") + stored[position + 1 :]
        assert not secret_matches(secret, other)
