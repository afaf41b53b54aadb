"""API keys: created with a random secret shown once, kept only as its hash, revoked for good.

Nothing is cached: every `authenticate` reads the key's row (one primary-key lookup), so a
revocation or a new signing policy takes effect on the very next request, in every server
process. (Only the parsing of a policy's stored JSON text is memoised: the same text always
gives the same immutable policy.)
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.store.errors import StoreError, database_errors_as_unavailable
from app.store.interface import DEFAULT_TENANT, ApiKey, Scope
from app.store.schema import api_keys, tenants
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
from app.store.validation import check_tenant_name
from signer.manifest import DigitalSourceType
from signer.policy import SigningPolicy

MAX_KEY_NAME_LENGTH = 200
_KEY_ID_ATTEMPTS = 3  # 36**10 ids: a collision is already unlikely; a second one is not going to happen


class SqlApiKeyStore:
    """`ApiKeyStore` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, db_engine: Engine) -> None:
        self._db_engine = db_engine
        self._public_columns = (
            api_keys.c.key_id,
            api_keys.c.name,
            api_keys.c.tenant,
            api_keys.c.scopes,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
            api_keys.c.allowed_generators,
            api_keys.c.allowed_source_types,
            api_keys.c.may_replace_credentials,
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
        self._tenant_exists = select(tenants.c.name).where(tenants.c.name == bindparam("tenant_name"))
        self._public_by_key_id = select(*self._public_columns).where(api_keys.c.key_id == bindparam("key_id"))
        self._set_policy = (
            update(api_keys)
            .where(api_keys.c.key_id == bindparam("policy_key_id"))
            .values(
                allowed_generators=bindparam("new_generators"),
                allowed_source_types=bindparam("new_source_types"),
                may_replace_credentials=bindparam("new_may_replace_credentials"),
            )
        )

    def create_key(
        self,
        *,
        name: str,
        scopes: frozenset[Scope],
        signing_policy: SigningPolicy | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[ApiKey, str]:
        check_tenant_name(tenant)
        name = name.strip()
        if not name or len(name) > MAX_KEY_NAME_LENGTH:
            raise ValueError(f"a key name is 1 to {MAX_KEY_NAME_LENGTH} characters")
        scopes = frozenset(Scope(scope) for scope in scopes)
        if not scopes:
            raise ValueError("a key needs at least one scope: " + ", ".join(scope.value for scope in Scope))
        if signing_policy is not None and Scope.SIGN not in scopes:
            raise ValueError("a signing policy is only for keys with the sign scope")
        policy = SigningPolicy.default() if signing_policy is None else _checked(signing_policy)
        created_at = datetime.datetime.now(datetime.UTC)
        secret = new_secret()
        for attempt in range(_KEY_ID_ATTEMPTS):
            key_id = new_key_id()
            try:
                with database_errors_as_unavailable(), self._db_engine.begin() as connection:
                    if connection.execute(self._tenant_exists, {"tenant_name": tenant}).first() is None:
                        raise ValueError(f"there is no tenant {tenant!r}: create it with `originmark tenants create`")
                    connection.execute(
                        self._insert,
                        {
                            "key_id": key_id,
                            "tenant": tenant,
                            "name": name,
                            "secret_hash": hash_secret(secret),
                            "scopes": _scopes_text(scopes),
                            "created_at": created_at,
                            "revoked_at": None,
                            **_policy_columns(policy),
                        },
                    )
            except IntegrityError:
                if attempt == _KEY_ID_ATTEMPTS - 1:
                    raise
                continue
            key = ApiKey(
                key_id=key_id, name=name, tenant=tenant, scopes=scopes, created_at=created_at, signing_policy=policy
            )
            return key, format_token(key_id=key_id, secret=secret)
        raise AssertionError("unreachable")

    def authenticate(self, token: str) -> ApiKey | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
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
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            return [_key(row) for row in connection.execute(self._all)]

    def key(self, key_id: str) -> ApiKey | None:
        if KEY_ID_PATTERN.fullmatch(key_id) is None:
            return None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(self._public_by_key_id, {"key_id": key_id}).first()
        return None if row is None else _key(row)

    def revoke(self, key_id: str) -> ApiKey | None:
        """The key as revoked (an already revoked key keeps its first revocation time); None if unknown."""
        if KEY_ID_PATTERN.fullmatch(key_id) is None:
            return None  # no key has such an id
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            connection.execute(self._revoke, {"revoke_key_id": key_id, "at": datetime.datetime.now(datetime.UTC)})
            row = connection.execute(self._public_by_key_id, {"key_id": key_id}).first()
        return None if row is None else _key(row)

    def set_signing_policy(self, key_id: str, policy: SigningPolicy) -> ApiKey | None:
        """The key with its new policy (effective on the next request); None if unknown.

        ValueError for a revoked key (nothing to govern) or one without the sign scope.
        """
        policy = _checked(policy)
        if KEY_ID_PATTERN.fullmatch(key_id) is None:
            return None
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            row = connection.execute(self._public_by_key_id, {"key_id": key_id}).first()
            if row is None:
                return None
            key = _key(row)
            if not key.active:
                raise ValueError(f"the API key {key_id!r} is revoked: its signing policy no longer matters")
            if Scope.SIGN not in key.scopes:
                raise ValueError(f"the API key {key_id!r} has no sign scope: a signing policy would not apply")
            columns = _policy_columns(policy)
            connection.execute(
                self._set_policy,
                {
                    "policy_key_id": key_id,
                    "new_generators": columns["allowed_generators"],
                    "new_source_types": columns["allowed_source_types"],
                    "new_may_replace_credentials": columns["may_replace_credentials"],
                },
            )
        return dataclasses.replace(key, signing_policy=policy)


def _checked(policy: SigningPolicy) -> SigningPolicy:
    if not isinstance(policy, SigningPolicy):
        raise TypeError(f"expected a SigningPolicy, got {type(policy).__name__}")
    return policy


def _json_list(values: list[str]) -> str:
    # Compact, ASCII-only (any non-ASCII character escaped): the same policy is always the same text.
    return json.dumps(values, separators=(",", ":"))


def _policy_columns(policy: SigningPolicy) -> dict[str, str | bool]:
    return {
        "allowed_generators": _json_list(list(policy.generators)),
        "allowed_source_types": _json_list(policy.source_type_terms()),
        "may_replace_credentials": policy.may_replace_credentials,
    }


@functools.lru_cache(maxsize=1024)
def _stored_policy(generators_json: str, source_types_json: str, may_replace_credentials: bool) -> SigningPolicy:
    """The policy from its two stored JSON texts and its grant (migration 0012); StoreError if they do not make one.

    A stored term this code does not know is dropped (never granted): the policy can only get
    narrower. A row that no longer makes a valid policy fails the request (500, logged) rather
    than signing under a guess.
    """
    try:
        generators = json.loads(generators_json)
        terms = json.loads(source_types_json)
        if not (isinstance(generators, list) and all(isinstance(item, str) for item in generators)):
            raise ValueError("allowed_generators is not a JSON list of text")
        if not (isinstance(terms, list) and all(isinstance(item, str) for item in terms)):
            raise ValueError("allowed_source_types is not a JSON list of text")
        known = {member.term: member for member in DigitalSourceType}
        return SigningPolicy.of(
            generators=generators,
            source_types=[known[t] for t in terms if t in known],
            may_replace_credentials=may_replace_credentials,
        )
    except ValueError as error:
        raise StoreError(f"an API key's stored signing policy cannot be read: {str(error)[:200]}") from error


def _scopes_text(scopes: frozenset[Scope]) -> str:
    return ",".join(sorted(scope.value for scope in scopes))


def _key(row) -> ApiKey:
    key_id, name, tenant, scopes, created_at, revoked_at, allowed_generators, allowed_source_types, may_replace = row
    return ApiKey(
        key_id=key_id,
        name=name,
        tenant=tenant,
        scopes=frozenset(Scope(value) for value in scopes.split(",") if value),
        created_at=created_at,
        revoked_at=revoked_at,
        # `is True`: only the column's true grant (the Boolean type reads back a bool on both dialects).
        signing_policy=_stored_policy(allowed_generators, allowed_source_types, may_replace is True),
    )
