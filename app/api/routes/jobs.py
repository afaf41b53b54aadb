"""Jobs: POST /v1/jobs/verify queues the verification of an object in storage, POST /v1/jobs/sign
the signing of one into another, POST /v1/jobs/rendition the signing of a rendition into another
with its original's credentials as history (the renditions use case, app/usecases/renditions.py:
its checks made at submit, and again by the worker); GET /v1/jobs/{id} says how it went (status,
attempts, and the verdict and label once it succeeded: for a sign or rendition job, the signed
output's).

The source is named (JSON `"source": "s3://..."`) or sent with the request (multipart `file`:
app/api/job_requests.py); an uploaded source is staged in originmark's own objects until the job
is final (app/jobs/staging.py).

On PostgreSQL, jobs are queued with procrastinate (app/jobs) and run by `originmark worker`. On
SQLite (the embedded default) there is no queue: the server process runs them itself
(app/jobs/embedded.py), with the same rows, statuses and retries.

The job side (a defer-only procrastinate app, or the embedded pool) is set up on the first job
request of each server process; its tables come with the store's migrations (0005_jobs).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api import work
from app.api.deps import ReadKey, ServicesDep, SignKey, VerifyKey
from app.api.error_responses import ApiError, not_found, unprocessable
from app.api.identifiers import check_media_id, optional_media_id
from app.api.job_requests import JobRequest, openapi_request_body, read_job_request
from app.api.rendition_signing import renditions_use_case
from app.api.routes.renditions import original_ref
from app.api.services import Services
from app.api.uploads import ReceivedFile, UploadSpool
from app.api.wire import error_responses, verify_body
from app.jobs import records, staging
from app.jobs.deferral import RENDITION_TASK, SIGN_TASK, VERIFY_TASK, defer_task
from app.jobs.presentation import JobPresenter
from app.jobs.queue import build_queue_app, is_queue_database
from app.jobs.records import JobKind, JobRecord, RenditionParams, verify_job_params
from app.jobs.webhook_targets import MAX_URL_LENGTH, WebhookAllowlist, WebhookUrlRefused
from app.objects.access import ObjectAllowList
from app.objects.location import ObjectLocation
from app.objects.media import SourcePin
from app.settings import Settings
from app.spool import safe_filename
from app.usecases.object_access import tenant_allow_list
from app.usecases.signing import authorize
from app.wiring import own_objects_location
from signer.manifest import MAX_GENERATOR_TEXT, MAX_TITLE_TEXT, RENDITION_ACTIONS, rendition_actions

router = APIRouter(tags=["jobs"])

_setup_lock = threading.Lock()


_WEBHOOK_DOC = (
    "Optional: an https URL on a host the operator allowlisted, POSTed a signed job.succeeded or job.failed "
    "event once the job is final (see the README's Jobs section)."
)


class VerifyJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=2048, description="s3://bucket/key, or a file:// URI / path in the objects folder.")
    media_id: str | None = Field(default=None, description="Your id for the media; its label follows the verdict.")
    webhook_url: str | None = Field(default=None, max_length=4 * MAX_URL_LENGTH, description=_WEBHOOK_DOC)
    keep_manifest: bool = Field(
        default=False,
        strict=True,  # JSON true/false only, as the form fields (`"yes"` is a 422, not a guess)
        description="true: when the verdict is trusted or valid, keep the object's manifest store in your tenant's "
        "manifest repository (a `verified` entry only your tenant sees), as POST /v1/verify's keep_manifest; "
        "the job's result says `kept_manifest_id`.",
    )


class SignJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        max_length=2048, description="The media to sign: s3://bucket/key or an object in the objects folder."
    )
    destination: str = Field(
        max_length=2048, description="Where the signed copy goes (s3://bucket/key); never the source."
    )
    # The limits of every sign path (signer.manifest checks them again when the request is built).
    generator: str = Field(
        max_length=MAX_GENERATOR_TEXT, description="The AI system that generated the media (claim_generator)."
    )
    generator_version: str | None = Field(default=None, max_length=MAX_GENERATOR_TEXT)
    digital_source_type: str | None = Field(default=None, max_length=300)
    title: str | None = Field(default=None, max_length=MAX_TITLE_TEXT)
    media_id: str | None = None
    webhook_url: str | None = Field(default=None, max_length=4 * MAX_URL_LENGTH, description=_WEBHOOK_DOC)
    private: bool = Field(
        default=False,
        strict=True,  # JSON true/false only, as the form fields (`"yes"` is a 422, not a guess)
        description="true: the signed manifest's manifest repository entry is your tenant's only from the start, "
        "as POST /v1/sign's `private`.",
    )
    replace_credentials: bool = Field(
        default=False,
        strict=True,
        description="true: drop the Content Credentials the source already carries instead of keeping them as the "
        "signed copy's parentOf ingredient, as POST /v1/sign's `replace_credentials` (the key's signing policy "
        "must allow it).",
    )


class RenditionJobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        max_length=2048,
        description="The rendition (a resized, transcoded, converted or repackaged copy, image or video): "
        "s3://bucket/key or an object in the objects folder.",
    )
    destination: str = Field(
        max_length=2048, description="Where the signed rendition goes (s3://bucket/key); never the source."
    )
    media_id: str = Field(description="The rendition's own media id: its verdict and label are stored under it.")
    source_media_id: str | None = Field(default=None, description="The original's media id.")
    source_sha256: str | None = Field(
        default=None, description="The original's SHA-256 (hex), instead of its media id."
    )
    action: list[str] = Field(
        min_length=1,
        max_length=len(RENDITION_ACTIONS),
        description="What the rendition did: " + ", ".join(sorted(RENDITION_ACTIONS)) + "; anything else is a 422.",
    )
    allow_no_upstream: bool = Field(
        default=False,
        strict=True,
        description="true: sign a rendition of an original without Content Credentials (labelled 'no credentials "
        "upstream'); otherwise such a job is refused (409 no_upstream_credentials).",
    )
    webhook_url: str | None = Field(default=None, max_length=4 * MAX_URL_LENGTH, description=_WEBHOOK_DOC)


class JobQueue:
    """What the job routes use in one server process (built on first use): procrastinate on
    PostgreSQL (run by `originmark worker`), or the embedded pool on SQLite (app/jobs/embedded.py)."""

    def __init__(self, services: Services) -> None:
        from app.wiring import build_object_stores

        self.objects = build_object_stores(services.settings)
        self.presenter = JobPresenter(
            objects=self.objects,
            own_objects=own_objects_location(services.settings),
            private_folders=(services.settings.spool_dir,),
        )
        self.resolver = self.presenter.resolver
        self.app = None
        self.embedded = None
        if is_queue_database(services.settings.database_url):
            self.app = build_queue_app(services.settings)
        else:
            from app.jobs.embedded import EmbeddedJobs
            from app.wiring import build_job_runtime

            runtime = build_job_runtime(
                services.settings, store=services.store, worker_pools=services.worker_pools, objects=self.objects
            )
            self.embedded = EmbeddedJobs(runtime, threads=max(1, min(2, services.settings.verify_workers)))

    def enqueue(self, task_name: str, *, lock: str):
        if self.app is None:
            return lambda _connection, _job_id: None  # started after the commit: see started()
        return lambda connection, job_id: defer_task(self.app, connection, task_name, job_id=job_id, lock=lock)

    def started(self, submitted: records.Submitted) -> records.Submitted:
        if self.embedded is not None and submitted.created:
            self.embedded.start(submitted.job.id, submitted.job.kind)
        return submitted


def _queue(request: Request, services: Services) -> JobQueue:
    queue = getattr(request.app.state, "job_queue", None)
    if queue is None:
        with _setup_lock:
            queue = getattr(request.app.state, "job_queue", None)
            if queue is None:
                queue = JobQueue(services)
                request.app.state.job_queue = queue
    return queue


@router.post(
    "/v1/jobs/verify",
    summary="Queue the verification of an object in storage, or of media sent with the request",
    status_code=202,
    openapi_extra={"requestBody": openapi_request_body(VerifyJobRequest)},
    responses=error_responses(400, 401, 403, 413, 415, 422, 503, 507),
)
async def submit_verify_job(request: Request, key: VerifyKey, services: ServicesDep) -> JSONResponse:
    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        received = await read_job_request(request, VerifyJobRequest, spool=spool, settings=settings)
        body = received.body
        media_id = optional_media_id(body.media_id)
        params = verify_job_params(keep_manifest=body.keep_manifest)
        webhook_url = checked_webhook_url(settings, body.webhook_url)
        queue = await work.in_thread(_queue, request, services)
        owner = _Owner(tenant=key.tenant, key_id=key.key_id)
        if received.upload is None:
            allow_list = await work.in_thread(_allow_list, queue, services, owner)
            source = await work.in_thread(_stat_source, queue, services, allow_list, body.source)
        else:
            source = await work.in_thread(
                _staged_source,
                queue,
                services,
                owner,
                received.upload,
                kind=JobKind.VERIFY,
                media_id=media_id,
                params=params,
            )
        submitted = await work.in_thread(_submit_verify, queue, services, owner, source, media_id, webhook_url, params)
    return _accepted(submitted)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Owner:
    """Who submits: the key's tenant (whose job it is) and the key (re-read before each attempt)."""

    tenant: str
    key_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    """A job's source object and what the idempotency key takes from it."""

    location: ObjectLocation
    version: str | None  # the store's etag, or for a staged upload its content SHA-256
    size: int
    pin: SourcePin  # what a run must find there
    staged: bool = False  # uploaded with the request: held by originmark until the job is final


