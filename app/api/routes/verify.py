"""POST /v1/verify: the verdict and label for an upload, stored under its SHA-256 and media id.

The same bytes verified under the same trust configuration (see
`app.api.services.trust_fingerprint`) are answered from the store (`"cached": true`)
unless `?refresh=true`.

Media types: bytes that are no media type the verifier recognises get 415 (listing what
is recognised) and nothing is stored. A recognised type that is corrupted or over a limit
is a verdict (200, state `error` or `invalid`) and is stored like any other, except when a
worker had to be stopped (time or memory limit): that verdict is returned but not stored,
so the next upload of the same bytes is tried again.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.api import work
from app.api.deps import ServicesDep, VerifyKey
from app.api.errors import unsupported_media
from app.api.identifiers import MEDIA_ID_PATTERN, optional_media_id
from app.api.services import Services
from app.api.uploads import FormSpec, UploadSpool, receive_form
from app.api.wire import JSON_MEDIA_TYPE, VerifyResponse, error_responses, verify_body
from signer.formats import SUPPORTED_FORMAT_NAMES
from verifier.label_types import Label
from verifier.media_type import sniff_media_type
from verifier.verdict import Verdict

router = APIRouter(tags=["verify"])

VERIFY_FORM = FormSpec(file_fields=frozenset({"file"}), text_fields=frozenset({"media_id"}))
# What verifier.media_type recognises: every format originmark signs, plus these.
VERIFIABLE_FORMAT_NAMES = (*SUPPORTED_FORMAT_NAMES, "JPEG XL", "C2PA manifest store (.c2pa)")

_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The media to verify."},
                    "media_id": {"type": "string", "pattern": MEDIA_ID_PATTERN},
                },
            }
        }
    },
}


@router.post(
    "/v1/verify",
    summary="Verify an upload's Content Credentials",
    response_class=Response,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: {"model": VerifyResponse}, **error_responses(400, 401, 403, 413, 415, 422, 503, 507)},
)
async def verify(
    request: Request,
    _key: VerifyKey,
    services: ServicesDep,
    refresh: Annotated[bool, Query(description="Verify again even if these bytes were verified before.")] = False,
) -> Response:
    settings = services.settings
    with UploadSpool(settings.spool_dir) as spool:
        form = await receive_form(request, spec=VERIFY_FORM, spool=spool, max_bytes=settings.max_upload_bytes)
        upload = form.required_file("file")
        media_id = optional_media_id(form.text("media_id"))
        if sniff_media_type(upload.head) is None:
            raise unsupported_media(
                "the file is not a media type originmark can verify", supported=VERIFIABLE_FORMAT_NAMES
            )
        if not refresh:
            cached = await work.in_thread(_from_store, services, sha256=upload.sha256, media_id=media_id)
            if cached is not None:
                verdict, label = cached
                return _answer(services, media_id=media_id, verdict=verdict, label=label, cached=True)
        verdict, label = await work.verify_file(services, upload.path, known_sha256=upload.sha256)

    if verdict.sha256:
        await work.in_thread(
            services.store.save_verdict,
            verdict=verdict,
            label=label,
            trust_fingerprint=services.engines.trust_fingerprint,
            media_id=media_id,
        )
    else:
        verdict = dataclasses.replace(verdict, sha256=upload.sha256)  # a stopped worker could not say
    return _answer(services, media_id=media_id, verdict=verdict, label=label, cached=False)


def _from_store(services: Services, *, sha256: str, media_id: str | None) -> tuple[Verdict, Label] | None:
    stored = services.store.verdict_by_sha256(sha256)
    if stored is None or stored.trust_fingerprint != services.engines.trust_fingerprint:
        return None
    if media_id is not None:
        # Point the media id at the stored verdict (a new id for bytes seen before).
        services.store.save_verdict(
            verdict=stored.verdict, label=stored.label, trust_fingerprint=stored.trust_fingerprint, media_id=media_id
        )
    return stored.verdict, stored.label


def _answer(services: Services, *, media_id: str | None, verdict: Verdict, label: Label, cached: bool) -> Response:
    services.metrics.verdicts.labels(verdict.state.value, "true" if cached else "false").inc()
    body = verify_body(media_id=media_id, verdict=verdict, label=label, cached=cached)
    return Response(body, media_type=JSON_MEDIA_TYPE)
