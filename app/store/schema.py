"""The tables behind the store (SQLAlchemy Core): one definition for SQLite and PostgreSQL.

The migrations in app/store/migrations create exactly these tables; a test compares the
migrated database with this metadata so the two cannot drift apart.

- `verdicts`: one row per content SHA-256 (the same bytes always get the same verdict under one
  trust configuration), with the verdict and its label as JSON text in the codec's format.
- `media`: the caller's media ids, each pointing at a content hash. The label is copied here
  (denormalised) so a feed's label read is one primary-key lookup per id with no join; every
  write of a verdict rewrites the copies of the media that point at it, in the same transaction.
- `api_keys`: Bearer keys, stored only as a SHA-256 of their random secret, each with its
  signing policy (migration 0004: JSON lists of allowed generators and digital source types).
- `tenants` (migration 0008): who owns keys, media ids, jobs and object locations. Every such
  row names its tenant; media ids are unique per tenant (the primary key is (tenant, media_id)).
- `tenant_content`: which tenant submitted or signed which bytes. A verdict is a fact about
  bytes and is shared as a cache, but a tenant reads a verdict by SHA-256 only for bytes in its
  own rows here (otherwise the read would tell anyone what other tenants uploaded).
- `audit_log`: every signature issued; append-only (triggers reject UPDATE and DELETE), a hash
  chain (each record carries the hash of the one before; app/store/audit.py), and since migration
  0007 each record authenticated with an HMAC under a key the database does not hold; since 0012
  each says whether the signed file's own credentials were kept or replaced.
- `repository_entries`, `repository_bindings`, `repository_deletions` (migration 0009): the
  manifest repository (app/store/repository.py): kept manifest stores, their soft bindings with
  the band index for similarity search, and the takedowns recorded when an entry is deleted;
  `repository_visibility_changes` (migration 0010): every entry made private or public again.
"""

from __future__ import annotations

import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    false,
    func,
    or_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from app.store.interface import DEFAULT_TENANT, MAX_MEDIA_ID_LENGTH, MAX_TENANT_NAME_LENGTH
from app.store.repository import MAX_ALG_LENGTH, MAX_MANIFEST_ID_LENGTH, EntryOrigin
from keys.audit_key import KEY_ID_LENGTH as AUDIT_KEY_ID_LENGTH

SHA256_HEX_LENGTH = 64
KEY_ID_LENGTH = 12  # column width; tokens use fewer characters (app/store/tokens.py)
TENANT_NAME_LENGTH = 64

# The signing policy columns' server default since migration 0004: the default policy of that time
# (any generator; trainedAlgorithmicMedia, compositeWithTrainedAlgorithmicMedia, algorithmicMedia,
# compositeSynthetic), which the keys that existed when 0004 ran were given and keep. Frozen (the
# migration writes the same text; a test compares the two). New keys never rely on it:
# app/store/api_keys.py writes SigningPolicy.default() (the GenAI types only) explicitly.
LEGACY_0004_ALLOWED_GENERATORS_JSON = '["*"]'
LEGACY_0004_ALLOWED_SOURCE_TYPES_JSON = (
    '["algorithmicMedia","compositeSynthetic","compositeWithTrainedAlgorithmicMedia","trainedAlgorithmicMedia"]'
)

