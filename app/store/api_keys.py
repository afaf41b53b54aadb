"""API keys: created with a random secret shown once, kept only as its hash, revoked for good.

Nothing is cached: every `authenticate` reads the key's row (one primary-key lookup), so a
revocation takes effect on the very next request, in every server process.
"""

from __future__ import annotations

import datetime

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.store.errors import database_errors_as_unavailable
from app.store.interface import ApiKey, Scope
from app.store.schema import api_keys
from app.store.tokens import (
    KEY_ID_PATTERN,
    NO_SUCH_KEY_HASH,
    format_token,
    hash_secret,
    new_key_id,
    new_secret,
    parse_token,
    secret_matches,
)

MAX_KEY_NAME_LENGTH = 200
_KEY_ID_ATTEMPTS = 3  # 36**10 ids: a collision is already unlikely; a second one is not going to happen


class SqlApiKeyStore:
    """`ApiKeyStore` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, engine: Engine) -> None:
        self._engine = engine
        self._public_columns = (
            api_keys.c.key_id,
            api_keys.c.name,
            api_keys.c.scopes,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        )
        self._insert = insert(api_keys)
        self._by_key_id = select(*self._public_columns, api_keys.c.secret_hash).where(
            api_keys.c.key_id == bindparam("key_id")
        )
        self._all = select(*self._public_columns).order_by(api_keys.c.created_at, api_keys.c.key_id)
        self._revoke = (
            update(api_keys)
            .where(api_keys.c.key_id == bindparam("revoke_key_id"), api_keys.c.revoked_at.is_(None))
            .values(revoked_at=bindparam("at"))
        )
        self._public_by_key_id = select(*self._public_columns).where(api_keys.c.key_id == bindparam("key_id"))

    def create_key(self, *, name: str, scopes: frozenset[Scope]) -> tuple[ApiKey, str]:
        name = name.strip()
        if not name or len(name) > MAX_KEY_NAME_LENGTH:
            raise ValueError(f"a key name is 1 to {MAX_KEY_NAME_LENGTH} characters")
        scopes = frozenset(Scope(scope) for scope in scopes)
        if not scopes:
            raise ValueError("a key needs at least one scope: " + ", ".join(scope.value for scope in Scope))
        created_at = datetime.datetime.now(datetime.UTC)
        secret = new_secret()
        for attempt in range(_KEY_ID_ATTEMPTS):
            key_id = new_key_id()
            try:
                with database_errors_as_unavailable(), self._engine.begin() as connection:
                    connection.execute(
                        self._insert,
                        {
                            "key_id": key_id,
                            "name": name,
                            "secret_hash": hash_secret(secret),
                            "scopes": _scopes_text(scopes),
                            "created_at": created_at,
                            "revoked_at": None,
                        },
                    )
            except IntegrityError:
                if attempt == _KEY_ID_ATTEMPTS - 1:
                    raise
                continue
            key = ApiKey(key_id=key_id, name=name, scopes=scopes, created_at=created_at)
            return key, format_token(key_id=key_id, secret=secret)
        raise AssertionError("unreachable")

    def authenticate(self, token: str) -> ApiKey | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        with database_errors_as_unavailable(), self._engine.connect() as connection:
            row = connection.execute(self._by_key_id, {"key_id": parsed.key_id}).first()
        # The same work whatever the outcome (one hash, one constant-time comparison): an unknown
        # key id, a wrong secret and a revoked key take the same path up to the final answer.
        # Only a caller holding the right secret learns that its key is revoked (and it knew the key).
        matches = secret_matches(parsed.secret, row.secret_hash if row is not None else NO_SUCH_KEY_HASH)
        if row is None or not matches:
            return None
        key = _key(row[: len(self._public_columns)])
        return key if key.active else None

    def list_keys(self) -> list[ApiKey]:
        with database_errors_as_unavailable(), self._engine.connect() as connection:
            return [_key(row) for row in connection.execute(self._all)]

    def revoke(self, key_id: str) -> ApiKey | None:
        """The key as revoked (an already revoked key keeps its first revocation time); None if unknown."""
        if KEY_ID_PATTERN.fullmatch(key_id) is None:
            return None  # no key has such an id
        with database_errors_as_unavailable(), self._engine.begin() as connection:
            connection.execute(self._revoke, {"revoke_key_id": key_id, "at": datetime.datetime.now(datetime.UTC)})
            row = connection.execute(self._public_by_key_id, {"key_id": key_id}).first()
        return None if row is None else _key(row)


def _scopes_text(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(scope.value for scope in scopes))


def _key(row) -> ApiKey:
    key_id, name, scopes, created_at, revoked_at = row
    return ApiKey(
        key_id=key_id,
        name=name,
        scopes=frozenset(Scope(value) for value in scopes.split(",") if value),
        created_at=created_at,
        revoked_at=revoked_at,
    )
