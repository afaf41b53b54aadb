"""What the service needs from storage: narrow interfaces, one SQL implementation.

The SQLAlchemy implementation (app/store/sql.py) serves SQLite and PostgreSQL; the
conformance tests in tests/store run the same checks against both.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, Sequence

from sqlalchemy import Connection, Engine

from app.store.repository import ManifestRepository
from signer.policy import SigningPolicy
from verifier.label_types import Label
from verifier.verdict import Verdict

MAX_MEDIA_ID_LENGTH = 200
MAX_TENANT_NAME_LENGTH = 64
# Every key, media id and job made before tenants existed (migration 0008) belongs to this tenant,
# and so does a key created without --tenant (also audit_log.tenant's server default, migration 0007).
DEFAULT_TENANT = "default"
MAX_LABEL_BATCH = 1000
MAX_RECENT_LABELS = 100  # GET /v1/labels/recent?limit=N
# GET /v1/verdicts/sha256/{hex} lists the tenant's media ids for those bytes: a few in practice
# (reposts of one file); the bound keeps one answer small whatever a tenant did.
MAX_MEDIA_IDS_PER_CONTENT = 100


class Scope(str, enum.Enum):
    SIGN = "sign"
    VERIFY = "verify"
    READ = "read"
    SBR = "sbr"  # the Soft Binding Resolution API (/sbr/v1): the C2PA spec's `fetch:manifests`


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredVerdict:
    sha256: str
    verdict: Verdict
    label: Label
    trust_fingerprint: str  # of the trust configuration the verdict was made under
    stored_at: datetime
    media_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedVerdict:
    """A verdict from the verification cache, and whether the asking tenant had sent those bytes."""

    stored: StoredVerdict
    submitted: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Thumbnail:
    """A media id's signed thumbnail for the feed (app/usecases/thumbnails.py)."""

    tenant: str
    media_id: str
    source_sha256: str  # the content it was made from: served only while the media id points at it
    content_type: str
    content: bytes = field(repr=False)
    private: bool  # its original's repository entry is private: only the tenant's keys read it
    made_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RecentLabel:
    """One media id's label as a feed of recent items shows it."""

    media_id: str
    label_json: str  # the stored label JSON text, as labels_json_for answers it
    updated_at: datetime  # when the id was last pointed at a verdict, or its label copy rewritten
    # A feed thumbnail of the content the id points at now is kept (and, on a public read, is not
    # private): GET /v1/thumbnails/{media_id} serves it. Read in the same query as the label.
    has_thumbnail: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Tenant:
    """Who owns API keys, media ids, jobs and object locations."""

    name: str
    # Object URI prefixes (as the operator wrote them) this tenant's jobs may read and write;
    # empty: uploaded-file jobs only. Checked after resolution by app/objects/access.py.
    object_prefixes: tuple[str, ...]
    created_at: datetime
    webhook_secret_generation: int = 1  # which derived webhook secret is current (app/jobs/tenant_secrets.py)
    # The operator opened its shared manifest repository entries to reading without an API key
    # through the Soft Binding Resolution API (`?tenant=NAME`): `tenants update NAME --sbr-public`.
    sbr_public: bool = False
    # The service keeps a small signed thumbnail per media id for the feed: `tenants update NAME --feed-thumbnails`.
    feed_thumbnails: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    key_id: str  # public part, shown in lists and logs
    name: str
    tenant: str  # the one tenant the key acts for: every id it names is looked up in this tenant
    scopes: frozenset[Scope]
    created_at: datetime
    revoked_at: datetime | None = None
    # What POST /v1/sign lets this key claim (generators, digital source types). Every key has
    # one, the default if not set; only keys with the sign scope ever use it.
    signing_policy: SigningPolicy = field(default_factory=SigningPolicy.default)

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One signature issued in the operator's name (append-only)."""

    key_id: str | None  # the API key that asked (None: the CLI, in-process)
    signed_at: datetime
    input_sha256: str
    output_sha256: str
    manifest_label: str | None
    certificate_fingerprint: str  # SHA-256 of the signing certificate (DER)
    generator: str
    generator_version: str | None = None
    media_id: str | None = None
    # The claim as signed (migration 0007): the effective IPTC digital source type term (e.g.
    # trainedAlgorithmicMedia) and the title the request gave (None: none given, or before 0007).
    digital_source_type: str | None = None
    title: str | None = None
    tenant: str = DEFAULT_TENANT  # the caller's tenant
    # What the signature did with the Content Credentials the file already carried (migration
    # 0012; signer.manifest.PriorCredentials's value): "none" (it carried none), "kept" (now its
    # parentOf ingredient) or "replaced" (dropped, as the request asked and the key's policy allowed).
    # None: not said (records from before 0012).
    prior_credentials: str | None = None
    # "replaced": the label of the active manifest dropped (None: its store named none readable).
    replaced_manifest_id: str | None = None


