"""What a worker does with one job: verify the object, store the verdict, record the outcome.

The verdict and the job's `succeeded` commit in one transaction (save_verdict's
`in_same_transaction`). A failed attempt is raised again for procrastinate to retry; the last one
marks the job `failed` with the reason.

A sign or verify job with a media id, for a tenant with feed thumbnails on, then makes the item's
thumbnail (app/usecases/thumbnails.py, the rules of the routes' too): the file is staged while the
job's copy of it exists (the verified source; the signed output as read back from its
destination), and the thumbnail made once the job has succeeded, in the job's thread, with the
worker pools as the job's own engine calls use them (_JobThumbnail). Whatever goes wrong there is
logged and changes nothing of the job. A rendition job makes none, as POST /v1/renditions makes
none: its media id is the rendition's own.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.jobs import records, staging
from app.jobs.runtime import JobRun, JobRuntime, JobWorkerPools
from app.objects.errors import ObjectDestinationChanged, ObjectStoreError
from app.objects.media import verify_object
from app.objects.transfer import spool_folder
from app.settings import Settings
from app.usecases.active_key import require_active
from app.usecases.errors import KeyRevoked, RenditionChangesLabel, UseCaseError, VerifierStopped
from app.usecases.signing import SignedOutput, SignRequest, accepted_output, authorize
from app.usecases.verification import VerifyRequest
from signer.manifest import PriorCredentials

log = logging.getLogger("originmark.jobs")

_OBJECT_ERROR_CODES = {
    "InvalidObjectUri": "invalid_object_uri",
    "ObjectNotFound": "object_not_found",
    "ObjectAccessDenied": "object_access_denied",
    "ObjectTooLarge": "object_too_large",
    "ObjectStoreUnavailable": "object_store_unavailable",
    "ObjectStorageFull": "insufficient_storage",
    "ObjectSourceChanged": "object_source_changed",
    "ObjectChangedSinceSubmit": "source_changed",
    "ObjectDestinationChanged": "destination_changed",
    "ObjectNotAllowed": "object_not_allowed",
}


class VerificationStopped(Exception):
    """The verifier's worker was stopped (time or memory limit): no verdict to store; retried."""


def run_verify_job(runtime: JobRuntime, job_id: str, *, previous_attempts: int) -> JobRun:
    return _run_attempt(runtime, job_id, previous_attempts=previous_attempts, work=_verify)


def _verify(runtime: JobRuntime, job: records.JobRecord, thumbnail: _JobThumbnail) -> None:
    settings = runtime.settings
    # Before every attempt: the key and the tenant's object prefixes as they are now.
    key = None
    if job.key_id is not None:  # None: an operator's batch, or a job from before keys were recorded
        key = require_active(runtime.store.key(job.key_id))
    _check_objects_allowed(runtime, job)

    def record(copy_path: Any, verdict: Any) -> None:
        # While the copy exists: a file without valid credentials is looked up by content.
        if not verdict.sha256:
            raise VerificationStopped(f"verifying {job.source} was stopped (state {verdict.state.value})")
        runtime.verification.record(
            VerifyRequest(
                tenant=job.tenant, sha256=verdict.sha256, media_id=job.media_id, keep_manifest=job.keeps_manifest
            ),
            verdict,
            _label(verdict),
            path=copy_path,
            in_same_transaction=lambda connection: records.mark_succeeded(
                connection, job.id, sha256=verdict.sha256, on_final=_webhook_on_final
            ),
        )
        # Recorded (the job succeeded): the file kept for the item's feed thumbnail, if wanted.
        thumbnail.stage(key, job.media_id, copy_path, verdict.sha256)

    verify_object(
        store=runtime.objects,
        verifier=runtime.worker_pools.verifier,
        uri=job.source,
        spool_dir=settings.spool_dir,
        max_bytes=settings.jobs_max_source_bytes,
        source_pin=_pin(job),
        with_copy=record,
    )


def runner_for(kind: records.JobKind) -> Callable[..., JobRun]:
    """The task function of a job kind: (runtime, job_id, previous_attempts=) -> JobRun."""
    runners: dict[records.JobKind, Callable[..., JobRun]] = {
        records.JobKind.VERIFY: run_verify_job,
        records.JobKind.SIGN: run_sign_job,
        records.JobKind.RENDITION: run_rendition_job,
    }
    return runners[kind]


