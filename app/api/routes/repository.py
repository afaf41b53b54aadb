"""PUT /v1/repository/{manifestId}/visibility: a tenant marks its own manifest repository entry
private (`{"private": true}`), or public again (`{"private": false}`).

Who: an API key of the owning tenant with scope `sign`. The key that signs is the one that makes
the entry (its tenant owns what it signs), so it is the one that decides whether the entry is a
public statement; the sign rate limit is not taken (a visibility change signs nothing). The
change itself is the use case's (app/usecases/repository_visibility.py): scoped to the key's
tenant in the query, recorded with the key's id; another tenant's id answers 404 exactly like an
unknown one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from app.api import work
from app.api.deps import EntryOwnerKey, ServicesDep
from app.api.error_responses import unprocessable
from app.api.json_body import parse_json, read_json_bytes
from app.api.wire import error_responses
from app.store.repository import MAX_MANIFEST_ID_LENGTH
from app.usecases.repository_visibility import api_actor, set_visibility

router = APIRouter(tags=["manifest repository"])

_MAX_BODY_BYTES = 1024  # {"private": false} and some whitespace


class VisibilityRequest(BaseModel):
    private: bool = Field(description="true: the entry is this tenant's only; false: every tenant finds it again")


class VisibilityResponse(BaseModel):
    manifestId: str = Field(description="The entry's manifest id (its URN)")
    private: bool = Field(description="The entry's visibility now")


@router.put(
    "/v1/repository/{manifestId}/visibility",
    summary="Mark an own repository entry private, or public again",
    response_model=VisibilityResponse,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": VisibilityRequest.model_json_schema()}},
        }
    },
    responses=error_responses(400, 401, 403, 404, 413, 422, 503),
)
async def put_visibility(
    request: Request,
    key: EntryOwnerKey,
    services: ServicesDep,
    manifest_id: Annotated[
        str, Path(alias="manifestId", max_length=MAX_MANIFEST_ID_LENGTH, description="The entry's manifest id (a URN)")
    ],
) -> VisibilityResponse:
    private = _private_field(
        parse_json(await read_json_bytes(request, max_bytes=_MAX_BODY_BYTES), expected='{"private": true}')
    )
    changed = await work.in_thread(
        set_visibility,
        services.store,
        tenant=key.tenant,
        manifest_id=manifest_id,
        private=private,
        actor=api_actor(key.key_id),
    )
    return VisibilityResponse(manifestId=changed.manifest_id, private=changed.private)


def _private_field(body: object) -> bool:
    # A JSON boolean only: "true" or 1 would be a guess at what the caller meant.
    if not isinstance(body, dict) or set(body) != {"private"} or not isinstance(body["private"], bool):
        raise unprocessable(
            "invalid_body", 'the request body must be {"private": true} or {"private": false}', field="private"
        )
    return body["private"]