class VerdictStore(Protocol):
    """Verdicts are facts about bytes (shared by every tenant as a cache); everything that says
    who submitted what, and which media id points at which bytes, is per tenant and every read
    of it names the tenant in the query itself."""

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
        """Store (insert or replace) the verdict for verdict.sha256, record that `tenant` submitted
        those bytes, and point the tenant's media_id at it (tenant None: nobody's submission, as
        the public page's stored uploads; then media_id must be None).

        `media_label`: what the tenant's media id shows instead of `label` (credentials found by
        content match for this tenant: app/usecases/recovery.py); the verdict row keeps `label`.

        Committed before returning: an acknowledged verdict is never lost.
        """

    def record_submission(
        self, *, tenant: str, stored: StoredVerdict, media_id: str | None = None, media_label: Label | None = None
    ) -> None:
        """The tenant sent bytes whose verdict is stored: record its submission (and point its
        media id at them, showing `media_label` when given, else the stored label) without
        rewriting the verdict."""

    def forget_recovered_labels(self, manifest_id: str, *, except_tenant: str | None = None) -> int:
        """After a takedown of `manifest_id` (or its owner made it private: `except_tenant`, whose
        own labels stay): every other media id showing a label recovered from it shows its
        content's own stored label again; how many were changed."""

    def cached_verdict_for(self, tenant: str, sha256: str) -> CachedVerdict | None:
        """`cached_verdict`, and whether this tenant had submitted or signed these bytes, in one query."""

    def cached_verdict(self, sha256: str) -> StoredVerdict | None:
        """Whatever verdict is stored for these bytes, whoever submitted them: for the verification
        cache only (a caller that sends the bytes has them). Never answer a read by hash with it."""

    def verdict_by_sha256(self, tenant: str, sha256: str, *, published_only: bool = False) -> StoredVerdict | None:
        """The stored verdict for bytes this tenant submitted or signed (`published_only`: that it
        points one of its media ids at, as public reads see them); None otherwise."""

    def verdict_by_media_id(self, tenant: str, media_id: str) -> StoredVerdict | None: ...

    def media_ids_for_sha256(self, tenant: str, sha256: str) -> list[str]:
        """The tenant's media ids pointing at these bytes, sorted, at most MAX_MEDIA_IDS_PER_CONTENT
        (the first ones in order); [] for bytes it never stored under an id. Other tenants' ids
        never appear: the tenant is in the query."""

    def labels_json_for(self, tenant: str, media_ids: Sequence[str]) -> dict[str, str | None]:
        """Each of the tenant's ids' label as stored JSON text (None when unknown), in ONE indexed query."""

    def recent_labels(self, tenant: str, limit: int, *, public: bool = False) -> list[RecentLabel]:
        """The tenant's `limit` (1 to MAX_RECENT_LABELS) most recently updated media ids, newest first.

        One query on the (tenant, updated_at, media_id) index, each row's feed thumbnail looked up by
        its primary key in the same query (`public`: private thumbnails count as none); ties are
        broken by media id, descending.
        """

    def ping(self) -> None:
        """Raise if the database cannot be reached."""


