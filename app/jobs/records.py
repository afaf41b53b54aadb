"""A job's row in `originmark_jobs`: submitting (row and queue job in one transaction), reading,
and the state changes a worker makes.

Idempotency: a job is keyed by (kind, source URI, the source's etag and size, media id). Submitting
the same key again returns the job that exists (whatever its state), so a client retrying its
POST never queues a second verification. The worker side checks the row before working: a job
already `succeeded` (at-least-once delivery gave it twice) is not run again.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.jobs.schema import jobs

if TYPE_CHECKING:
    from verifier.fingerprint import ImageFingerprint
    from verifier.video_fingerprint import VideoFingerprint


class JobKind(enum.StrEnum):
    VERIFY = "verify"
    SIGN = "sign"
    RENDITION = "rendition"  # a rendition signed with its original's credentials as history (issue 15)


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for a worker (first time, or for a retry after a failed attempt)
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every attempt failed; error_code / error_message say why


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedOutput:
    """A sign job's signature, recorded by the attempt that made it before uploading the output.

    A later attempt (the worker died before committing) that finds exactly these bytes
    (`output_sha256`) at the destination finishes the job with them instead of signing again."""

    output_sha256: str
    source_sha256: str
    manifest_label: str | None
    certificate_fingerprint: str | None
    # The manifest store (base64 in the JSON), so a retry that finishes the job with this output
    # still keeps it in the manifest repository. Empty: recorded before the repository existed.
    manifest_store: bytes = field(default=b"", repr=False)
    # The source's fingerprint (an image's, or a video's key frames and Video-Code), so that a retry
    # keeps the descriptors too. None: not fingerprinted, or recorded before descriptors were kept.
    fingerprint: ImageFingerprint | VideoFingerprint | None = field(default=None, repr=False)
    # What the signature did with the credentials the source carried (PriorCredentials's value), for
    # the audit entry a retry writes. None: recorded before it was kept (the entry then says nothing).
    prior_credentials: str | None = None
    replaced_manifest_label: str | None = None  # replaced: the active manifest dropped
    # A rendition job's: the SHA-256 of the original whose credentials the output carries as its
    # history. A retry whose original is another by then signs again. None: a sign job's, or older.
    original_sha256: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "output_sha256": self.output_sha256,
                "source_sha256": self.source_sha256,
                "manifest_label": self.manifest_label,
                "certificate_fingerprint": self.certificate_fingerprint,
                "manifest_store": base64.b64encode(self.manifest_store).decode("ascii"),
                "fingerprint": _fingerprint_json(self.fingerprint),
                "prior_credentials": self.prior_credentials,
                "replaced_manifest_label": self.replaced_manifest_label,
                "original_sha256": self.original_sha256,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> SignedOutput:
        fields = json.loads(text)
        return cls(
            output_sha256=fields["output_sha256"],
            source_sha256=fields["source_sha256"],
            manifest_label=fields.get("manifest_label"),
            certificate_fingerprint=fields.get("certificate_fingerprint"),
            manifest_store=base64.b64decode(fields.get("manifest_store") or ""),
            fingerprint=_fingerprint_from_json(fields.get("fingerprint")),
            prior_credentials=fields.get("prior_credentials"),
            replaced_manifest_label=fields.get("replaced_manifest_label"),
            original_sha256=fields.get("original_sha256"),
        )


def _fingerprint_json(fingerprint: ImageFingerprint | VideoFingerprint | None) -> dict[str, Any] | None:
    if fingerprint is None:
        return None
    from verifier.fingerprint_plain import to_plain

    return to_plain(fingerprint)


def _fingerprint_from_json(fields: dict[str, Any] | None) -> ImageFingerprint | VideoFingerprint | None:
    if not fields:
        return None
    from verifier.fingerprint_plain import from_plain

    return from_plain(fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    id: str
    tenant: str  # whose job: only that tenant's keys can see it, and it acts for that tenant
    kind: JobKind
    source: str
    source_pin: dict | None  # what the source was at submit (app/objects/media.SourcePin as JSON)
    media_id: str | None
    destination: str | None
    params: dict | None
    key_id: str | None
    status: JobStatus
    attempts: int
    sha256: str | None
    error_code: str | None
    error_message: str | None
    signed_output: SignedOutput | None = None  # sign: set once an attempt has signed (see SignedOutput)
    webhook_url: str | None = None  # POSTed once the job is final (app/jobs/webhooks.py)
    created_at: datetime
    updated_at: datetime

    @property
    def keeps_manifest(self) -> bool:
        """A verify job asked to keep the object's manifest store (verify_job_params)."""
        return self.kind is JobKind.VERIFY and bool((self.params or {}).get("keep_manifest"))

    @property
    def signs_private(self) -> bool:
        """A sign job asked for a repository entry private from the start."""
        return self.kind is JobKind.SIGN and bool((self.params or {}).get("private"))


