"""Feed labels: GET /v1/labels?media_id=a&media_id=b and POST /v1/labels:batch (a JSON list).

Both answer {"labels": {id: label-or-null}} from ONE indexed query, with the stored label
JSON spliced into the body as is (no decoding). Ids are answered once each, in the order
first given; an unknown id is null.

Caching: every answer carries an ETag (a hash of the body) and Cache-Control — `public,
max-age=60` when label reads are public (a CDN may share it), `private, max-age=60`
otherwise. GET honours If-None-Match with 304. POST answers carry the same headers but no
304: RFC 9110 gives conditional POSTs a 412, which would help no feed.

A GET URL has room for a page of ids, not for 1,000 (servers cap the request line):
use the POST form for large batches.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.api import work
from app.api.deps import ReadAccess, ServicesDep
from app.api.error_responses import unprocessable
from app.api.identifiers import MEDIA_ID_PATTERN, check_media_ids
from app.api.json_body import parse_json, read_json_bytes
from app.api.services import Services
from app.api.wire import JSON_MEDIA_TYPE, LabelsResponse, entity_tag, error_responses, etag_matches, labels_body
from app.store.interface import MAX_LABEL_BATCH, MAX_MEDIA_ID_LENGTH

router = APIRouter(tags=["labels"])

MAX_CACHE_SECONDS = 60
# 1,000 ids of 200 characters, quoted and comma-separated, with room for whitespace.
MAX_BATCH_BODY_BYTES = MAX_LABEL_BATCH * (MAX_MEDIA_ID_LENGTH + 4) + 64 * 1024

_RESPONSES: dict[int | str, dict[str, Any]] = {  # FastAPI's `responses`: OpenAPI response objects by status
    200: {"model": LabelsResponse, "headers": {"ETag": {"schema": {"type": "string"}}}},
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
    **error_responses(400, 401, 403, 413, 422, 503),
}
_BATCH_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {"type": "string", "pattern": MEDIA_ID_PATTERN},
                "minItems": 1,
                "maxItems": MAX_LABEL_BATCH,
            }
        }
    },
}


@router.get("/v1/labels", summary="Labels for a page of media ids", response_class=Response, responses=_RESPONSES)
async def labels(
    request: Request,
    reader: ReadAccess,
    services: ServicesDep,
    media_id: Annotated[list[str] | None, Query(description="Repeat for each id (1 to 1,000).")] = None,
) -> Response:
    ids = check_media_ids(media_id or [])
    return await _answer(services, reader.tenant, ids, if_none_match=request.headers.get("if-none-match"))


@router.post(
    "/v1/labels:batch",
    summary="Labels for up to 1,000 media ids",
    response_class=Response,
    openapi_extra={"requestBody": _BATCH_BODY},
    responses=_RESPONSES,
)
async def labels_batch(request: Request, reader: ReadAccess, services: ServicesDep) -> Response:
    ids = check_media_ids(await _json_list(request))
    return await _answer(services, reader.tenant, ids, if_none_match=None)


async def _json_list(request: Request) -> list:
    raw = await read_json_bytes(request, max_bytes=MAX_BATCH_BODY_BYTES)
    value = parse_json(raw, expected="a JSON list of media ids")
    if not isinstance(value, list):
        raise unprocessable("invalid_body", "the request body must be a JSON list of media ids", field="body")
    return value


async def _answer(services: Services, tenant: str, ids: list[str], *, if_none_match: str | None) -> Response:
    labels = await work.in_thread(services.store.labels_json_for, tenant, ids)
    found = sum(1 for label in labels.values() if label is not None)
    services.metrics.labels.labels("true").inc(found)
    services.metrics.labels.labels("false").inc(len(labels) - found)
    body = labels_body(labels)
    etag = entity_tag(body)
    visibility = "public" if services.settings.public_label_reads else "private"
    headers = {"ETag": etag, "Cache-Control": f"{visibility}, max-age={MAX_CACHE_SECONDS}"}
    if not services.settings.public_label_reads:
        headers["Vary"] = "Authorization"
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON_MEDIA_TYPE, headers=headers)