def _run_attempt(
    runtime: JobRuntime,
    job_id: str,
    *,
    previous_attempts: int,
    work: Callable[[JobRuntime, records.JobRecord, _JobThumbnail], None],
) -> JobRun:
    """One attempt of any job: marked running (skipped when it already succeeded), `work` done (it
    commits the job's `succeeded` with what it records), a failure recorded on the row and raised
    for a retry (or the job failed for good: refused, or its last attempt), a staged source released
    once the job is final, and the output of a job failed for good taken back (_withdraw_output);
    then the item's feed thumbnail made, when `work` staged a file for it."""
    db_engine = runtime.store.db_engine
    job = records.start_attempt(db_engine, job_id)
    if job is None:
        log.info("job already done, skipped", extra={"fields": {"job_id": job_id}})
        return JobRun.SKIPPED_ALREADY_DONE
    thumbnail = _JobThumbnail(runtime)
    try:
        work(runtime, job, thumbnail)
    except Exception as error:
        thumbnail.discard()
        if _attempt_failed(db_engine, job_id, error, previous_attempts=previous_attempts, settings=runtime.settings):
            _release_staged_source(runtime, job)
            _withdraw_output(runtime, job_id)
            if _refused(error):
                return JobRun.REFUSED
        raise
    _release_staged_source(runtime, job)
    thumbnail.make()
    return JobRun.FINISHED


class _JobThumbnail:
    """The item's feed thumbnail of one job attempt (FeedThumbnails: the routes' rules): `stage`d
    while the job's copy of the file exists, made once the job has succeeded, discarded when the
    attempt fails. Never raises: a thumbnail is not the job's outcome."""

    def __init__(self, runtime: JobRuntime) -> None:
        self._runtime = runtime
        self._staged: Any = None

    def _use_case(self) -> Any:
        from app.wiring import build_feed_thumbnails

        return build_feed_thumbnails(
            self._runtime.store, settings=self._runtime.settings, renditions=self._runtime.renditions
        )

    def stage(self, key: Any, media_id: str | None, path: Path, sha256: str) -> None:
        if media_id is not None and key is not None and self._staged is None:
            self._staged = self._use_case().stage(key, media_id, lambda: path, sha256)

    def discard(self) -> None:
        if self._staged is not None:
            self._use_case().discard(self._staged)
            self._staged = None

    def make(self) -> None:
        if self._staged is not None:
            self._use_case().make(_PoolEngine(self._runtime.worker_pools), self._staged)
            self._staged = None


class _PoolEngine:
    """A thumbnail's engine calls (app/usecases/thumbnails.ThumbnailEngine) straight to the worker
    pools, as the job's own signing and verifying make them: the job's thread waits for them."""

    def __init__(self, pools: JobWorkerPools) -> None:
        self._pools = pools

    def verify_manifest_store(self, path: Path) -> Any:
        return self._pools.verifier.verify_manifest_store(path)

    def sign_file(self, *, source: Path, destination: Path, request: Any) -> Any:
        return self._pools.signer.sign_file(source=source, destination=destination, request=request)

    def verify_file(self, path: Path) -> Any:
        return self._pools.verifier.verify_file(path)

    def thumbnail_of(self, path: Path) -> Any:
        return self._pools.verifier.thumbnail_of(path)


def _check_objects_allowed(runtime: JobRuntime, job: records.JobRecord) -> None:
    """ObjectNotAllowed when the tenant's prefixes no longer cover the job's objects (a staged
    upload is originmark's own and always readable by its job)."""
    from app.objects.access import LocationResolver
    from app.usecases.object_access import tenant_allow_list
    from app.wiring import own_objects_location

    if job.key_id is None:
        return  # an operator's batch: the operator's own command, not bound by a tenant's prefixes
    own_objects = own_objects_location(runtime.settings)
    allow_list = tenant_allow_list(
        runtime.store,
        tenant=job.tenant,
        resolver=LocationResolver(local=runtime.objects.local),
        own_objects=own_objects,
    )
    source = runtime.objects.parse(job.source)
    if not (job.source_pin or {}).get("sha256") or not staging.is_staged(own_objects, source):
        allow_list.check(source)
    if job.destination is not None:
        allow_list.check(runtime.objects.parse(job.destination))


