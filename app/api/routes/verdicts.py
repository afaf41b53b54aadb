"""GET /v1/verdicts/{media_id} and GET /v1/verdicts/sha256/{hex}: a stored verdict, in full.

Both are the caller's tenant's: a media id is looked up among its ids, a content hash among the
bytes it submitted or signed (the verification cache is shared, what each tenant sent is not).
A read by hash lists the tenant's media ids for those bytes (`media_ids`; a file reposted under
several ids has several), never another tenant's.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api import work
from app.api.deps import ReadAccess, Reader, ServicesDep
from app.api.error_responses import not_found
from app.api.identifiers import check_media_id, check_sha256
from app.api.services import Services
from app.api.wire import (
    JSON_MEDIA_TYPE,
    StoredVerdictByHashResponse,
    StoredVerdictResponse,
    error_responses,
    stored_verdict_body,
    stored_verdict_by_hash_body,
)
from app.store.interface import StoredVerdict, VerdictStore

router = APIRouter(tags=["verdicts"])

_ERRORS = error_responses(401, 403, 404, 422, 503)


# Declared before /{media_id} for readability; a media id cannot contain "/", so they never clash.
@router.get(
    "/v1/verdicts/sha256/{sha256}",
    summary="The stored verdict for a content hash",
    response_class=Response,
    responses={200: {"model": StoredVerdictByHashResponse}, **_ERRORS},
)
async def verdict_by_sha256(sha256: str, reader: ReadAccess, services: ServicesDep) -> Response:
    wanted = check_sha256(sha256)
    found = await work.in_thread(_verdict_and_media_ids, services.store, reader, wanted)
    if found is None:
        raise not_found(f"no verdict is stored for the content hash {wanted} (among this tenant's submissions)")
    stored, media_ids = found
    body = stored_verdict_by_hash_body(
        media_ids=media_ids, stored=stored, trust_current=_trust_current(services, stored)
    )
    return Response(body, media_type=JSON_MEDIA_TYPE)


@router.get(
    "/v1/verdicts/{media_id}",
    summary="The stored verdict for a media id",
    response_class=Response,
    responses={200: {"model": StoredVerdictResponse}, **_ERRORS},
)
async def verdict_by_media_id(media_id: str, reader: ReadAccess, services: ServicesDep) -> Response:
    wanted = check_media_id(media_id)
    stored = await work.in_thread(services.store.verdict_by_media_id, reader.tenant, wanted)
    if stored is None:
        raise not_found(f"no verdict is stored for the media id {wanted!r}")
    body = stored_verdict_body(media_id=wanted, stored=stored, trust_current=_trust_current(services, stored))
    return Response(body, media_type=JSON_MEDIA_TYPE)


def _verdict_and_media_ids(store: VerdictStore, reader: Reader, sha256: str) -> tuple[StoredVerdict, list[str]] | None:
    # Only bytes this tenant submitted or signed: otherwise this read would tell anyone what other
    # tenants uploaded. Read publicly, only bytes it publishes under a media id (its feed shows those).
    stored = store.verdict_by_sha256(reader.tenant, sha256, published_only=reader.public)
    if stored is None:
        return None
    return stored, store.media_ids_for_sha256(reader.tenant, sha256)


def _trust_current(services: Services, stored: StoredVerdict) -> bool:
    return stored.trust_fingerprint == services.worker_pools.trust_fingerprint
