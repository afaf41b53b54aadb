"""GET /v1/verdicts/{media_id} and GET /v1/verdicts/sha256/{hex}: a stored verdict, in full.

Both are the caller's tenant's: a media id is looked up among its ids, a content hash among the
bytes it submitted or signed (the verification cache is shared, what each tenant sent is not).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api import work
from app.api.deps import ReadAccess, ServicesDep
from app.api.errors import not_found
from app.api.identifiers import check_media_id, check_sha256
from app.api.services import Services
from app.api.wire import JSON_MEDIA_TYPE, StoredVerdictResponse, error_responses, stored_verdict_body
from app.store.interface import StoredVerdict

router = APIRouter(tags=["verdicts"])

_RESPONSES = {200: {"model": StoredVerdictResponse}, **error_responses(401, 403, 404, 422, 503)}


# Declared before /{media_id} for readability; a media id cannot contain "/", so they never clash.
@router.get(
    "/v1/verdicts/sha256/{sha256}",
    summary="The stored verdict for a content hash",
    response_class=Response,
    responses=_RESPONSES,
)
async def verdict_by_sha256(sha256: str, reader: ReadAccess, services: ServicesDep) -> Response:
    wanted = check_sha256(sha256)
    # Only bytes this tenant submitted or signed: otherwise this read would tell anyone what other
    # tenants uploaded. Read publicly, only bytes it publishes under a media id (its feed shows those).
    stored = await work.in_thread(
        services.store.verdict_by_sha256, reader.tenant, wanted, published_only=reader.public
    )
    if stored is None:
        raise not_found(f"no verdict is stored for the content hash {wanted} (among this tenant's submissions)")
    return _answer(services, stored)


@router.get(
    "/v1/verdicts/{media_id}",
    summary="The stored verdict for a media id",
    response_class=Response,
    responses=_RESPONSES,
)
async def verdict_by_media_id(media_id: str, reader: ReadAccess, services: ServicesDep) -> Response:
    wanted = check_media_id(media_id)
    stored = await work.in_thread(services.store.verdict_by_media_id, reader.tenant, wanted)
    if stored is None:
        raise not_found(f"no verdict is stored for the media id {wanted!r}")
    return _answer(services, stored)


def _answer(services: Services, stored: StoredVerdict) -> Response:
    body = stored_verdict_body(
        media_id=stored.media_id,
        verdict=stored.verdict,
        label=stored.label,
        stored_at=stored.stored_at,
        trust_current=stored.trust_fingerprint == services.engines.trust_fingerprint,
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)