def _pin(job: records.JobRecord) -> Any:
    from app.objects.media import SourcePin

    return None if job.source_pin is None else SourcePin.from_json(job.source_pin)  # jobs from before 0007: none


def generation_request(params: dict) -> Any:
    """The signer's GenerationRequest from a sign job's params (checked at submit already)."""
    from signer.manifest import DigitalSourceType, GenerationRequest

    source_type = params.get("digital_source_type")
    return GenerationRequest(
        generator_name=params["generator"],
        generator_version=params.get("generator_version"),
        digital_source_type=DigitalSourceType.from_text(source_type) if source_type else None,
        title=params.get("title"),
        replace_credentials=params.get("replace_credentials") is True,
    )


def run_sign_job(runtime: JobRuntime, job_id: str, *, previous_attempts: int) -> JobRun:
    """Sign the source into the destination; the audit entry, the output's verdict and the job's
    `succeeded` commit together. A job already succeeded is not signed again (at-least-once
    delivery). Nor is one whose earlier attempt died after signing: the signature is recorded on
    the job (SignedOutput) before the output is uploaded, and a retry that finds exactly that
    output at the destination finishes the job with it. (An attempt that died before its upload
    completed left nothing at the destination: S3 and the local store write all or nothing; the
    retry signs again and only that signature is ever delivered.)"""
    return _run_attempt(runtime, job_id, previous_attempts=previous_attempts, work=_sign)


def _sign(runtime: JobRuntime, job: records.JobRecord, thumbnail: _JobThumbnail) -> None:
    assert job.destination is not None and job.params is not None
    request = generation_request(job.params)
    # Before every attempt: the key as it is now. Revoked, or its policy no longer allows the
    # claim, and the job fails without signing (key_revoked / signing_policy).
    key = runtime.store.key(job.key_id) if job.key_id else None
    authorize(key, request)
    _check_objects_allowed(runtime, job)

    def keep_for_thumbnail(copy_path: Path, verdict: Any) -> None:
        # The signed output (this attempt's, as verified before its upload; or an earlier attempt's,
        # read back from the destination), kept for the item's feed thumbnail (made once the
        # signature is recorded) while this copy of it exists.
        if verdict.sha256:
            thumbnail.stage(key, job.media_id, copy_path, verdict.sha256)

    signed, verdict = _signed_at_destination(runtime, job, request, with_copy=keep_for_thumbnail)
    runtime.signing.record(
        SignRequest(
            tenant=job.tenant, key_id=job.key_id, generation=request, media_id=job.media_id, private=job.signs_private
        ),
        _use_case_output(signed),
        verdict,
        in_same_transaction=_succeeded(job, verdict),
    )


def run_rendition_job(runtime: JobRuntime, job_id: str, *, previous_attempts: int) -> JobRun:
    """Sign the rendition at the source into the destination with its original's credentials as
    history (app/usecases/renditions.py), as POST /v1/renditions signs one: the same checks, before
    every attempt (the key, the original and its kept store, the key's policy on the label, the media
    id), the original's store validated again, the rendition refused when it carries credentials of
    its own or cannot be read, its output verified; then recorded (under its media id, refused when
    its label's kind is not its original's) with the job's `succeeded`. Delivered once, as a sign
    job's output (run_sign_job)."""
    return _run_attempt(runtime, job_id, previous_attempts=previous_attempts, work=_rendition)