def _allow_list(queue: JobQueue, services: Services, owner: _Owner) -> ObjectAllowList:
    """The tenant's object prefixes as they are now (one read of its row per request)."""
    return tenant_allow_list(
        services.store,
        tenant=owner.tenant,
        resolver=queue.resolver,
        own_objects=own_objects_location(services.settings),
    )


def _allowed(queue: JobQueue, allow_list: ObjectAllowList, uri: str) -> ObjectLocation:
    """The location `uri` names, when the tenant may use it (403 object_not_allowed before any storage request)."""
    return allow_list.check(queue.objects.parse(uri).require_object())


def _stat_source(queue: JobQueue, services: Services, allow_list: ObjectAllowList, uri: str) -> _Source:
    location = _allowed(queue, allow_list, uri)
    info = queue.objects.stat(location)  # ObjectNotFound etc.: 4xx now, not a failed job later
    if info.size > services.settings.jobs_max_source_bytes:
        raise ApiError(413, "object_too_large", f"{uri} is {info.size} bytes, over the job limit")
    return _Source(location=location, version=info.etag, size=info.size, pin=SourcePin.of(info))


def _staged_source(
    queue: JobQueue,
    services: Services,
    owner: _Owner,
    upload: ReceivedFile,
    *,
    kind: JobKind,
    media_id: str | None,
    destination: str | None = None,
    params: dict | None = None,
) -> _Source:
    """Where the upload goes for workers to read (staged unless its job exists already)."""
    name = staging.upload_name(
        tenant=owner.tenant,
        kind=kind.value,
        content_sha256=upload.sha256,
        media_id=media_id,
        destination=destination,
        params=params,
    )
    source = _Source(
        location=staging.staged_location(own_objects_location(services.settings), name),
        version=upload.sha256,
        size=upload.size,
        pin=SourcePin(size=upload.size, sha256=upload.sha256),
        staged=True,
    )
    key = _idempotency_key(owner, kind, source, media_id=media_id, destination=destination, params=params)
    if records.find(services.store.db_engine, owner.tenant, key) is None:  # sent again: the job (and its source) exist
        staging.stage_upload(queue.objects, source.location, path=upload.path, size=upload.size)
    return source


