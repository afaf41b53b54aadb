"""Webhooks: once a job with a `webhook_url` is final, POST a signed event to it.

When: the transaction that makes the job final (the verdict and `succeeded`, or `failed` after
the last attempt) calls `on_job_final` (records' FinalHook). On PostgreSQL that queues a
procrastinate task (`originmark.webhook`) in the same transaction, so the event is queued if and
only if the job's final state commits, and survives any process dying after that. On SQLite (the
embedded pool, no queue) the hook sets the job's `webhook_pending` in that transaction and
`EmbeddedDeliveries` starts the delivery once the pool sees the run has ended, i.e. after the
commit; the flag is cleared once the event is delivered or given up, so a delivery not done when
the server stops is sent by the next server process (`resume_pending`).

How: one POST per attempt, JSON body (`event_body`), signed (app/jobs/webhook_signing.py), to a
URL checked against the allowlist again at that moment (app/jobs/webhook_targets.py). A 2xx
answer delivers; anything else (redirects included: never followed), a timeout or a connection
error is retried after webhook_retry_wait_seconds, doubled each time (at most an hour), until
webhook_max_attempts attempts; then the delivery is given up (logged; on PostgreSQL the
procrastinate job ends `failed`). The answer's body is never read. The delivery id is the same on
every attempt of one delivery: receivers deduplicate on it (delivery is at least once).

Nothing here logs the secret, the signature or the URL's path and query (they may carry a
receiver's token): only the host.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import procrastinate
from sqlalchemy import Connection, select

from app.jobs import records
from app.jobs.presentation import JobPresenter
from app.jobs.records import JobRecord, JobStatus
from app.jobs.schema import jobs
from app.jobs.tenant_secrets import signing_secrets
from app.jobs.webhook_signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature_header_for_secrets,
)
from app.jobs.webhook_targets import WebhookAllowlist, WebhookUrlRefused
from app.settings import Settings
from app.wiring import own_objects_location

log = logging.getLogger("originmark.jobs")

USER_AGENT = "originmark-webhooks/1"
MAX_RETRY_WAIT_SECONDS = 3600.0
_FINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED)


class JobEvent(enum.StrEnum):
    SUCCEEDED = "job.succeeded"
    FAILED = "job.failed"


class DeliveryOutcome(enum.StrEnum):
    DELIVERED = "delivered"  # the receiver answered 2xx
    RETRY = "retry"  # not delivered this time (non-2xx, timeout, connection error): try again later
    DROPPED = "dropped"  # never to be sent: host no longer allowlisted, webhooks not configured, no such final job


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    outcome: DeliveryOutcome
    reason: str  # for the log: a status code or the kind of failure, never the receiver's body
    status_code: int | None = None
    host: str | None = None  # the receiver's host (for the log: never the path or query)


class WebhookNotDelivered(Exception):
    """Raised by the queue task for procrastinate to retry the delivery (WebhookRetryStrategy)."""


def retry_wait_seconds(settings: Settings, failed_attempts: int) -> float:
    """The wait after `failed_attempts` (>= 1) failed attempts: the base, doubled each time, capped."""
    exponent = max(0, failed_attempts - 1)
    return min(settings.webhook_retry_wait_seconds * (2.0 ** min(exponent, 30)), MAX_RETRY_WAIT_SECONDS)


def webhooks_configured(settings: Settings) -> bool:
    return settings.webhook_master_key is not None and bool(settings.webhook_master_key.get_secret_value())


# --- when a job becomes final ---

_made_final = threading.local()


def on_job_final(connection: Connection, job_id: str) -> None:
    """records.FinalHook: in the transaction that makes `job_id` (which has a webhook) final."""
    if connection.dialect.name == "postgresql":
        from app.jobs.deferral import defer_webhook

        defer_webhook(connection, job_id=job_id, delivery_id=uuid.uuid4().hex)
    else:
        # No queue: the embedded pool delivers once this run is over (after the commit); the flag,
        # committed with the final state, lets the next server deliver it if this one stops first.
        connection.execute(jobs.update().where(jobs.c.id == job_id).values(webhook_pending=True))
        _pending_in_this_thread().add(job_id)


def _pending_in_this_thread() -> set[str]:
    pending = getattr(_made_final, "jobs", None)
    if pending is None:
        pending = _made_final.jobs = set()
    return pending


def take_made_final(job_id: str) -> bool:
    """Whether this thread's last run of `job_id` called on_job_final (and forget it)."""
    pending = _pending_in_this_thread()
    if job_id in pending:
        pending.discard(job_id)
        return True
    return False


# --- the event ---


