"""POST /v1/verify: the verdict and label for an upload, stored under its SHA-256 and the caller's
tenant's media id (the rules are the use case's: app/usecases/verification.py).

The same bytes verified under the same trust configuration (see
`app.worker_pools.trust_fingerprint`) are answered from the store (`"cached": true`)
unless `?refresh=true`.

Media types: bytes that are no media type the verifier recognises get 415 (listing what
is recognised) and nothing is stored. A recognised type that is corrupted or over a limit
is a verdict (200, state `error` or `invalid`) and is stored like any other, except when a
worker had to be stopped (time or memory limit): that verdict is returned but not stored,
so the next upload of the same bytes is tried again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.background import BackgroundTask

from app.api import feed_thumbnails, work
from app.api.deps import ServicesDep, VerifyKey
from app.api.error_responses import unsupported_media
from app.api.identifiers import MEDIA_ID_PATTERN, form_flag, optional_media_id
from app.api.uploads import FormSpec, UploadSpool, raw_body_openapi, receive_upload
from app.api.wire import JSON_MEDIA_TYPE, VerifyResponse, error_responses, verify_body
from app.usecases.verification import VerifyRequest
from signer.formats import SUPPORTED_FORMAT_NAMES
from verifier.media_type import sniff_media_type

router = APIRouter(tags=["verify"])

VERIFY_FORM = FormSpec(
    file_fields=frozenset({"file"}),
    text_fields=frozenset({"media_id", "keep_manifest"}),
    raw_file_field="file",
    route_parameters=frozenset({"refresh"}),
)
# What verifier.media_type recognises: every format originmark signs, plus these.
VERIFIABLE_FORMAT_NAMES = (*SUPPORTED_FORMAT_NAMES, "JPEG XL", "C2PA manifest store (.c2pa)")

_FIELDS: dict[str, dict[str, Any]] = {
    "media_id": {"type": "string", "pattern": MEDIA_ID_PATTERN},
    "keep_manifest": {
        "type": "string",
        "enum": ["true", "false"],
        "default": "false",
        "description": "`true`: when the verdict is trusted or valid, keep the file's manifest store "
        "in your tenant's manifest repository (a `verified` entry only your tenant sees; "
        "`kept_manifest_id` in the answer). An invalid credential is never kept.",
    },
}
_OPENAPI = raw_body_openapi(
    file_description="The media to verify.", required_fields=(), fields=_FIELDS, file_field="file"
)


@router.post(
    "/v1/verify",
    summary="Verify an upload's Content Credentials",
    response_class=Response,
    openapi_extra=_OPENAPI,
    responses={200: {"model": VerifyResponse}, **error_responses(400, 401, 403, 413, 415, 422, 503, 507)},
)
async def verify(
    request: Request,
    key: VerifyKey,
    services: ServicesDep,
    refresh: Annotated[bool, Query(description="Verify again even if these bytes were verified before.")] = False,
) -> Response:
    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        # A raw body is held in memory (within the process's budget): bytes verified before are
        # answered from the store, and others verified by a worker reading them in shared memory,
        # without ever touching the disk.
        form = await receive_upload(
            request, spec=VERIFY_FORM, spool=spool, max_bytes=settings.max_upload_bytes, hold_in=services.held_bodies
        )
        upload = form.required_upload("file")
        wanted = VerifyRequest(
            tenant=key.tenant,
            sha256=upload.sha256,
            media_id=optional_media_id(form.text("media_id")),
            refresh=refresh,
            keep_manifest=form_flag(form.text("keep_manifest"), "keep_manifest"),
        )
        if sniff_media_type(upload.head) is None:
            raise unsupported_media(
                "the file is not a media type originmark can verify", supported=VERIFIABLE_FORMAT_NAMES
            )
        staged: list[feed_thumbnails.Staged] = []

        def then() -> None:
            # In the thread of the last store call, before the upload's folder goes: the file kept
            # for the feed's thumbnail when the tenant has them on (made after the answer is sent).
            try:
                kept = feed_thumbnails.stage(services, key, wanted.media_id, upload.on_disk, upload.sha256)
                if kept is not None:
                    staged.append(kept)
            finally:
                spool.release()

        outcome = await work.verify_and_record(
            services, wanted, upload.on_disk, in_memory=upload.in_memory(), then=then
        )
    services.metrics.verdicts.labels(outcome.verdict.state.value, "true" if outcome.cached else "false").inc()
    body = verify_body(
        media_id=wanted.media_id,
        verdict=outcome.verdict,
        label=outcome.label,
        cached=outcome.cached,
        kept_manifest_id=outcome.kept_manifest_id,
    )
    background = BackgroundTask(feed_thumbnails.make, services, staged[0]) if staged else None
    return Response(body, media_type=JSON_MEDIA_TYPE, background=background)