class TenantStore(Protocol):
    def create_tenant(self, name: str, *, object_prefixes: Sequence[str] = ()) -> Tenant:
        """ValueError for a malformed name or one that exists."""

    def tenant(self, name: str) -> Tenant | None: ...

    def list_tenants(self) -> list[Tenant]: ...

    def set_object_prefixes(self, name: str, object_prefixes: Sequence[str]) -> Tenant | None:
        """The tenant with its new prefixes (effective on the next request); None if unknown."""

    def rotate_webhook_secret(self, name: str) -> Tenant | None:
        """The tenant with its next webhook secret generation; None if unknown."""

    def set_sbr_public(self, name: str, sbr_public: bool) -> Tenant | None:
        """The tenant with its shared repository entries opened to (or closed from) public SBR
        reading (effective on the next request); None if unknown."""

    def set_feed_thumbnails(self, name: str, enabled: bool) -> Tenant | None:
        """The tenant with feed thumbnails kept (or not: then those kept are deleted); None if unknown."""


class ApiKeyStore(Protocol):
    def create_key(
        self,
        *,
        name: str,
        scopes: frozenset[Scope],
        signing_policy: SigningPolicy | None = None,
        tenant: str = DEFAULT_TENANT,
    ) -> tuple[ApiKey, str]:
        """A new key of `tenant` (which must exist: ValueError) and its secret token; the token is
        shown once and stored only as a hash.

        `signing_policy` None gives the default (SigningPolicy.default()); another policy needs
        the sign scope (ValueError otherwise).
        """

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key for this token, or None (unknown, malformed or revoked)."""

    def list_keys(self) -> list[ApiKey]: ...

    def key(self, key_id: str) -> ApiKey | None:
        """The key as stored now (revoked or not); jobs re-read their key before every attempt."""

    def revoke(self, key_id: str) -> ApiKey | None: ...

    def set_signing_policy(self, key_id: str, policy: SigningPolicy) -> ApiKey | None:
        """The key with its new policy, in effect from the next request; None if unknown.

        ValueError for a revoked key or one without the sign scope.
        """


class AuditLog(Protocol):
    def append(self, entry: AuditEntry) -> None: ...

    def entries(self, *, limit: int = 100) -> list[AuditEntry]: ...


class SignatureRecords(Protocol):
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
        """A signature's audit entry and its output's verdict, in one transaction committed before returning.

        `/v1/sign` uses this so a signature is never issued without its audit entry, nor its entry
        recorded without the verdict a feed will read.
        """


class ThumbnailStore(Protocol):
    def keep_thumbnail(self, thumbnail: Thumbnail, *, carries: tuple[str, str] | None = None) -> bool:
        """Keep (or replace) the tenant's thumbnail of the media id, only while the media id still
        points at its source (tested in the write); False: nothing written. `carries`: the (manifest
        id, store SHA-256) of the original's store it carries: private too unless a public signed
        entry keeps that store when it is written (decided in the write)."""

    def thumbnail(self, tenant: str, media_id: str, *, public: bool) -> Thumbnail | None:
        """The tenant's thumbnail of the media id while the id still points at the content it was
        made from; `public`: a reader without a key, who sees no private one."""


class ServiceStore(VerdictStore, TenantStore, ApiKeyStore, AuditLog, SignatureRecords, ThumbnailStore, Protocol):
    """The one store the service and its job workers use (app.store.sql.SqlStore provides all of it)."""

    @property
    def db_engine(self) -> Engine:
        """The database the jobs' own rows live in too: app/jobs/records.py reads and writes them
        there for the job routes and the workers."""
        ...

    @property
    def repository(self) -> ManifestRepository:
        """The manifest repository (app/store/repository.py): signatures keep their manifest stores there."""
        ...

    def close(self) -> None: ...
