"""Batches: one verify job per object under a prefix (S3 or the local folder), and their outcome.

A batch is an id, the prefix it listed, and the jobs it enqueued (`originmark_batches` and
`originmark_batch_jobs`, created by the jobs' migration with `originmark_jobs`).
Each object is submitted through `records.submit` exactly as POST /v1/jobs/verify does, so the
jobs' idempotency applies: a batch run again over unchanged objects gets a new batch id that
points at the same jobs (nothing is queued or verified twice).

What runs the jobs is the caller's `enqueue` / `started` (app/cli/batch_cmd.py): procrastinate on
PostgreSQL (`originmark worker`), the embedded pool on SQLite.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeAlias

import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from app.jobs import records
from app.jobs.records import JobKind, JobStatus
from app.jobs.schema import batch_jobs, batches, jobs
from app.objects.interface import ObjectInfo
from app.objects.location import ObjectLocation
from app.objects.media import SourcePin
from app.objects.transfer import iter_objects


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    uri: str
    reason: str


# What happened to one listed object: a job (new or reused), or skipped with a reason.
BatchItem: TypeAlias = records.Submitted | Skipped


def create_batch(db_engine: Engine, prefix: ObjectLocation, *, tenant: str) -> str:
    """A batch whose jobs act for `tenant` (their verdicts are that tenant's submissions)."""
    batch_id = uuid.uuid4().hex
    with db_engine.begin() as connection:
        connection.execute(batches.insert().values(id=batch_id, tenant=tenant, prefix=prefix.uri))
    return batch_id


def submit_batch(
    db_engine: Engine,
    *,
    batch_id: str,
    tenant: str,
    objects,  # app.objects.router.ObjectStores
    prefix: ObjectLocation,
    max_source_bytes: int,
    enqueue: Callable[[str], Callable[[Connection, str], int | None]],
    started: Callable[[records.Submitted], records.Submitted] = lambda submitted: submitted,
    page_size: int = 1000,
) -> Iterator[BatchItem]:
    """List `prefix` page by page and submit one verify job per object, recording it in the batch.

    `enqueue(lock)`: records.submit's `enqueue` for that idempotency key; `started`: called after
    the job's row commits (the embedded pool starts it). Folders ("key/") are not objects: skipped
    silently; objects over `max_source_bytes` are skipped with a reason (as the API's 413).
    """
    position = 0
    for info in iter_objects(objects, prefix, page_size=page_size):
        item = _submit_one(
            db_engine, info, tenant=tenant, max_source_bytes=max_source_bytes, enqueue=enqueue, started=started
        )
        if item is None:
            continue
        if isinstance(item, records.Submitted):
            with db_engine.begin() as connection:
                connection.execute(batch_jobs.insert().values(batch_id=batch_id, position=position, job_id=item.job.id))
            position += 1
        yield item


def _submit_one(
    db_engine: Engine,
    info: ObjectInfo,
    *,
    tenant: str,
    max_source_bytes: int,
    enqueue: Callable[[str], Callable[[Connection, str], int | None]],
    started: Callable[[records.Submitted], records.Submitted],
) -> BatchItem | None:
    if info.uri.endswith("/"):
        return None
    if info.size > max_source_bytes:
        return Skipped(uri=info.uri, reason=f"{info.size} bytes, over the job limit of {max_source_bytes}")
    # The same key as POST /v1/jobs/verify without a media id: the API and a batch share jobs.
    key = records.idempotency_key(
        tenant=tenant, kind=JobKind.VERIFY, source=info.uri, etag=info.etag, size=info.size, media_id=None
    )
    submitted = records.submit(
        db_engine,
        tenant=tenant,
        kind=JobKind.VERIFY,
        source=info.uri,
        source_pin=SourcePin.of(info).to_json(),
        media_id=None,
        key=key,
        enqueue=enqueue(key),
    )
    return started(submitted)


# --- reading a batch back ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRow:
    job_id: str
    source: str
    status: JobStatus
    state: str | None  # the verdict's state, once the job succeeded
    label_kind: str | None
    label_text: str | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchReport:
    batch_id: str
    prefix: str
    rows: tuple[BatchRow, ...]

    @property
    def by_status(self) -> dict[str, int]:
        return dict(sorted(Counter(row.status.value for row in self.rows).items()))

    @property
    def by_state(self) -> dict[str, int]:
        return dict(sorted(Counter(row.state for row in self.rows if row.state is not None).items()))

    @property
    def by_label(self) -> dict[str, int]:
        return dict(sorted(Counter(row.label_kind for row in self.rows if row.label_kind is not None).items()))

    @property
    def finished(self) -> bool:
        return all(row.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) for row in self.rows)

    @property
    def all_good(self) -> bool:
        """Every job succeeded and no verdict is invalid (exit status 0)."""
        return all(row.status is JobStatus.SUCCEEDED and row.state != "invalid" for row in self.rows)


def batch_exists(db_engine: Engine, batch_id: str) -> bool:
    if not _has_tables(db_engine):
        return False
    with db_engine.connect() as connection:
        return connection.execute(sa.select(batches.c.id).where(batches.c.id == batch_id)).first() is not None


def job_statuses(db_engine: Engine, batch_id: str) -> Counter[str]:
    """Jobs per status (for a progress bar), in one query."""
    with db_engine.connect() as connection:
        found = connection.execute(
            sa.select(jobs.c.status, sa.func.count())
            .select_from(batch_jobs.join(jobs, jobs.c.id == batch_jobs.c.job_id))
            .where(batch_jobs.c.batch_id == batch_id)
            .group_by(jobs.c.status)
        ).all()
    return Counter({status: count for status, count in found})


def load_report(db_engine: Engine, store, batch_id: str) -> BatchReport | None:
    """The batch with each job's status and, once succeeded, its stored verdict's state and label."""
    if not _has_tables(db_engine):
        return None
    with db_engine.connect() as connection:
        batch = connection.execute(sa.select(batches).where(batches.c.id == batch_id)).first()
        if batch is None:
            return None
        found = connection.execute(
            sa.select(jobs)
            .select_from(batch_jobs.join(jobs, jobs.c.id == batch_jobs.c.job_id))
            .where(batch_jobs.c.batch_id == batch_id)
            .order_by(batch_jobs.c.position)
        ).all()
    rows = []
    for row in found:
        state = label_kind = label_text = None
        if row.status == JobStatus.SUCCEEDED.value and row.sha256 is not None:
            stored = store.verdict_by_sha256(row.tenant, row.sha256)
            if stored is not None:
                state = stored.verdict.state.value
                label_kind, label_text = stored.label.kind.value, stored.label.text
        rows.append(
            BatchRow(
                job_id=row.id,
                source=row.source,
                status=JobStatus(row.status),
                state=state,
                label_kind=label_kind,
                label_text=label_text,
                error_code=row.error_code,
                error_message=row.error_message,
            )
        )
    return BatchReport(batch_id=batch.id, prefix=batch.prefix, rows=tuple(rows))


def _has_tables(db_engine: Engine) -> bool:
    names = set(sa.inspect(db_engine).get_table_names())
    return {"originmark_batches", "originmark_batch_jobs", "originmark_jobs"} <= names