@dataclass(frozen=True, slots=True, kw_only=True)
class RenditionParams:
    """A rendition job's params: how it names its original (one of its media id and its SHA-256, as
    the tenant stored it), the rendition's actions, and whether an original without credentials may
    have renditions. Checked at submit by the renditions use case, and again before each attempt."""

    source_media_id: str | None
    source_sha256: str | None
    actions: tuple[str, ...]
    allow_no_upstream: bool = False
    title: str | None = None  # an uploaded rendition's file name (else the engine's, from the object)

    def to_json(self) -> dict:
        params: dict[str, Any] = {"actions": list(self.actions)}
        for name in ("source_media_id", "source_sha256", "title"):
            if (value := getattr(self, name)) is not None:
                params[name] = value
        if self.allow_no_upstream:
            params["allow_no_upstream"] = True
        return params

    @classmethod
    def from_json(cls, params: dict) -> RenditionParams:
        return cls(
            source_media_id=params.get("source_media_id"),
            source_sha256=params.get("source_sha256"),
            actions=tuple(params["actions"]),
            allow_no_upstream=params.get("allow_no_upstream") is True,
            title=params.get("title"),
        )


def verify_job_params(*, keep_manifest: bool) -> dict | None:
    """A verify job's params: None unless it keeps the manifest store (so a plain job's idempotency
    key is what it was before verify jobs took options, and resubmitting one finds it)."""
    return {"keep_manifest": True} if keep_manifest else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    job: JobRecord
    created: bool  # False: the same job existed already (idempotent resubmission)


def idempotency_key(
    *,
    tenant: str,
    kind: JobKind,
    source: str,
    etag: str | None,
    size: int,
    media_id: str | None,
    destination: str | None = None,
    params: dict | None = None,
) -> str:
    # The tenant is part of the key: the same request from two tenants is two jobs, and one
    # tenant's resubmission can never be answered with another tenant's job.
    described = json.dumps([tenant, kind.value, source, etag, size, media_id, destination, params], sort_keys=True)
    return hashlib.sha256(described.encode()).hexdigest()


def submit(
    db_engine: Engine,
    *,
    tenant: str,
    kind: JobKind,
    source: str,
    source_pin: dict | None = None,
    media_id: str | None,
    key: str,
    enqueue: Callable[[Connection, str], int | None],
    destination: str | None = None,
    params: dict | None = None,
    key_id: str | None = None,
    webhook_url: str | None = None,
) -> Submitted:
    """Insert the job row and queue it (`enqueue(connection, job_id)` -> the queue's job id) in
    one transaction; or return the job that already has this key (its webhook_url unchanged: the
    first submission's)."""
    job_id = uuid.uuid4().hex
    with db_engine.begin() as connection:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        inserted = connection.execute(
            insert(jobs)
            .values(
                id=job_id,
                tenant=tenant,
                kind=kind.value,
                idempotency_key=key,
                source=source,
                source_pin=None if source_pin is None else json.dumps(source_pin, sort_keys=True),
                media_id=media_id,
                destination=destination,
                params=None if params is None else json.dumps(params, sort_keys=True),
                key_id=key_id,
                status=JobStatus.QUEUED.value,
                attempts=0,
                webhook_url=webhook_url,
            )
            .on_conflict_do_nothing(index_elements=[jobs.c.idempotency_key])
            .returning(jobs.c.id)
        ).first()
        if inserted is None:
            # The key covers the tenant (idempotency_key), and the lookup says so too: never another's job.
            existing = connection.execute(
                sa.select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)
            ).one()
            return Submitted(job=_record(existing), created=False)
        queue_job_id = enqueue(connection, job_id)
        if queue_job_id is not None:
            connection.execute(jobs.update().where(jobs.c.id == job_id).values(queue_job_id=queue_job_id))
        row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
    return Submitted(job=_record(row), created=True)