def _idempotency_key(
    owner: _Owner,
    kind: JobKind,
    source: _Source,
    *,
    media_id: str | None,
    destination: str | None = None,
    params: dict | None = None,
) -> str:
    return records.idempotency_key(
        tenant=owner.tenant,
        kind=kind,
        source=source.location.uri,
        etag=source.version,
        size=source.size,
        media_id=media_id,
        destination=destination,
        params=params,
    )


def _accepted(submitted: records.Submitted) -> JSONResponse:
    return JSONResponse(
        {"job_id": submitted.job.id, "status": submitted.job.status.value, "created": submitted.created},
        status_code=202,
    )


def checked_webhook_url(settings: Settings, url: str | None) -> str | None:
    """The request's webhook_url when this server may call it; 422 otherwise (before anything is queued)."""
    from app.jobs.webhooks import webhooks_configured

    if url is None:
        return None
    if not webhooks_configured(settings):
        raise unprocessable(
            "webhooks_not_configured",
            "this server sends no webhooks (the operator has set no ORIGINMARK_WEBHOOK_MASTER_KEY); submit the job "
            "without webhook_url and poll GET /v1/jobs/{id}",
            field="webhook_url",
        )
    try:
        return WebhookAllowlist.from_settings(settings).check(url)
    except WebhookUrlRefused as refused:
        raise unprocessable("webhook_url_not_allowed", refused.message, field="webhook_url") from None


