"""POST /v1/sign: attach Content Credentials to an upload and stream the signed media back.

Before the response starts, the signed output has been verified by the isolated verifier
(the stored verdict is exactly what POST /v1/verify would say about those bytes), its
verdict and label are committed under the output's SHA-256 (and the caller's tenant's media
id), and the signature is in the audit log. A feed can label the item at once. The rules are
the sign use case's (app/usecases/signing.py), shared with sign jobs.

An upload that already carries Content Credentials keeps them: the signed file's manifest records
the upload as its parentOf ingredient (signer/engine.py), and `X-Prior-Credentials: kept` says so.
`replace_credentials=true` drops them instead (`X-Prior-Credentials: replaced`), when the key's
signing policy allows it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from app.api import feed_thumbnails, work
from app.api.deps import ServicesDep, SignKey
from app.api.error_responses import ApiError, from_signing_error
from app.api.identifiers import MEDIA_ID_PATTERN, form_flag, optional_media_id
from app.api.services import Services
from app.api.uploads import FormSpec, ReceivedFile, UploadForm, UploadSpool, raw_body_openapi, receive_upload
from app.api.wire import error_responses
from app.store.interface import ApiKey
from app.usecases.errors import UnsignableMedia, UseCaseError
from app.usecases.signing import SignedOutput, SignRequest, authorize
from signer.errors import SigningError
from signer.formats import SUPPORTED_FORMAT_NAMES, detect_format
from signer.manifest import DigitalSourceType, GenerationRequest, PriorCredentials
from verifier.verdict import Verdict

router = APIRouter(tags=["sign"])
log = logging.getLogger("originmark.api")

SIGN_FORM = FormSpec(
    file_fields=frozenset({"file", "parent"}),
    text_fields=frozenset(
        {"generator", "generator_version", "digital_source_type", "title", "media_id", "private", "replace_credentials"}
    ),
    raw_file_field="file",  # a parent (an AI edit) needs the multipart form: it is a second file
)
_STREAM_CHUNK = 256 * 1024
PRIVATE_FIELD = {
    "type": "string",
    "enum": ["true", "false"],
    "default": "false",
    "description": "`true`: the signed manifest's entry in the manifest repository is your tenant's only from the "
    "start (other tenants never find it by id, by binding, by content or on verify), as after "
    "PUT /v1/repository/{manifestId}/visibility; recorded like that change. Default: shared.",
}
REPLACE_CREDENTIALS_FIELD = {
    "type": "string",
    "enum": ["true", "false"],
    "default": "false",
    "description": "Content Credentials the file already carries are kept by default: the signed file's manifest "
    "records the file as its parentOf ingredient (its manifest store and validation results), its history intact. "
    "`true`: drop them instead; refused (403 signing_policy) unless the API key's signing policy allows it.",
}

_FIELDS: dict[str, dict[str, Any]] = {
    "generator": {"type": "string", "maxLength": 256, "description": "The model or product."},
    "generator_version": {"type": "string", "maxLength": 256},
    "digital_source_type": {
        "type": "string",
        "enum": [member.term for member in DigitalSourceType],
        "description": "IPTC term (or its full URI); default trainedAlgorithmicMedia, "
        "or compositeWithTrainedAlgorithmicMedia with a parent.",
    },
    "title": {"type": "string", "maxLength": 1024, "description": "Default: the file name."},
    "media_id": {"type": "string", "pattern": MEDIA_ID_PATTERN},
    "private": PRIVATE_FIELD,
    "replace_credentials": REPLACE_CREDENTIALS_FIELD,
}
_PARENT = {
    "type": "string",
    "format": "binary",
    "description": "For an AI edit: the original, recorded as the parentOf ingredient (multipart only).",
}
_OPENAPI = raw_body_openapi(
    file_description="The AI output to sign.",
    required_fields=("generator",),
    fields=_FIELDS,
    file_field="file",
    multipart_only={"parent": _PARENT},
)
_SIGNED_MEDIA = {
    "description": "The signed media, same type as the upload "
    f"({', '.join(SUPPORTED_FORMAT_NAMES)}). Headers: X-Manifest-Label, X-Content-SHA256 (of this body), "
    "X-Media-Id (when given), X-Prior-Credentials (`kept` or `replaced`, when the upload carried credentials).",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


@router.post(
    "/v1/sign",
    summary="Sign AI-generated media",
    response_class=Response,
    openapi_extra=_OPENAPI,
    responses={200: _SIGNED_MEDIA, **error_responses(400, 401, 403, 413, 415, 422, 429, 503, 507)},
)
async def sign(request: Request, key: SignKey, services: ServicesDep) -> Response:
    outcome = "internal_error"
    try:
        response = await _sign(request, key, services)
        outcome = "signed"
        return response
    except ApiError as error:
        outcome = error.code
        raise
    except SigningError as error:
        outcome = from_signing_error(error).code
        raise
    except UseCaseError as error:
        outcome = error.code
        raise
    finally:
        services.metrics.signatures.labels(outcome).inc()


async def _sign(request: Request, key: ApiKey, services: Services) -> Response:
    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        form = await receive_upload(request, spec=SIGN_FORM, spool=spool, max_bytes=settings.max_upload_bytes)
        upload = form.required_file("file")
        parent = form.optional_file("parent")
        wanted = SignRequest(
            tenant=key.tenant,
            key_id=key.key_id,
            generation=_generation_request(form, parent),
            media_id=optional_media_id(form.text("media_id")),
            private=form_flag(form.text("private"), "private"),
        )
        # The key's signing policy (403 signing_policy), before any work: a refusal signs, stores
        # and audits nothing.
        authorize(key, wanted.generation)
        # Junk is refused (415) here, without taking one of the engine threads. On the event loop:
        # the first 16 KiB of a file just written come from the page cache in microseconds, less
        # than the hand-off to a thread and back would cost.
        detect_format(upload.path)

        destination = spool.folder("signed") / upload.path.name
        result = await work.sign_file(services, source=upload.path, destination=destination, request=wanted.generation)
        verdict, _label = await work.verify_file(services, destination)
        output = SignedOutput(
            input_sha256=upload.sha256,
            output_sha256=verdict.sha256,
            manifest_label=result.manifest_label,
            certificate_fingerprint=result.certificate_fingerprint,
            manifest_store=result.manifest_store,
            fingerprint=result.soft_binding,
            prior_credentials=result.prior_credentials,
            replaced_manifest_label=result.replaced_manifest_label,
        )
        # Opened before the spool folder is removed: the open file keeps its bytes until streamed.
        signed = destination.open("rb")
        try:
            # Refused unless the output verifies (found by tests/fuzz: the engine signs some
            # malformed files into output whose own credentials do not verify). The spool folder
            # is removed in the same thread hand-off, whatever the outcome (UploadSpool.release).
            staged = await work.in_thread(
                _record_then_release, services, key, wanted, output, verdict, spool, destination
            )
        except UnsignableMedia:
            signed.close()
            log.warning("a signed output verifies as %s: %s", verdict.state.value, verdict.reason)
            raise
        except BaseException:
            signed.close()
            raise

    headers = {
        "X-Content-SHA256": verdict.sha256,
        "Content-Length": str(os.fstat(signed.fileno()).st_size),
        "Content-Disposition": f'attachment; filename="{destination.name}"',
    }
    if result.manifest_label:
        headers["X-Manifest-Label"] = result.manifest_label
    if wanted.media_id is not None:
        headers["X-Media-Id"] = wanted.media_id
    if result.prior_credentials is not PriorCredentials.NONE:
        headers["X-Prior-Credentials"] = result.prior_credentials.value
    # The feed's thumbnail is made once the answer is sent: it never delays nor fails it.
    background = None if staged is None else BackgroundTask(feed_thumbnails.make, services, staged)
    return StreamingResponse(_stream(signed), media_type=result.format.mime, headers=headers, background=background)


def _record_then_release(
    services: Services,
    key: ApiKey,
    wanted: SignRequest,
    output: SignedOutput,
    verdict: Verdict,
    spool: UploadSpool,
    signed: Path,
) -> feed_thumbnails.Staged | None:
    """The signature recorded; the signed file kept for the feed's thumbnail when its tenant has them on."""
    try:
        services.signing.record(wanted, output, verdict)
        return feed_thumbnails.stage(services, key, wanted.media_id, lambda: signed, output.output_sha256)
    finally:
        spool.release()


def _generation_request(form: UploadForm, parent: ReceivedFile | None) -> GenerationRequest:
    source_type = form.text("digital_source_type")
    # GenerationRequest and DigitalSourceType raise InvalidRequest (422) with the reason.
    return GenerationRequest(
        generator_name=form.required_text("generator"),
        generator_version=form.text("generator_version") or None,
        digital_source_type=DigitalSourceType.from_text(source_type) if source_type else None,
        title=form.text("title") or None,
        parent=parent.path if parent is not None else None,
        replace_credentials=form_flag(form.text("replace_credentials"), "replace_credentials"),
    )


async def _stream(output: BinaryIO) -> AsyncIterator[bytes]:
    # Reads come from the page cache (the file was just written), a few µs per chunk.
    try:
        while chunk := output.read(_STREAM_CHUNK):
            yield chunk
    finally:
        # The last reference to a file whose folder is gone: closing it frees the file, which on
        # ext4 waits milliseconds (6.7 ms per 3 MB output on the bench machine, for little CPU).
        # In a worker thread, so that the event loop serves others meanwhile; shielded, so that a
        # client that went away still has its file closed.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(output.close)
