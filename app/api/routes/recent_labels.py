"""GET /v1/labels/recent?limit=N: the newest labelled media, as a feed of recent items shows them.

Answers {"items": [{"media_id", "label", "updated_at", "has_thumbnail"}]} newest first (by the time
the media id was last pointed at a verdict, or its label rewritten), from one query along the media
table's (updated_at, media_id) index. The label JSON is spliced in as stored, like /v1/labels.
`has_thumbnail`: GET /v1/thumbnails/{media_id} serves a picture for this reader (made from the
content the id points at now; read publicly, not a private one), looked up in that same query, so
a feed asks only for the thumbnails that exist.

The same access rule as every label read: public with ORIGINMARK_PUBLIC_LABEL_READS (naming the
tenant: `?tenant=NAME`), else an API key with scope `read` (its tenant's items). The feed page
(/feed?tenant=NAME) is built on this endpoint alone.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from app.api import work
from app.api.deps import ReadAccess, ServicesDep
from app.api.wire import JSON_MEDIA_TYPE, error_responses
from app.store.interface import MAX_RECENT_LABELS, RecentLabel
from verifier.label_types import Label

router = APIRouter(tags=["labels"])

DEFAULT_LIMIT = 20
# New items arrive all the time: a short lifetime, so a shared cache still spares the database.
MAX_CACHE_SECONDS = 10


class RecentItem(BaseModel):
    media_id: str
    label: Label
    updated_at: str = Field(description="ISO 8601, UTC.")
    has_thumbnail: bool = Field(
        description="GET /v1/thumbnails/{media_id} serves this item's signed thumbnail to this reader."
    )


class RecentLabelsResponse(BaseModel):
    items: list[RecentItem] = Field(description="Newest first.")


@router.get(
    "/v1/labels/recent",
    summary="The most recently labelled media ids, newest first",
    response_class=Response,
    responses={200: {"model": RecentLabelsResponse}, **error_responses(401, 403, 422, 503)},
)
async def recent_labels(
    reader: ReadAccess,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_RECENT_LABELS, description="How many items (1 to 100).")] = DEFAULT_LIMIT,
) -> Response:
    items = await work.in_thread(services.store.recent_labels, reader.tenant, limit, public=reader.public)
    visibility = "public" if services.settings.public_label_reads else "private"
    headers = {"Cache-Control": f"{visibility}, max-age={MAX_CACHE_SECONDS}"}
    if not services.settings.public_label_reads:
        headers["Vary"] = "Authorization"
    return Response(recent_body(items), media_type=JSON_MEDIA_TYPE, headers=headers)


def recent_body(items: list[RecentLabel]) -> bytes:
    members = ",".join(
        '{"media_id":%s,"label":%s,"updated_at":%s,"has_thumbnail":%s}'
        % (
            json.dumps(item.media_id),
            item.label_json,
            json.dumps(item.updated_at.isoformat()),
            "true" if item.has_thumbnail else "false",
        )
        for item in items
    )
    return ('{"items":[' + members + "]}").encode("utf-8")