def _submit_verify(
    queue: JobQueue,
    services: Services,
    owner: _Owner,
    source: _Source,
    media_id: str | None,
    webhook_url: str | None,
    params: dict | None,
) -> records.Submitted:
    key = _idempotency_key(owner, JobKind.VERIFY, source, media_id=media_id, params=params)
    return queue.started(
        records.submit(
            services.store.db_engine,
            tenant=owner.tenant,
            kind=JobKind.VERIFY,
            source=source.location.uri,
            source_pin=source.pin.to_json(),
            media_id=media_id,
            key=key,
            params=params,
            key_id=owner.key_id,
            enqueue=queue.enqueue(VERIFY_TASK, lock=key),
            webhook_url=webhook_url,
        )
    )


@router.post(
    "/v1/jobs/sign",
    summary="Queue the signing of an object in storage (or of media sent with the request) into an object",
    status_code=202,
    openapi_extra={"requestBody": openapi_request_body(SignJobRequest)},
    responses=error_responses(400, 401, 403, 413, 415, 422, 503, 507),
)
async def submit_sign_job(request: Request, key: SignKey, services: ServicesDep) -> JSONResponse:
    from app.jobs.tasks import generation_request

    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        received = await read_job_request(request, SignJobRequest, spool=spool, settings=settings)
        body = received.body
        media_id = optional_media_id(body.media_id)
        title = body.title
        if title is None and received.upload is not None:
            # Else the engine would title the signed copy with the staged object's name (a hash).
            title = safe_filename(received.upload.client_filename, fallback="upload")
        params: dict[str, str | bool | None] = {
            "generator": body.generator,
            "generator_version": body.generator_version,
            "digital_source_type": body.digital_source_type,
            "title": title,
        }
        if body.private:
            params["private"] = True  # only when asked: a shared sign job's idempotency key is as before
        if body.replace_credentials:
            params["replace_credentials"] = True  # likewise: a job that keeps them has the same key as before
        # Checked now (422 for a bad request, 403 signing_policy), so a refused job is never queued.
        authorize(key, generation_request(params))
        webhook_url = checked_webhook_url(settings, body.webhook_url)
        queue = await work.in_thread(_queue, request, services)
        owner = _Owner(tenant=key.tenant, key_id=key.key_id)
        submitted = await _submit_into_destination(
            queue, services, owner, received, JobKind.SIGN, body.destination, media_id, params, webhook_url
        )
    return _accepted(submitted)


async def _submit_into_destination(
    queue: JobQueue,
    services: Services,
    owner: _Owner,
    received: JobRequest[Any],
    kind: JobKind,
    destination_uri: str,
    media_id: str | None,
    params: dict,
    webhook_url: str | None,
) -> records.Submitted:
    """A sign or rendition job queued: its destination and source within the tenant's prefixes (403
    object_not_allowed before any storage request), a named source looked at now (4xx, not a failed
    job later) and never the destination, an uploaded one staged."""
    from app.objects.errors import InvalidObjectUri

    allow_list = await work.in_thread(_allow_list, queue, services, owner)
    destination = await work.in_thread(_allowed, queue, allow_list, destination_uri)  # realpath: a syscall
    if received.upload is None:
        source = await work.in_thread(_stat_source, queue, services, allow_list, received.body.source)
        # Compared after resolution: a relative key and a file:// URI of the same file are one object.
        if queue.resolver.resolve(destination) == queue.resolver.resolve(source.location):
            raise InvalidObjectUri(
                f"{destination_uri} is the source itself; originmark never overwrites an original", uri=destination_uri
            )
    else:
        source = await work.in_thread(
            _staged_source,
            queue,
            services,
            owner,
            received.upload,
            kind=kind,
            media_id=media_id,
            destination=destination.uri,
            params=params,
        )
    return await work.in_thread(
        _submit_with_destination, queue, services, owner, kind, source, destination, media_id, params, webhook_url
    )


_TASKS = {JobKind.SIGN: SIGN_TASK, JobKind.RENDITION: RENDITION_TASK}


def _submit_with_destination(
    queue: JobQueue,
    services: Services,
    owner: _Owner,
    kind: JobKind,
    source: _Source,
    destination: ObjectLocation,
    media_id: str | None,
    params: dict,
    webhook_url: str | None,
) -> records.Submitted:
    idempotency = _idempotency_key(owner, kind, source, media_id=media_id, destination=destination.uri, params=params)
    return queue.started(
        records.submit(
            services.store.db_engine,
            tenant=owner.tenant,
            kind=kind,
            source=source.location.uri,
            source_pin=source.pin.to_json(),
            media_id=media_id,
            key=idempotency,
            destination=destination.uri,
            params=params,
            key_id=owner.key_id,
            enqueue=queue.enqueue(_TASKS[kind], lock=idempotency),
            webhook_url=webhook_url,
        )
    )


