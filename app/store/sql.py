"""`SqlStore`: the one storage implementation, on SQLite (embedded default) or PostgreSQL.

    upgrade_database(url)          # app.store.migrate: once per deployment / at start-up
    store = open_store(url)        # one per server process, shared by all its threads
    ...
    store.close()

Every write is committed before its method returns; nothing security-relevant (API keys) is
cached, so a revocation is effective at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection, Engine

from app.store.api_keys import SqlApiKeyStore
from app.store.audit import SqlAuditLog
from app.store.database import DEFAULT_POOL_SIZE, SqliteSynchronous, create_db_engine
from app.store.interface import (
    DEFAULT_TENANT,
    ApiKey,
    AuditEntry,
    CachedVerdict,
    RecentLabel,
    Scope,
    StoredVerdict,
    Tenant,
    Thumbnail,
)
from app.store.repository_sql import SqlManifestRepository
from app.store.seed import SeedItem, bulk_seed
from app.store.tenants import SqlTenantStore
from app.store.thumbnails import SqlThumbnailStore
from app.store.verdicts import SqlVerdictStore
from keys.audit_key import AuditKeyring
from signer.policy import SigningPolicy
from verifier.label_types import Label
from verifier.verdict import Verdict


class SqlStore:
    """VerdictStore + TenantStore + ApiKeyStore + AuditLog + SignatureRecords over one SQLAlchemy engine; thread-safe."""

    def __init__(self, *, db_engine: Engine, audit_keys: AuditKeyring | None = None) -> None:
        self._db_engine = db_engine
        self._verdicts = SqlVerdictStore(db_engine=db_engine)
        self._keys = SqlApiKeyStore(db_engine=db_engine)
        self._tenants = SqlTenantStore(db_engine=db_engine)
        self._audit = SqlAuditLog(db_engine=db_engine, keys=audit_keys)
        self._repository = SqlManifestRepository(db_engine=db_engine)
        self._thumbnails = SqlThumbnailStore(db_engine=db_engine)

    @property
    def db_engine(self) -> Engine:
        """The job records (app/jobs/records.py) live here too; tests and tooling use it for query counting."""
        return self._db_engine

    @property
    def repository(self) -> SqlManifestRepository:
        """The manifest repository (app/store/repository.py), on the same engine."""
        return self._repository

    @property
    def dialect(self) -> str:
        return self._db_engine.dialect.name

    def close(self) -> None:
        self._db_engine.dispose()

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # VerdictStore

    def save_verdict(
        self,
        *,
        tenant: str | None,
        verdict: Verdict,
        label: Label,
        trust_fingerprint: str,
        media_id: str | None = None,
        in_same_transaction: Callable[[Connection], None] | None = None,
        media_label: Label | None = None,
    ) -> StoredVerdict:
        """`in_same_transaction`: more writes that must commit with the verdict or not at all
        (a job marked succeeded, for one)."""
        return self._verdicts.save_verdict(
            tenant=tenant,
            verdict=verdict,
            label=label,
            trust_fingerprint=trust_fingerprint,
            media_id=media_id,
            in_same_transaction=in_same_transaction,
            media_label=media_label,
        )

    def record_submission(
        self, *, tenant: str, stored: StoredVerdict, media_id: str | None = None, media_label: Label | None = None
    ) -> None:
        self._verdicts.record_submission(tenant=tenant, stored=stored, media_id=media_id, media_label=media_label)

    def cached_verdict(self, sha256: str) -> StoredVerdict | None:
        return self._verdicts.cached_verdict(sha256)

    def forget_recovered_labels(self, manifest_id: str, *, except_tenant: str | None = None) -> int:
        return self._verdicts.forget_recovered_labels(manifest_id, except_tenant=except_tenant)

    def cached_verdict_for(self, tenant: str, sha256: str) -> CachedVerdict | None:
        return self._verdicts.cached_verdict_for(tenant, sha256)

    def verdict_by_sha256(self, tenant: str, sha256: str, *, published_only: bool = False) -> StoredVerdict | None:
        return self._verdicts.verdict_by_sha256(tenant, sha256, published_only=published_only)

    def verdict_by_media_id(self, tenant: str, media_id: str) -> StoredVerdict | None:
        return self._verdicts.verdict_by_media_id(tenant, media_id)

    def media_ids_for_sha256(self, tenant: str, sha256: str) -> list[str]:
        return self._verdicts.media_ids_for_sha256(tenant, sha256)

    def labels_json_for(self, tenant: str, media_ids: Sequence[str]) -> dict[str, str | None]:
        return self._verdicts.labels_json_for(tenant, media_ids)

    def recent_labels(self, tenant: str, limit: int, *, public: bool = False) -> list[RecentLabel]:
        return self._verdicts.recent_labels(tenant, limit, public=public)

    # TenantStore

    def create_tenant(self, name: str, *, object_prefixes: Sequence[str] = ()) -> Tenant:
        return self._tenants.create_tenant(name, object_prefixes=object_prefixes)

    def tenant(self, name: str) -> Tenant | None:
        return self._tenants.tenant(name)

    def list_tenants(self) -> list[Tenant]:
        return self._tenants.list_tenants()

    def set_object_prefixes(self, name: str, object_prefixes: Sequence[str]) -> Tenant | None:
        return self._tenants.set_object_prefixes(name, object_prefixes)

    def rotate_webhook_secret(self, name: str) -> Tenant | None:
        return self._tenants.rotate_webhook_secret(name)

    def set_sbr_public(self, name: str, sbr_public: bool) -> Tenant | None:
        return self._tenants.set_sbr_public(name, sbr_public)

    def set_feed_thumbnails(self, name: str, enabled: bool) -> Tenant | None:
        return self._tenants.set_feed_thumbnails(name, enabled)

    # ThumbnailStore (the feed's signed thumbnails)

    def keep_thumbnail(self, thumbnail: Thumbnail, *, carries: tuple[str, str] | None = None) -> bool:
        return self._thumbnails.keep(thumbnail, carries=carries)

    def thumbnail(self, tenant: str, media_id: str, *, public: bool) -> Thumbnail | None:
        return self._thumbnails.thumbnail(tenant, media_id, public=public)

    def ping(self) -> None:
        self._verdicts.ping()

    # ApiKeyStore

    def create_key(
        self,
        *,
        name: str,
        scopes: frozenset[Scope],
        signing_policy: SigningPolicy | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[ApiKey, str]:
        return self._keys.create_key(name=name, scopes=scopes, signing_policy=signing_policy, tenant=tenant)

    def key(self, key_id: str) -> ApiKey | None:
        return self._keys.key(key_id)

    def authenticate(self, token: str) -> ApiKey | None:
        return self._keys.authenticate(token)

    def list_keys(self) -> list[ApiKey]:
        return self._keys.list_keys()

    def revoke(self, key_id: str) -> ApiKey | None:
        return self._keys.revoke(key_id)

    def set_signing_policy(self, key_id: str, policy: SigningPolicy) -> ApiKey | None:
        return self._keys.set_signing_policy(key_id, policy)

    # AuditLog

    def append(self, entry: AuditEntry) -> None:
        self._audit.append(entry)

    def entries(self, *, limit: int = 100) -> list[AuditEntry]:
        return self._audit.entries(limit=limit)

    # SignatureRecords

    def record_signature(
        self,
        *,
        tenant: str | None,
        entry: AuditEntry,
        verdict: Verdict,
        label: Label,
        trust_fingerprint: str,
        media_id: str | None = None,
        in_same_transaction: Callable[[Connection], None] | None = None,
    ) -> StoredVerdict:
        """The audit entry and the signed output's verdict together, in one committed transaction
        (with `in_same_transaction`'s writes, made after the audit entry's: its chain lock comes first)."""

        def audit_then_more(connection: Connection) -> None:
            self._audit.write_entry(connection, entry)
            if in_same_transaction is not None:
                in_same_transaction(connection)

        return self._verdicts.save_verdict(
            tenant=tenant,
            verdict=verdict,
            label=label,
            trust_fingerprint=trust_fingerprint,
            media_id=media_id,
            in_same_transaction=audit_then_more,
        )

    # Benchmarks and load tests

    def bulk_seed_labels(self, items: Iterable[SeedItem], *, trust_fingerprint: str, batch_size: int = 20_000) -> int:
        """Insert many fresh verdicts + media rows fast (COPY on PostgreSQL); see app/store/seed.py."""
        return bulk_seed(self._db_engine, items, trust_fingerprint=trust_fingerprint, batch_size=batch_size)


def open_store(
    database_url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    sqlite_synchronous: SqliteSynchronous = "FULL",
    audit_keys: AuditKeyring | None = None,
) -> SqlStore:
    """A store on an already migrated database (run app.store.migrate.upgrade_database first).

    `pool_size`: connections kept open; size it to the threads that use the store at once (the
    signing and verifying threads plus the server's request threads). Raises StoreConfigurationError for a URL the
    store cannot use; connects lazily (call `ping()` to check the database now). `audit_keys`: what
    audit records are authenticated with (app/store/audit.py); without, they carry no MAC.
    """
    return SqlStore(
        db_engine=create_db_engine(database_url, pool_size=pool_size, sqlite_synchronous=sqlite_synchronous),
        audit_keys=audit_keys,
    )