def _rendition(runtime: JobRuntime, job: records.JobRecord, _thumbnail: _JobThumbnail) -> None:
    from app.usecases.renditions import OriginalRef, Renditions, check_upstream

    assert job.destination is not None and job.params is not None and job.media_id is not None
    params = records.RenditionParams.from_json(job.params)
    renditions = runtime.renditions
    key = runtime.store.key(job.key_id) if job.key_id else None
    ref = OriginalRef(media_id=params.source_media_id, sha256=params.source_sha256)
    original = renditions.prepare(key, ref, allow_no_upstream=params.allow_no_upstream, media_ids=[job.media_id])
    generation = renditions.generation(original, actions=params.actions, title=params.title)
    _check_objects_allowed(runtime, job)
    verifier = runtime.worker_pools.verifier
    with spool_folder(runtime.settings.spool_dir) as folder:
        check_upstream(_PoolEngine(runtime.worker_pools), original, folder)

    def check_rendition(path: Path, sha256: str) -> None:
        # The verifier's read, not the signer's: unreadable_media / prior_credentials_conflict, as the route says.
        # A verifier stopped at a limit: VerifierStopped, retried; a file over its size limit: unreadable_media.
        verdict = verifier.verify_file(path, known_sha256=sha256)
        Renditions.check_rendition_file(verdict, name=f"the rendition ({job.source})")

    # A rendition label kind other than its original's (RenditionChangesLabel) fails the job for good:
    # its output, uploaded by then, is taken back (_withdraw_output), never served unrecorded.
    signed, verdict = _signed_at_destination(
        runtime, job, generation, check_source=check_rendition, original_sha256=original.verdict.sha256
    )
    renditions.record(
        SignRequest(
            tenant=job.tenant,
            key_id=job.key_id,
            generation=generation,
            media_id=job.media_id,
            private=original.private,  # unless the original's store is public, its copy in the rendition's is not
        ),
        _use_case_output(signed),
        verdict,
        original,
        in_same_transaction=_succeeded(job, verdict),
    )


def _signed_at_destination(
    runtime: JobRuntime,
    job: records.JobRecord,
    request: Any,
    *,
    check_source: Callable[[Path, str], None] | None = None,
    original_sha256: str | None = None,
    with_copy: Callable[[Path, Any], None] | None = None,
) -> tuple[records.SignedOutput, Any]:
    """The source signed into the destination, and the output's verdict; or an earlier attempt's
    output found there (made from the same original, for a rendition: `original_sha256`).

    The output is verified before it is uploaded (UnsignableMedia: nothing uploaded) and its
    signature recorded on the job; so the verdict recorded is of the bytes this job made, not of
    whatever the destination holds. Once uploaded, the destination must still hold exactly those
    bytes (ObjectDestinationChanged otherwise: another writer replaced them, and the job records
    nothing of a file it did not make). `with_copy(path, verdict)`: run on a local copy of the
    output (the one verified before its upload, or an earlier attempt's read back) while it exists."""
    from app.objects.media import SignedFile, sign_object

    assert job.destination is not None
    delivered = _already_delivered(runtime, job, original_sha256=original_sha256, with_copy=with_copy)
    if delivered is not None:
        log.info(
            "an earlier attempt's signed output is at the destination: not signed again",
            extra={"fields": {"job_id": job.id}},
        )
        return delivered
    settings = runtime.settings
    recorded: list[tuple[records.SignedOutput, Any]] = []  # the output and its verdict, before the upload

    def verified_then_recorded(made: SignedFile) -> None:
        verdict = runtime.worker_pools.verifier.verify_file(made.path, known_sha256=made.output_sha256)
        signed_verdict = _signed_verdict(job, verdict)
        output = dataclasses.replace(_signed_output(runtime, made), original_sha256=original_sha256)
        records.record_signed_output(runtime.store.db_engine, job.id, output)
        recorded.append((output, signed_verdict))
        if with_copy is not None:
            with_copy(made.path, verdict)

    signed = sign_object(
        store=runtime.objects,
        signer=runtime.worker_pools.signer,
        source=job.source,
        destination=job.destination,
        request=request,
        spool_dir=settings.spool_dir,
        max_bytes=settings.jobs_max_source_bytes,
        before_upload=verified_then_recorded,
        source_pin=_pin(job),
        check_source=check_source,
    )
    at_destination = _destination_sha256(runtime, job.destination)
    if at_destination != signed.output_sha256:
        raise ObjectDestinationChanged(
            f"{job.destination} was replaced right after this job wrote its signed output there (it now holds "
            f"SHA-256 {at_destination or 'nothing'}): nothing recorded; submit the job again once nothing else writes there",
            uri=job.destination,
        )
    return recorded[0]