# Stable constraint names: migrations can refer to them on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime.datetime]):
    """Timezone-aware UTC datetimes in, timezone-aware UTC datetimes out, on both dialects.

    PostgreSQL keeps `timestamptz`; SQLite has no time zones, so values are stored as naive UTC
    and marked UTC again when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store: pass timezone-aware UTC times")
        value = value.astimezone(datetime.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime.datetime | None, dialect: Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=datetime.UTC) if value.tzinfo is None else value.astimezone(datetime.UTC)


verdicts = Table(
    "verdicts",
    metadata,
    Column("sha256", CHAR(SHA256_HEX_LENGTH), primary_key=True),
    Column("state", String(16), nullable=False),  # VerdictState value, for operators' queries
    Column("label_kind", String(32), nullable=False),  # LabelKind value, likewise
    Column("verdict_json", Text, nullable=False),
    Column("label_json", Text, nullable=False),
    Column("trust_fingerprint", String(128), nullable=False),
    Column("stored_at", UtcDateTime, nullable=False),
)

tenants = Table(
    "tenants",
    metadata,
    Column("name", String(MAX_TENANT_NAME_LENGTH), primary_key=True),
    # JSON list of object URI prefixes (s3://bucket/prefix/, file:///folder/, relative folders) this
    # tenant's jobs may read and write; empty: uploaded-file jobs only (app/objects/access.py).
    Column("object_prefixes", Text, nullable=False, server_default="[]"),
    # Which of the tenant's derived webhook secrets is current (app/jobs/tenant_secrets.py); no secret is stored.
    Column("webhook_secret_generation", Integer, nullable=False, server_default="1"),
    Column("created_at", UtcDateTime, nullable=False),
    # Its shared manifest repository entries may be read through /sbr/v1 without an API key (0011).
    Column("sbr_public", Boolean, nullable=False, server_default=false()),
    # The service keeps a signed thumbnail per media id for its feed (0013; app/usecases/thumbnails.py).
    Column("feed_thumbnails", Boolean, nullable=False, server_default=false()),
)

# One small signed thumbnail rendition per (tenant, media id) for the feed (0013): tens of KB each,
# kept beside the verdicts (one backup, no object store needed). `source_sha256`: the content it
# was made from (served only while the media id still points at it); `private`: its original's
# repository entry is its tenant's only, and so is the thumbnail (it carries that store).
feed_thumbnails = Table(
    "feed_thumbnails",
    metadata,
    Column("tenant", String(MAX_TENANT_NAME_LENGTH), nullable=False),
    Column("media_id", String(MAX_MEDIA_ID_LENGTH), nullable=False),
    Column("source_sha256", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("private", Boolean, nullable=False, server_default=false()),
    Column("made_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant", "media_id", name="pk_feed_thumbnails"),
)


def _tenant_column() -> Column:
    # No foreign key: SQLite cannot add a REFERENCES column with a non-NULL default to an existing
    # table with foreign keys on. The store refuses an unknown tenant when it creates a key; every
    # other row takes its tenant from an authenticated key.
    return Column("tenant", String(MAX_TENANT_NAME_LENGTH), nullable=False, server_default=DEFAULT_TENANT)


media = Table(
    "media",
    metadata,
    _tenant_column(),
    Column("media_id", String(MAX_MEDIA_ID_LENGTH), nullable=False),
    Column("sha256", CHAR(SHA256_HEX_LENGTH), ForeignKey("verdicts.sha256"), nullable=False),
    Column("label_json", Text, nullable=False),  # copy of verdicts.label_json: label reads need no join
    Column("updated_at", UtcDateTime, nullable=False),
    # Label reads are `tenant = :t AND media_id = ANY(:ids)`: one primary-key range per batch.
    PrimaryKeyConstraint("tenant", "media_id", name="pk_media"),
    # Finds the media whose label copy must change when their verdict is rewritten.
    Index("ix_media_sha256", "sha256"),
    # A tenant's recent-items read: newest first, walked backwards, no sort (migration 0008).
    Index("ix_media_tenant_updated_at", "tenant", "updated_at", "media_id"),
)

tenant_content = Table(
    "tenant_content",
    metadata,
    Column("tenant", String(MAX_TENANT_NAME_LENGTH), primary_key=True),
    Column("sha256", CHAR(SHA256_HEX_LENGTH), ForeignKey("verdicts.sha256"), primary_key=True),
    Column("first_seen", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(KEY_ID_LENGTH), primary_key=True),
    _tenant_column(),  # a key belongs to exactly one tenant
    Column("name", String(200), nullable=False),
    Column("secret_hash", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("scopes", String(100), nullable=False),  # sorted Scope values, comma-separated
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    # The key's SigningPolicy (what POST /v1/sign lets it claim), as JSON arrays of text: generator
    # names or `*` patterns (they may contain commas), and IPTC digital source type terms.
    Column("allowed_generators", Text, nullable=False, server_default=LEGACY_0004_ALLOWED_GENERATORS_JSON),
    Column("allowed_source_types", Text, nullable=False, server_default=LEGACY_0004_ALLOWED_SOURCE_TYPES_JSON),
    # Migration 0012: whether the key may drop the credentials a file to sign carries
    # (replace_credentials); granted only by the operator, so every key before 0012 is denied.
    Column("may_replace_credentials", Boolean, nullable=False, server_default=false()),
)

audit_log = Table(
    "audit_log",
    metadata,
    # BIGINT on PostgreSQL; SQLite needs exactly INTEGER PRIMARY KEY for its rowid alias.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key_id", String(KEY_ID_LENGTH), nullable=True),  # None: signed in-process by the CLI
    Column("signed_at", UtcDateTime, nullable=False),
    Column("input_sha256", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("output_sha256", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("manifest_label", Text, nullable=True),
    Column("certificate_fingerprint", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("generator", Text, nullable=False),  # Text: an audit entry is never refused for its length
    Column("generator_version", Text, nullable=True),
    Column("media_id", String(MAX_MEDIA_ID_LENGTH), nullable=True),
    # The hash chain (migration 0002): the previous record's hash, and this record's own.
    Column("prev_hash", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("record_hash", CHAR(SHA256_HEX_LENGTH), nullable=False),
    # Migration 0007. The claim as signed: the effective IPTC digital source type term and the title.
    Column("digital_source_type", Text, nullable=True),
    Column("title", Text, nullable=True),
    # The caller's tenant; rows from before 0007 get the default.
    Column("tenant", String(TENANT_NAME_LENGTH), nullable=False, server_default=DEFAULT_TENANT),
    # Which encoding record_hash (and the MAC) use: 1 before 0007 (the rows that existed then get it
    # from the server default), 2 for every record written since (app/store/audit_encoding.py).
    Column("hash_version", SmallInteger, nullable=False, server_default="1"),
    # HMAC-SHA256 under the audit key, which the database never holds, and that key's short id
    # (keys/audit_key.py). Both None: written before audit keys, or by a store without one.
    Column("mac_key_id", String(AUDIT_KEY_ID_LENGTH), nullable=True),
    Column("mac", CHAR(SHA256_HEX_LENGTH), nullable=True),
    # Migration 0012 (record version 3): what the signature did with the credentials the file
    # carried: none, kept (as its parentOf ingredient) or replaced. None: written before 0012.
    Column("prior_credentials", String(16), nullable=True),
    Column("replaced_manifest_id", Text, nullable=True),  # replaced: the active manifest dropped
    Index("ix_audit_log_signed_at", "signed_at"),
    # Unique: two records can never follow the same one, so the chain cannot fork.
    Index("ix_audit_log_prev_hash", "prev_hash", unique=True),
)


# --- Jobs (migration 0005). app/jobs reads and writes these. On PostgreSQL the same
# migration also creates procrastinate's queue tables (not described here: procrastinate owns them).

originmark_jobs = Table(
    "originmark_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    _tenant_column(),  # every read and write of a job says `tenant = :t` in the query itself
    Column("kind", String(16), nullable=False),
    # sha256 of (kind, source URI, its etag and size, media id; sign: destination, params): one job per source version.
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("source", Text, nullable=False),
    # What the source was at submit (JSON: etag and size from the store, or the staged upload's
    # sha256 and size); a run that reads anything else fails with source_changed (migration 0008).
    Column("source_pin", Text, nullable=True),
    Column("media_id", Text, nullable=True),
    Column("destination", Text, nullable=True),  # sign: where the signed object goes
    Column("params", Text, nullable=True),  # sign: the generation request, JSON
    Column("key_id", Text, nullable=True),  # sign: the API key that asked (for the audit log)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("queue_job_id", BigInteger, nullable=True),  # procrastinate_jobs.id
    Column("sha256", String(64), nullable=True),  # verify: of the source; sign: of the output (the verdict's key)
    Column("error_code", Text, nullable=True),
    Column("error_message", Text, nullable=True),
    # Called once the job is final (succeeded or failed): a URL on an operator-allowlisted host.
    Column("webhook_url", Text, nullable=True),
    # sign: the signature an attempt made (JSON), recorded before its output is uploaded, so a
    # retry after a worker died mid-job finds that output at the destination and does not sign again.
    Column("signed_output", Text, nullable=True),
    # SQLite (the embedded pool, no queue): the job is final and its webhook not yet delivered or
    # given up; a server that stops meanwhile delivers it when the next one starts (migration 0006).
    # On PostgreSQL the delivery is a procrastinate job instead, and this stays false.
    Column("webhook_pending", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The embedded pool's start-up scan for jobs left queued or running.
    Index("ix_originmark_jobs_status", "status"),
)

originmark_batches = Table(
    "originmark_batches",
    metadata,
    Column("id", String(32), primary_key=True),
    _tenant_column(),
    Column("prefix", Text, nullable=False),  # the URI that was listed
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

originmark_batch_jobs = Table(
    "originmark_batch_jobs",
    metadata,
    Column("batch_id", String(32), ForeignKey("originmark_batches.id"), primary_key=True),
    Column("position", Integer, primary_key=True),  # listing order (key order)
    Column("job_id", String(32), ForeignKey("originmark_jobs.id"), nullable=False),
)


# --- The manifest repository (issue 14; migration 0009). app/store/repository_sql.py reads and writes these.


def _id_column() -> Column:
    # BIGINT on PostgreSQL; SQLite needs exactly INTEGER PRIMARY KEY for its rowid alias.
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


repository_entries = Table(
    "repository_entries",
    metadata,
    _id_column(),
    Column("manifest_id", String(MAX_MANIFEST_ID_LENGTH), nullable=False),  # the active manifest's URN
    Column("tenant", String(MAX_TENANT_NAME_LENGTH), nullable=False),  # the owner
    Column("asset_sha256", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("origin", String(16), nullable=False),  # EntryOrigin value
    Column("private", Boolean, nullable=False, server_default=false()),
    Column("created_at", UtcDateTime, nullable=False),
    Column("store_size", BigInteger, nullable=False),
    Column("store_sha256", CHAR(SHA256_HEX_LENGTH), nullable=False),
    # Exactly one of the two: the bytes themselves (small stores), or the object store URI.
    Column("store_bytes", LargeBinary, nullable=True),
    Column("store_object_uri", Text, nullable=True),
    # One entry per manifest id and owner: two tenants may each keep a credential they verified.
    UniqueConstraint("manifest_id", "tenant", name="uq_repository_entries_manifest_id"),
)


def entry_visible_to_viewer() -> ColumnElement[bool]:
    """A repository entry the tenant bound as :viewer may see: its own, or shared (signed and not
    private). The one statement of the rule over repository_entries (the bindings carry a copy)."""
    return or_(
        repository_entries.c.tenant == bindparam("viewer"),
        and_(repository_entries.c.origin == EntryOrigin.SIGNED.value, repository_entries.c.private.is_(False)),
    )


# One row per soft binding of an entry. The visibility of the entry is copied here (`tenant`, and
# `shared`: signed and not private) so the candidates' read tests it without a join.
repository_bindings = Table(
    "repository_bindings",
    metadata,
    _id_column(),
    Column(
        "entry_id", BigInteger().with_variant(Integer, "sqlite"), ForeignKey("repository_entries.id"), nullable=False
    ),
    Column("tenant", String(MAX_TENANT_NAME_LENGTH), nullable=False),
    Column("shared", Boolean, nullable=False),
    Column("alg", String(MAX_ALG_LENGTH), nullable=False),
    Column("value", LargeBinary, nullable=False),
    # io.iscc.v0 only: the 64-bit code as the BIGINT with the same bits (app/store/similarity.py)
    # and the second-stage descriptor.
    Column("code64", BigInteger, nullable=True),
    Column("descriptor", LargeBinary, nullable=True),
    Index("ix_repository_bindings_entry_id", "entry_id"),
    # Lookups by binding value (the Soft Binding Resolution API's byBinding).
    Index("ix_repository_bindings_alg", "alg", "value"),
)

# The band index (multi-index hashing, app/store/similarity.py): one row per band and 16-bit band
# value, its key band * 65536 + value, holding every (binding id, code64) whose code has that value
# in that band, packed as little-endian int64 pairs. A probe is a primary-key read that brings ~15
# codes at 1 M entries. Visibility is not here: the candidates' read applies it (measured: a row
# per code read 16,917 index rows for a radius-12 query, p50 23-29 ms; a row per bucket, 1,108).
repository_buckets = Table(
    "repository_buckets",
    metadata,
    Column("key", Integer, primary_key=True, autoincrement=False),
    Column("codes", LargeBinary, nullable=False),
)

# Takedowns: an entry deleted (`originmark repository delete`) leaves this record. Only ever inserted.
repository_deletions = Table(
    "repository_deletions",
    metadata,
    _id_column(),
    Column("manifest_id", String(MAX_MANIFEST_ID_LENGTH), nullable=False),
    Column("tenant", String(MAX_TENANT_NAME_LENGTH), nullable=False),
    Column("asset_sha256", CHAR(SHA256_HEX_LENGTH), nullable=False),
    Column("origin", String(16), nullable=False),
    Column("deleted_at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),  # who asked (the operator's CLI names the OS user)
    Column("reason", Text, nullable=False),
)

# An entry made private or public again (its owner's API key, or the operator's CLI). Only ever inserted.
repository_visibility_changes = Table(
    "repository_visibility_changes",
    metadata,
    _id_column(),
    Column("manifest_id", String(MAX_MANIFEST_ID_LENGTH), nullable=False),
    Column("tenant", String(MAX_TENANT_NAME_LENGTH), nullable=False),
    Column("private", Boolean, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
    Column("actor", Text, nullable=False),  # `key:<key id>` through the API, `cli:<OS user>` from the CLI
)