@router.post(
    "/v1/jobs/rendition",
    summary="Queue the signing of a rendition (an object in storage, or sent with the request) with its original's "
    "credentials as history, into an object",
    status_code=202,
    openapi_extra={"requestBody": openapi_request_body(RenditionJobRequest)},
    responses=error_responses(400, 401, 403, 404, 409, 413, 415, 422, 503, 507),
)
async def submit_rendition_job(request: Request, key: SignKey, services: ServicesDep) -> JSONResponse:
    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        received = await read_job_request(request, RenditionJobRequest, spool=spool, settings=settings)
        body = received.body
        media_id = check_media_id(body.media_id)
        ref = original_ref(body.source_media_id, body.source_sha256)
        params = RenditionParams(
            source_media_id=ref.media_id,
            source_sha256=ref.sha256,
            actions=rendition_actions(tuple(body.action)),  # 422 invalid_request: the closed list
            allow_no_upstream=body.allow_no_upstream,
            # Else the engine would title the signed copy with the staged object's name (a hash).
            title=None
            if received.upload is None
            else safe_filename(received.upload.client_filename, fallback="upload"),
        )
        # The renditions use case's checks, now (404 original_not_found, 409, 403 signing_policy, 422), as
        # POST /v1/renditions makes them: a refused job is never queued. Again before every attempt.
        use_case = renditions_use_case(services)
        allow = body.allow_no_upstream
        await work.in_thread(use_case.prepare, key, ref, allow_no_upstream=allow, media_ids=[media_id])
        webhook_url = checked_webhook_url(settings, body.webhook_url)
        queue = await work.in_thread(_queue, request, services)
        owner = _Owner(tenant=key.tenant, key_id=key.key_id)
        submitted = await _submit_into_destination(
            queue,
            services,
            owner,
            received,
            JobKind.RENDITION,
            body.destination,
            media_id,
            params.to_json(),
            webhook_url,
        )
    return _accepted(submitted)


@router.get("/v1/jobs/{job_id}", summary="A job's status and result", responses=error_responses(401, 403, 404, 503))
async def get_job(job_id: str, request: Request, key: ReadKey, services: ServicesDep) -> JSONResponse:
    if len(job_id) != 32 or not all(c in "0123456789abcdef" for c in job_id):
        raise not_found("no job has this id")
    queue = await work.in_thread(
        _queue, request, services
    )  # the jobs table exists (and left jobs restart) from here on
    # The key's tenant's job only: another tenant's id answers exactly like an unknown one.
    job = await work.in_thread(records.owned_by, services.store.db_engine, key.tenant, job_id)
    if job is None:
        raise not_found("no job has this id")
    result = await work.in_thread(_result, services, queue, job)
    return JSONResponse(_job_body(queue, job, result))


def _result(services: Services, queue: JobQueue, job: JobRecord) -> dict[str, Any] | None:
    if job.status is not records.JobStatus.SUCCEEDED or job.sha256 is None:
        return None
    stored = services.store.verdict_by_sha256(job.tenant, job.sha256)
    if stored is None:
        return None
    kept = services.verification.kept_manifest_id(job.tenant, stored.verdict) if job.keeps_manifest else None
    result = json.loads(
        verify_body(
            media_id=job.media_id, verdict=stored.verdict, label=stored.label, cached=False, kept_manifest_id=kept
        )
    )
    if job.kind in (JobKind.SIGN, JobKind.RENDITION) and job.destination is not None:
        result["destination"] = queue.presenter.destination(job)  # the verdict and label are the output's
    return result


def _job_body(queue: JobQueue, job: JobRecord, result: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "job_id": job.id,
        "kind": job.kind.value,
        "status": job.status.value,
        "attempts": job.attempts,
        "source": queue.presenter.source(job),
        "media_id": job.media_id,
        "destination": queue.presenter.destination(job),
        "created_at": job.created_at.isoformat(),
        "updated_at": job.updated_at.isoformat(),
        "result": None,
        "error": None,
        "webhook": job.webhook_url is not None,  # the URL itself is not shown: it may carry the receiver's token
    }
    if result is not None:
        result.pop("cached", None)
        body["result"] = result
    if job.error_code is not None:
        body["error"] = {"code": job.error_code, "message": queue.presenter.error_message(job)}
    return body