def _destination_sha256(runtime: JobRuntime, destination: str) -> str | None:
    """The SHA-256 of what the destination holds now (None: nothing)."""
    from app.objects.errors import ObjectNotFound
    from app.objects.transfer import local_copy

    try:
        with local_copy(runtime.objects, destination, runtime.settings.spool_dir) as copy:
            return copy.sha256
    except ObjectNotFound:
        return None


def _withdraw_output(runtime: JobRuntime, job_id: str) -> None:
    """A job failed for good: its signed output, when the destination still holds exactly it (the
    signature recorded on the job), is deleted, so that a signature never recorded is never served
    (an attempt that uploaded and then failed: the database gone, say, before a refused retry).
    Anything else there is someone else's object and stays. Never fails the job: logged."""
    try:
        job = records.get(runtime.store.db_engine, job_id)
        if job is None or job.destination is None or job.signed_output is None:
            return  # a verify job, or nothing was signed
        if _destination_sha256(runtime, job.destination) != job.signed_output.output_sha256:
            return
        # (a writer between this read and the delete would lose its object: S3 has no delete-if-match here)
        runtime.objects.delete(runtime.objects.parse(job.destination))
        log.info(
            "the failed job's signed output was taken back from its destination", extra={"fields": {"job_id": job_id}}
        )
    except Exception:
        log.warning(
            "the failed job's signed output could not be taken back from its destination",
            extra={"fields": {"job_id": job_id}},
            exc_info=True,
        )


def _signed_output(runtime: JobRuntime, signed: Any) -> records.SignedOutput:
    """From app.objects.media's SignedFile (before the upload) or SignedObject (after)."""
    result = signed.result
    return records.SignedOutput(
        output_sha256=signed.output_sha256,
        source_sha256=signed.source_sha256,
        manifest_label=result.manifest_label,
        certificate_fingerprint=result.certificate_fingerprint or runtime.worker_pools.certificate_fingerprint,
        manifest_store=result.manifest_store,
        fingerprint=result.soft_binding,
        prior_credentials=result.prior_credentials.value,
        replaced_manifest_label=result.replaced_manifest_label,
    )


def _already_delivered(
    runtime: JobRuntime,
    job: records.JobRecord,
    *,
    original_sha256: str | None,
    with_copy: Callable[[Path, Any], None] | None = None,
) -> tuple[records.SignedOutput, Any] | None:
    """The recorded signature and its verdict, when the destination holds exactly that output (for
    a rendition, made from the original it has now: otherwise signed again, the new output replacing it;
    `with_copy`: as verify_object's, run on the destination's copy when it is that output)."""
    from app.objects.errors import ObjectNotFound

    recorded = job.signed_output
    if recorded is None:
        return None
    if recorded.original_sha256 != original_sha256:
        log.info(
            "an earlier attempt's output was made from another original: signed again",
            extra={"fields": {"job_id": job.id}},
        )
        return None
    assert job.destination is not None

    def if_that_output(copy_path: Path, verdict: Any) -> None:
        if with_copy is not None and verdict.sha256 == recorded.output_sha256:
            with_copy(copy_path, verdict)

    try:
        verified = verify_object(
            store=runtime.objects,
            verifier=runtime.worker_pools.verifier,
            uri=job.destination,
            spool_dir=runtime.settings.spool_dir,
            with_copy=if_that_output,
        )
    except ObjectNotFound:
        return None
    if verified.sha256 != recorded.output_sha256:
        return None  # never uploaded (or replaced since): sign again
    return recorded, _signed_verdict(job, verified.verdict)


def _signed_verdict(job: records.JobRecord, verdict: Any) -> Any:
    if not verdict.sha256:
        raise VerificationStopped(f"verifying the signed {job.destination} was stopped (state {verdict.state.value})")
    return accepted_output(verdict)  # UnsignableMedia unless it verifies


def _use_case_output(signed: records.SignedOutput) -> SignedOutput:
    """The signature as recorded on the job, as the sign use case records it."""
    return SignedOutput(
        input_sha256=signed.source_sha256,
        output_sha256=signed.output_sha256,
        manifest_label=signed.manifest_label,
        certificate_fingerprint=signed.certificate_fingerprint,
        manifest_store=signed.manifest_store,
        fingerprint=signed.fingerprint,
        prior_credentials=None if signed.prior_credentials is None else PriorCredentials(signed.prior_credentials),
        replaced_manifest_label=signed.replaced_manifest_label,
    )


