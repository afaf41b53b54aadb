"""GET /v1/thumbnails/{media_id}: the feed's signed thumbnail of a media id (app/usecases/thumbnails.py).

The bytes are a signed JPEG rendition whose manifest carries the original's as its parentOf
ingredient: a client that saves it keeps the credentials. The same access rule as every label
read (ReadAccess): an API key with scope `read` reads its tenant's thumbnails; with
ORIGINMARK_PUBLIC_LABEL_READS, anyone naming the tenant (`?tenant=NAME`) reads what the tenant
publishes: the thumbnails of its media ids, except those whose original's repository entry is
private. The tenant is in the store's query itself; unknown, another tenant's, private (read
publicly), stale (the media id now points at other content) and never made all read the same: 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api import work
from app.api.deps import ReadAccess, ServicesDep
from app.api.error_responses import not_found
from app.api.identifiers import check_media_id
from app.api.wire import error_responses

router = APIRouter(tags=["labels"])

# A thumbnail changes only when its media id is pointed at other content: a short lifetime all the same.
MAX_CACHE_SECONDS = 60


@router.get(
    "/v1/thumbnails/{media_id}",
    summary="The feed's signed thumbnail of a media id",
    response_class=Response,
    responses={
        200: {"description": "A signed JPEG (longest side at most 320 px).", "content": {"image/jpeg": {}}},
        **error_responses(401, 403, 404, 422, 503),
    },
)
async def thumbnail(media_id: str, reader: ReadAccess, services: ServicesDep) -> Response:
    wanted = check_media_id(media_id)
    found = await work.in_thread(services.store.thumbnail, reader.tenant, wanted, public=reader.public)
    if found is None:
        raise not_found(f"no thumbnail is kept for the media id {wanted!r}")
    visibility = "public" if reader.public else "private"
    headers = {
        "Cache-Control": f"{visibility}, max-age={MAX_CACHE_SECONDS}",
        "X-Source-SHA256": found.source_sha256,
        "Content-Disposition": f'inline; filename="thumbnail-{found.source_sha256[:16]}.jpg"',
        "X-Content-Type-Options": "nosniff",  # an image, never read as anything else
    }
    if not reader.public:
        headers["Vary"] = "Authorization"
    return Response(found.content, media_type=found.content_type, headers=headers)