def event_body(job: JobRecord, stored: Any | None, *, delivery_id: str, presenter: JobPresenter) -> bytes:
    """The JSON body for a final job; `stored` (app.store.interface.StoredVerdict): its verdict.
    Locations and messages as the tenant is shown them (`presenter`): never a server path."""
    from app.codec import label_to_dict

    succeeded = job.status is JobStatus.SUCCEEDED
    body = {
        "event": (JobEvent.SUCCEEDED if succeeded else JobEvent.FAILED).value,
        "delivery_id": delivery_id,
        "job_id": job.id,
        "kind": job.kind.value,
        "status": job.status.value,
        "attempts": job.attempts,
        "tenant": job.tenant,
        "source": presenter.source(job),
        "destination": presenter.destination(job),
        "media_id": job.media_id,
        "sha256": job.sha256,
        "state": stored.verdict.state.value if succeeded and stored is not None else None,
        "label": label_to_dict(stored.label) if succeeded and stored is not None else None,
        "error": None if succeeded else {"code": job.error_code, "message": presenter.error_message(job)},
        "created_at": _utc(job.created_at),
        "finished_at": _utc(job.updated_at),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _utc(moment: datetime) -> str:
    # SQLite hands back naive datetimes (stored as UTC by CURRENT_TIMESTAMP).
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


# --- one attempt ---


def post_event(
    url: str,
    body: bytes,
    *,
    secrets: list[str],
    event: JobEvent,
    delivery_id: str,
    attempt: int,
    timeout_seconds: float,
    now: float | None = None,
) -> DeliveryResult:
    """POST `body` to `url` (already checked against the allowlist), signed; the outcome."""
    timestamp = int(time.time() if now is None else now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event.value,
        DELIVERY_HEADER: delivery_id,
        "Originmark-Delivery-Attempt": str(attempt),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header_for_secrets(list(secrets), timestamp=timestamp, body=body),
    }
    # Directly to the allowlisted host: no redirects (their target was never checked), no proxy
    # from the environment, connect and each read bounded.
    timeout = httpx.Timeout(timeout_seconds)
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            with client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code  # the body is left unread and the connection closed
    except httpx.TimeoutException:
        return DeliveryResult(outcome=DeliveryOutcome.RETRY, reason=f"no answer within {timeout_seconds:g} s")
    except httpx.HTTPError as error:
        return DeliveryResult(outcome=DeliveryOutcome.RETRY, reason=f"the request failed ({type(error).__name__})")
    if 200 <= status < 300:
        return DeliveryResult(outcome=DeliveryOutcome.DELIVERED, reason=f"HTTP {status}", status_code=status)
    return DeliveryResult(outcome=DeliveryOutcome.RETRY, reason=f"HTTP {status}, not 2xx", status_code=status)


def deliver_job_event(runtime: Any, job_id: str, *, delivery_id: str, attempt: int) -> DeliveryResult:
    """One delivery attempt for a final job (runtime: app.jobs.tasks.JobRuntime)."""
    settings: Settings = runtime.settings
    job = records.get(runtime.store.db_engine, job_id)
    if job is None or job.webhook_url is None or job.status not in _FINAL:
        return DeliveryResult(outcome=DeliveryOutcome.DROPPED, reason="no final job with a webhook has this id")
    if not webhooks_configured(settings):
        return DeliveryResult(outcome=DeliveryOutcome.DROPPED, reason="webhooks are not configured (no secret)")
    try:
        url = WebhookAllowlist.from_settings(settings).check(job.webhook_url)
    except WebhookUrlRefused as refused:
        return DeliveryResult(outcome=DeliveryOutcome.DROPPED, reason=f"not allowed any more: {refused.message}")
    stored = None
    if job.status is JobStatus.SUCCEEDED and job.sha256 is not None:
        stored = runtime.store.verdict_by_sha256(job.tenant, job.sha256)
    presenter = JobPresenter(
        objects=runtime.objects, own_objects=own_objects_location(settings), private_folders=(settings.spool_dir,)
    )
    body = event_body(job, stored, delivery_id=delivery_id, presenter=presenter)
    assert settings.webhook_master_key is not None
    tenant = runtime.store.tenant(job.tenant)
    result = post_event(
        url,
        body,
        # The job's tenant's own secrets: a receiver of another tenant cannot forge these events.
        secrets=signing_secrets(
            settings.webhook_master_key.get_secret_value(),
            tenant=job.tenant,
            generation=tenant.webhook_secret_generation if tenant is not None else 1,
        ),
        event=JobEvent.SUCCEEDED if job.status is JobStatus.SUCCEEDED else JobEvent.FAILED,
        delivery_id=delivery_id,
        attempt=attempt,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    return dataclasses.replace(result, host=urlsplit(url).hostname)


def log_result(runtime: Any, job_id: str, result: DeliveryResult, *, delivery_id: str, attempt: int) -> None:
    settings: Settings = runtime.settings
    fields = {
        "job_id": job_id,
        "delivery_id": delivery_id,
        "attempt": attempt,
        "outcome": result.outcome.value,
        "reason": result.reason,
        "webhook_host": result.host,
    }
    if result.outcome is DeliveryOutcome.DELIVERED:
        log.info("webhook delivered", extra={"fields": fields})
    elif result.outcome is DeliveryOutcome.DROPPED:
        log.warning("webhook not sent", extra={"fields": fields})
    elif attempt >= settings.webhook_max_attempts:
        log.error("webhook given up after its last attempt", extra={"fields": fields})
    else:
        log.warning("webhook attempt failed; retried", extra={"fields": fields})


# --- PostgreSQL: the queue task ---


def run_webhook_task(runtime: Any, job_id: str, *, delivery_id: str, attempt: int) -> None:
    """The body of procrastinate's `originmark.webhook` task: raises to be retried."""
    result = deliver_job_event(runtime, job_id, delivery_id=delivery_id, attempt=attempt)
    log_result(runtime, job_id, result, delivery_id=delivery_id, attempt=attempt)
    if result.outcome is DeliveryOutcome.RETRY:
        raise WebhookNotDelivered(result.reason)


class WebhookRetryStrategy(procrastinate.BaseRetryStrategy):
    """webhook_max_attempts attempts in all, waiting retry_wait_seconds between them; any failure
    is retried (a database hiccup reading the job as much as a receiver's 503)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> procrastinate.RetryDecision | None:
        failed = job.attempts + 1  # procrastinate's `attempts` counts the runs before this one
        if failed >= self._settings.webhook_max_attempts:
            return None
        # retry_at, not retry_in: procrastinate types retry_in's seconds as int, and the wait is a float.
        wait = timedelta(seconds=retry_wait_seconds(self._settings, failed))
        return procrastinate.RetryDecision(retry_at=datetime.now(UTC) + wait)


# --- SQLite: the embedded pool ---


class EmbeddedDeliveries:
    """Deliveries run on the embedded job pool (`submit`), retried with timers between attempts."""

    def __init__(self, runtime: Any, *, submit: Callable[..., Any], stopping: threading.Event) -> None:
        self._runtime = runtime
        self._submit = submit
        self._stopping = stopping
        self._timers: dict[str, threading.Timer] = {}
        self._lock = threading.Lock()

    def run_ended(self, job_id: str) -> None:
        """Called by the pool's thread after each run of a job, once its transactions are over."""
        if not take_made_final(job_id):
            return
        try:
            job = records.get(self._runtime.store.db_engine, job_id)
        except Exception:  # the database went away just after the commit: nothing to retry from
            log.exception("webhook not sent: the job could not be read", extra={"fields": {"job_id": job_id}})
            return
        if job is None or job.webhook_url is None or job.status not in _FINAL:
            return  # the transaction that called the hook did not commit
        self._schedule(job_id, uuid.uuid4().hex, attempt=1, delay=0.0)

    def resume_pending(self) -> int:
        """Deliver the webhooks a stopped server left pending (final jobs, flag still set)."""
        with self._runtime.store.db_engine.connect() as connection:
            pending = connection.execute(select(jobs.c.id).where(jobs.c.webhook_pending.is_(True))).scalars().all()
        for job_id in pending:
            log.warning("a webhook left pending by a stopped server is sent", extra={"fields": {"job_id": job_id}})
            self._schedule(job_id, uuid.uuid4().hex, attempt=1, delay=0.0)
        return len(pending)

    def close(self) -> None:
        with self._lock:
            timers, self._timers = list(self._timers.values()), {}
        for timer in timers:
            timer.cancel()
        if timers:
            log.warning("webhook retries dropped at shutdown", extra={"fields": {"count": len(timers)}})

    def _schedule(self, job_id: str, delivery_id: str, *, attempt: int, delay: float) -> None:
        if self._stopping.is_set():
            return
        if delay <= 0:
            self._start(job_id, delivery_id, attempt)
            return
        timer = threading.Timer(delay, self._start, args=(job_id, delivery_id, attempt))
        timer.daemon = True
        with self._lock:
            self._timers[delivery_id] = timer
        timer.start()

    def _start(self, job_id: str, delivery_id: str, attempt: int) -> None:
        with self._lock:
            self._timers.pop(delivery_id, None)
        if self._stopping.is_set():
            return
        try:
            self._submit(self._attempt, job_id, delivery_id, attempt)
        except RuntimeError:  # the pool is shutting down
            log.warning("webhook dropped at shutdown", extra={"fields": {"job_id": job_id, "delivery_id": delivery_id}})

    def _attempt(self, job_id: str, delivery_id: str, attempt: int) -> None:
        try:
            result = deliver_job_event(self._runtime, job_id, delivery_id=delivery_id, attempt=attempt)
        except Exception as error:  # noqa: BLE001 - e.g. the database briefly unavailable: retried like a failed POST
            result = DeliveryResult(outcome=DeliveryOutcome.RETRY, reason=f"{type(error).__name__} before sending")
        log_result(self._runtime, job_id, result, delivery_id=delivery_id, attempt=attempt)
        if result.outcome is DeliveryOutcome.RETRY and attempt < self._runtime.settings.webhook_max_attempts:
            wait = retry_wait_seconds(self._runtime.settings, attempt)
            self._schedule(job_id, delivery_id, attempt=attempt + 1, delay=wait)
            return
        self._settled(job_id)

    def _settled(self, job_id: str) -> None:
        """Delivered, dropped or given up: no server needs to send it again."""
        try:
            with self._runtime.store.db_engine.begin() as connection:
                connection.execute(jobs.update().where(jobs.c.id == job_id).values(webhook_pending=False))
        except Exception:  # the next server would send it again: at least once, as documented
            log.warning("a settled webhook could not be marked so", extra={"fields": {"job_id": job_id}}, exc_info=True)