def find(db_engine: Engine, tenant: str, key: str) -> JobRecord | None:
    """The tenant's job with this idempotency key, if one was submitted."""
    with db_engine.connect() as connection:
        row = connection.execute(sa.select(jobs).where(jobs.c.tenant == tenant, jobs.c.idempotency_key == key)).first()
    return None if row is None else _record(row)


def get(db_engine: Engine, job_id: str) -> JobRecord | None:
    """The job by id, whoever owns it: for workers and webhook delivery, which act on ids the queue
    gave them. A caller's id is looked up with `owned_by` instead."""
    with db_engine.connect() as connection:
        row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    return None if row is None else _record(row)


def owned_by(db_engine: Engine, tenant: str, job_id: str) -> JobRecord | None:
    """The tenant's job with this id; another tenant's job is None, exactly like no job."""
    with db_engine.connect() as connection:
        row = connection.execute(sa.select(jobs).where(jobs.c.tenant == tenant, jobs.c.id == job_id)).first()
    return None if row is None else _record(row)


def start_attempt(db_engine: Engine, job_id: str) -> JobRecord | None:
    """Mark the job running (one more attempt); None when it already succeeded or does not exist."""
    with db_engine.begin() as connection:
        row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id).with_for_update()).first()
        if row is None or row.status == JobStatus.SUCCEEDED.value:
            return None
        connection.execute(
            jobs.update()
            .where(jobs.c.id == job_id)
            .values(status=JobStatus.RUNNING.value, attempts=jobs.c.attempts + 1, updated_at=sa.func.now())
        )
        row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).one()
    return _record(row)


def record_signed_output(db_engine: Engine, job_id: str, signed: SignedOutput) -> None:
    """Committed before the signed output is uploaded: whatever reaches the destination is known."""
    with db_engine.begin() as connection:
        connection.execute(
            jobs.update().where(jobs.c.id == job_id).values(signed_output=signed.to_json(), updated_at=sa.func.now())
        )


# Called in the transaction that makes a job with a webhook_url final, once per job: (connection, job_id).
FinalHook = Callable[[Connection, str], None]


def mark_succeeded(connection: Connection, job_id: str, *, sha256: str, on_final: FinalHook | None = None) -> None:
    """In the caller's transaction (the one storing the verdict). `on_final` runs in it when this
    call is the one that makes the job succeeded and the job has a webhook."""
    # Locked (PostgreSQL): two deliveries of one queue job finishing together call on_final once.
    before = connection.execute(
        sa.select(jobs.c.status, jobs.c.webhook_url).where(jobs.c.id == job_id).with_for_update()
    ).first()
    connection.execute(
        jobs.update()
        .where(jobs.c.id == job_id)
        .values(
            status=JobStatus.SUCCEEDED.value,
            sha256=sha256,
            error_code=None,
            error_message=None,
            updated_at=sa.func.now(),
        )
    )
    if on_final is not None and before is not None and before.webhook_url is not None:
        if before.status != JobStatus.SUCCEEDED.value:
            on_final(connection, job_id)


def mark_attempt_failed(
    db_engine: Engine, job_id: str, *, final: bool, code: str, message: str, on_final: FinalHook | None = None
) -> None:
    """`final`: no retry follows (status failed); otherwise queued again, with the last error kept.
    `on_final` runs in the same transaction when `final` marked the job failed and it has a webhook."""
    status = JobStatus.FAILED if final else JobStatus.QUEUED
    with db_engine.begin() as connection:
        updated = connection.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status != JobStatus.SUCCEEDED.value)
            .values(status=status.value, error_code=code, error_message=message[:2000], updated_at=sa.func.now())
            .returning(jobs.c.webhook_url)
        ).first()
        if final and on_final is not None and updated is not None and updated.webhook_url is not None:
            on_final(connection, job_id)


def _record(row: sa.Row) -> JobRecord:
    return JobRecord(
        id=row.id,
        tenant=row.tenant,
        kind=JobKind(row.kind),
        source=row.source,
        source_pin=None if row.source_pin is None else json.loads(row.source_pin),
        media_id=row.media_id,
        destination=row.destination,
        params=None if row.params is None else json.loads(row.params),
        key_id=row.key_id,
        status=JobStatus(row.status),
        attempts=row.attempts,
        sha256=row.sha256,
        error_code=row.error_code,
        error_message=row.error_message,
        signed_output=None if row.signed_output is None else SignedOutput.from_json(row.signed_output),
        webhook_url=row.webhook_url,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
