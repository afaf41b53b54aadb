"""The C2PA Soft Binding Resolution API under /sbr/v1 (C2PA 2.2; the OpenAPI description published in
AdobeDocs/cai-soft-binding-api): find kept manifests by a soft binding value or by an asset's
content, and fetch a manifest store by its id.

The answers are the use case's (app/usecases/soft_binding_resolution.py); here only the HTTP: who
asks (a key with scope `sbr`, or the public reading a tenant that publishes: app/api/deps.py), the
raw asset body (bounded like every upload), and the wire shapes of the specification.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, Field

from app.api import work
from app.api.deps import SbrAccess, ServicesDep
from app.api.error_responses import unsupported_media
from app.api.uploads import UploadSpool, receive_body
from app.api.wire import JSON_MEDIA_TYPE, error_responses
from app.store.repository import MAX_ALG_LENGTH, MAX_MANIFEST_ID_LENGTH
from app.usecases.soft_binding_resolution import (
    DEFAULT_RESULTS,
    MAX_BINDING_VALUE_CHARS,
    MAX_RESULTS,
    SUPPORTED_ALGORITHMS,
    Match,
    check_algorithm,
)

PREFIX = "/sbr/v1"
C2PA_MEDIA_TYPE = "application/c2pa"
# The asset types a lookup by content takes (the specification lists more; these are the ones a
# fingerprint here can come from). A video is looked up by its key frames.
CONTENT_TYPES = ("image/*", "video/*")

router = APIRouter(prefix=PREFIX, tags=["soft binding resolution"])

_AUTH_ERRORS = error_responses(401, 403, 422, 503)


class AlgorithmName(BaseModel):
    alg: str = Field(description="A name from the C2PA soft binding algorithm list")


class SupportedAlgorithms(BaseModel):
    watermarks: list[AlgorithmName]
    fingerprints: list[AlgorithmName]


class SoftBindingMatch(BaseModel):
    manifestId: str = Field(description="The matched manifest's id (its URN); fetch it from /manifests/{manifestId}")
    similarityScore: int = Field(ge=0, le=100, description="Strength of the match, 0 (weakest) to 100 (strongest)")


class SoftBindingQueryResult(BaseModel):
    matches: list[SoftBindingMatch]


class SoftBindingQuery(BaseModel):
    alg: str = Field(max_length=MAX_ALG_LENGTH, description="The soft binding algorithm (io.iscc.v0)")
    value: str = Field(
        max_length=MAX_BINDING_VALUE_CHARS,
        description="The binding value, base64 (io.iscc.v0: the ISCC unit in binary)",
    )


_Alg = Annotated[str, Query(max_length=MAX_ALG_LENGTH, description="The soft binding algorithm (io.iscc.v0)")]
_MaxResults = Annotated[
    int, Query(alias="maxResults", ge=1, le=MAX_RESULTS, description=f"At most this many matches (1-{MAX_RESULTS})")
]


def _matches_response(matches: list[Match]) -> Response:
    body = {"matches": [{"manifestId": m.manifest_id, "similarityScore": m.similarity_score} for m in matches]}
    return Response(json.dumps(body, separators=(",", ":")).encode(), media_type=JSON_MEDIA_TYPE)


@router.get(
    "/services/supportedAlgorithms",
    summary="The soft binding algorithms this service resolves",
    response_model=SupportedAlgorithms,
    responses=error_responses(401, 403, 422),
)
async def supported_algorithms(_viewer: SbrAccess) -> SupportedAlgorithms:
    return SupportedAlgorithms(
        **{kind.value: [AlgorithmName(alg=name) for name in names] for kind, names in SUPPORTED_ALGORITHMS.items()}
    )


@router.get(
    "/matches/byBinding",
    summary="Manifests matching a soft binding value",
    response_class=Response,
    responses={200: {"model": SoftBindingQueryResult}, **_AUTH_ERRORS},
)
async def matches_by_binding(
    viewer: SbrAccess,
    services: ServicesDep,
    alg: _Alg,
    value: Annotated[str, Query(max_length=MAX_BINDING_VALUE_CHARS, description="The binding value, base64")],
    max_results: _MaxResults = DEFAULT_RESULTS,
) -> Response:
    found = await work.in_thread(services.resolution.by_binding, viewer, alg=alg, value=value, max_results=max_results)
    return _matches_response(found)


@router.post(
    "/matches/byBinding",
    summary="Manifests matching a soft binding value (in a JSON body)",
    response_class=Response,
    responses={200: {"model": SoftBindingQueryResult}, **_AUTH_ERRORS},
)
async def matches_by_binding_body(
    viewer: SbrAccess,
    services: ServicesDep,
    query: Annotated[SoftBindingQuery, Body()],
    max_results: _MaxResults = DEFAULT_RESULTS,
) -> Response:
    found = await work.in_thread(
        services.resolution.by_binding, viewer, alg=query.alg, value=query.value, max_results=max_results
    )
    return _matches_response(found)


_CONTENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "The asset itself (not multipart), bounded by ORIGINMARK_MAX_UPLOAD_BYTES",
        "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in CONTENT_TYPES},
    }
}


@router.post(
    "/matches/byContent",
    summary="Manifests matching an asset's content",
    response_class=Response,
    responses={200: {"model": SoftBindingQueryResult}, **error_responses(400, 401, 403, 413, 415, 422, 503, 507)},
    openapi_extra=_CONTENT_BODY,
)
async def matches_by_content(
    request: Request,
    viewer: SbrAccess,
    services: ServicesDep,
    alg: Annotated[
        str | None, Query(max_length=MAX_ALG_LENGTH, description="The soft binding algorithm (io.iscc.v0)")
    ] = None,
    max_results: _MaxResults = DEFAULT_RESULTS,
    hint_alg: Annotated[
        str | None, Query(alias="hintAlg", max_length=MAX_ALG_LENGTH, description="Accepted, not used")
    ] = None,
    hint_value: Annotated[
        str | None, Query(alias="hintValue", max_length=MAX_BINDING_VALUE_CHARS, description="Accepted, not used")
    ] = None,
) -> Response:
    check_algorithm(alg)
    content_type = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
    kind = content_type.partition("/")[0]
    if kind not in ("image", "video"):
        raise unsupported_media(
            "send the asset itself as the body, with its media type (image/* or video/*) as Content-Type",
            supported=CONTENT_TYPES,
        )
    settings = services.settings
    async with UploadSpool(settings.spool_dir) as spool:
        asset = await receive_body(request, spool=spool, max_bytes=settings.max_upload_bytes)
        # The asset is decoded in an isolated verifier worker (its memory and time limits), as recovery
        # fingerprints uploads; the thread waits for it, at most verify_workers at once.
        found = await anyio.to_thread.run_sync(
            functools.partial(
                services.resolution.by_asset, viewer, asset.path, video=kind == "video", max_results=max_results
            ),
            limiter=services.verify_limiter,
        )
    return _matches_response(found)


@router.get(
    "/manifests/{manifestId}",
    summary="A manifest store by manifest id",
    response_class=Response,
    responses={
        200: {"content": {C2PA_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
        **error_responses(401, 403, 404, 422, 503),
    },
)
async def manifest_by_id(
    viewer: SbrAccess,
    services: ServicesDep,
    manifest_id: Annotated[
        str, Path(alias="manifestId", max_length=MAX_MANIFEST_ID_LENGTH, description="The manifest's id (a URN)")
    ],
    active_only: Annotated[
        bool,
        Query(
            alias="returnActiveManifest",
            description="Only the active manifest (as a store of one), not the whole store",
        ),
    ] = False,
) -> Response:
    store = await work.in_thread(services.resolution.manifest_store, viewer, manifest_id, active_only=active_only)
    return Response(store, media_type=C2PA_MEDIA_TYPE)