def _succeeded(job: records.JobRecord, verdict: Any) -> Callable[[Any], None]:
    """The job's `succeeded`, written in the transaction that records the signature and the output's verdict."""
    return lambda connection: records.mark_succeeded(
        connection, job.id, sha256=verdict.sha256, on_final=_webhook_on_final
    )


def _webhook_on_final(connection: Any, job_id: str) -> None:
    """A job with a webhook became final: its delivery is queued in that same transaction."""
    from app.jobs.webhooks import on_job_final

    on_job_final(connection, job_id)


def _release_staged_source(runtime: JobRuntime, job: records.JobRecord) -> None:
    """A final job's source that was uploaded with its request is deleted (app/jobs/staging.py).

    Never fails the job: an object left behind is logged (and a lifecycle rule can expire it)."""
    from app.jobs.staging import release_upload
    from app.wiring import own_objects_location

    try:
        source = runtime.objects.parse(job.source)
        if release_upload(runtime.objects, own_objects_location(runtime.settings), source):
            log.info("the job's uploaded source was deleted", extra={"fields": {"job_id": job.id}})
    except Exception:
        log.warning(
            "the job's uploaded source could not be deleted", extra={"fields": {"job_id": job.id}}, exc_info=True
        )


def _refused(error: Exception) -> bool:
    """A failure no retry can mend: the job fails at once (JobRun.REFUSED) instead of being retried."""
    from app.objects.errors import ObjectChangedSinceSubmit, ObjectDestinationChanged, ObjectNotAllowed
    from app.usecases.errors import (
        NoUpstreamCredentials,
        OriginalNotFound,
        RenditionFileRefused,
        RenditionMediaIdTaken,
        UnsignableMedia,
        UpstreamCredentialsUnusable,
        UpstreamStoreTooLarge,
    )
    from signer.errors import PriorCredentialsConflict, PriorCredentialsUnusable
    from signer.policy import SigningNotPermitted

    return isinstance(
        error,
        KeyRevoked
        | SigningNotPermitted
        | ObjectChangedSinceSubmit
        | ObjectNotAllowed
        | ObjectDestinationChanged  # another writer's object there: a retry would overwrite it
        | UnsignableMedia  # our own output does not verify: signing the same source again makes the same
        | PriorCredentialsUnusable  # the source's own credentials: the same on every attempt
        | PriorCredentialsConflict
        # A rendition's original as the tenant stored it, and the rendition's own bytes: a retry reads the same.
        | OriginalNotFound
        | NoUpstreamCredentials
        | UpstreamCredentialsUnusable
        | UpstreamStoreTooLarge
        | RenditionMediaIdTaken
        | RenditionChangesLabel
        | RenditionFileRefused,
    )


def _attempt_failed(
    db_engine: Any, job_id: str, error: Exception, *, previous_attempts: int, settings: Settings
) -> bool:
    """Record the failed attempt; True when it was the last (the job is now failed)."""
    from signer.errors import SigningError
    from signer.policy import SigningNotPermitted

    final = previous_attempts + 1 >= settings.jobs_max_attempts or _refused(error)
    if isinstance(error, ObjectStoreError):
        code = _OBJECT_ERROR_CODES.get(type(error).__name__, "object_store_error")
    elif isinstance(error, VerificationStopped | VerifierStopped):  # the route's verifier_busy; a job's own name
        code = "verification_stopped"
    elif isinstance(error, UseCaseError):
        code = error.code  # unsignable_media, key_revoked: the same codes as the HTTP answers
    elif isinstance(error, SigningNotPermitted):
        code = "signing_policy"
    elif isinstance(error, SigningError):
        code = "signing_error"
    else:
        code = "job_error"
    records.mark_attempt_failed(
        db_engine,
        job_id,
        final=final,
        code=code,
        message=str(error) or type(error).__name__,
        on_final=_webhook_on_final,
    )
    log.warning(
        "job attempt failed",
        extra={"fields": {"job_id": job_id, "attempt": previous_attempts + 1, "final": final, "error_code": code}},
    )
    return final


def _label(verdict: Any) -> Any:
    from verifier.label import label_for

    return label_for(verdict)
