"""Tenants: created and changed by the operator (`originmark tenants ...`), read on every job.

A tenant's object prefixes are stored as the operator wrote them (a JSON list of text); what
they mean (resolved locations) is worked out by app/objects/access.py where they are used, so a
change of the local objects folder or of the S3 settings never leaves a stale resolution here.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Sequence

from sqlalchemy import Engine, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.store.errors import database_errors_as_unavailable
from app.store.interface import Tenant
from app.store.schema import feed_thumbnails, tenants
from app.store.validation import check_tenant_name, is_tenant_name

MAX_OBJECT_PREFIXES = 100
MAX_OBJECT_PREFIX_LENGTH = 2048


class SqlTenantStore:
    """`TenantStore` on SQLAlchemy Core; thread-safe."""

    def __init__(self, *, db_engine: Engine) -> None:
        self._db_engine = db_engine
        self._columns = (
            tenants.c.name,
            tenants.c.object_prefixes,
            tenants.c.created_at,
            tenants.c.webhook_secret_generation,
            tenants.c.sbr_public,
            tenants.c.feed_thumbnails,
        )
        self._by_name = select(*self._columns).where(tenants.c.name == bindparam("tenant_name"))
        self._all = select(*self._columns).order_by(tenants.c.name)
        self._rotate = (
            update(tenants)
            .where(tenants.c.name == bindparam("tenant_name"))
            .values(webhook_secret_generation=tenants.c.webhook_secret_generation + 1)
        )
        self._set_prefixes = (
            update(tenants)
            .where(tenants.c.name == bindparam("tenant_name"))
            .values(object_prefixes=bindparam("new_prefixes"))
        )
        self._set_sbr_public = (
            update(tenants).where(tenants.c.name == bindparam("tenant_name")).values(sbr_public=bindparam("public"))
        )

    def create_tenant(self, name: str, *, object_prefixes: Sequence[str] = ()) -> Tenant:
        check_tenant_name(name)
        prefixes = _checked_prefixes(object_prefixes)
        created_at = datetime.datetime.now(datetime.UTC)
        try:
            with database_errors_as_unavailable(), self._db_engine.begin() as connection:
                connection.execute(
                    insert(tenants).values(name=name, object_prefixes=json.dumps(list(prefixes)), created_at=created_at)
                )
        except IntegrityError:
            raise ValueError(f"the tenant {name!r} exists already") from None
        return Tenant(name=name, object_prefixes=prefixes, created_at=created_at, webhook_secret_generation=1)

    def tenant(self, name: str) -> Tenant | None:
        if not is_tenant_name(name):
            return None
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            row = connection.execute(self._by_name, {"tenant_name": name}).first()
        return None if row is None else _tenant(row)

    def list_tenants(self) -> list[Tenant]:
        with database_errors_as_unavailable(), self._db_engine.connect() as connection:
            return [_tenant(row) for row in connection.execute(self._all)]

    def set_object_prefixes(self, name: str, object_prefixes: Sequence[str]) -> Tenant | None:
        prefixes = _checked_prefixes(object_prefixes)
        if not is_tenant_name(name):
            return None
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            connection.execute(self._set_prefixes, {"tenant_name": name, "new_prefixes": json.dumps(list(prefixes))})
            row = connection.execute(self._by_name, {"tenant_name": name}).first()
        return None if row is None else _tenant(row)

    def set_sbr_public(self, name: str, sbr_public: bool) -> Tenant | None:
        if not is_tenant_name(name):
            return None
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            connection.execute(self._set_sbr_public, {"tenant_name": name, "public": bool(sbr_public)})
            row = connection.execute(self._by_name, {"tenant_name": name}).first()
        return None if row is None else _tenant(row)

    def set_feed_thumbnails(self, name: str, enabled: bool) -> Tenant | None:
        if not is_tenant_name(name):
            return None
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            connection.execute(update(tenants).where(tenants.c.name == name).values(feed_thumbnails=bool(enabled)))
            if not enabled:
                # Off means none kept: the thumbnails made so far go with the setting, in one transaction.
                connection.execute(delete(feed_thumbnails).where(feed_thumbnails.c.tenant == name))
            row = connection.execute(self._by_name, {"tenant_name": name}).first()
        return None if row is None else _tenant(row)

    def rotate_webhook_secret(self, name: str) -> Tenant | None:
        if not is_tenant_name(name):
            return None
        with database_errors_as_unavailable(), self._db_engine.begin() as connection:
            connection.execute(self._rotate, {"tenant_name": name})
            row = connection.execute(self._by_name, {"tenant_name": name}).first()
        return None if row is None else _tenant(row)


def _checked_prefixes(prefixes: Sequence[str]) -> tuple[str, ...]:
    if isinstance(prefixes, str):
        raise TypeError("object_prefixes is a list of URIs, not one string")
    unique = tuple(dict.fromkeys(prefixes))
    if len(unique) > MAX_OBJECT_PREFIXES:
        raise ValueError(f"a tenant has at most {MAX_OBJECT_PREFIXES} object prefixes")
    for prefix in unique:
        if not isinstance(prefix, str) or not prefix.strip() or len(prefix) > MAX_OBJECT_PREFIX_LENGTH:
            raise ValueError(f"an object prefix is 1 to {MAX_OBJECT_PREFIX_LENGTH} characters, got {prefix!r:.80}")
    return unique


def _tenant(row) -> Tenant:
    name, prefixes_json, created_at, generation, sbr_public, thumbnails = row
    return Tenant(
        name=name,
        object_prefixes=tuple(json.loads(prefixes_json)),
        created_at=created_at,
        webhook_secret_generation=generation,
        sbr_public=bool(sbr_public),
        feed_thumbnails=bool(thumbnails),
    )
