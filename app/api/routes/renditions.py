"""POST /v1/renditions: sign the renditions a platform serves (resized, converted, repackaged copies)
with their original's credentials as history, without the original file.

The form (multipart only): the renditions as `file`, `file_2`, ... `file_8`, each with its media id
in `media_id`, `media_id_2`, ... (paired by the suffix, not by order); the original named by
`source_media_id` or `source_sha256` (the tenant's media id or content hash); `action` once per
action, from the closed list signer/manifest.RENDITION_ACTIONS, for every rendition of the request;
`allow_no_upstream=true` to sign renditions of an original without credentials. The rules are the
renditions use case's (app/usecases/renditions.py). Everything that can be checked is checked for
every file before any is signed (the form, each file's format and that it carries no credentials
of its own, the original, the key's signing policy, the media ids, the bounds, the original's kept
store): a refused request signs, stores and audits nothing. Then each rendition is signed, verified
and recorded as POST /v1/sign does (app/api/routes/sign.py), one after the other; a failure then
(the engine's, the verifier's, the database's, or the answer's bound on the signed sizes) stops the
request, and its error names the renditions already recorded (`recorded_media_ids`).

The answer is JSON: per rendition its media id, SHA-256, manifest label, verdict, label and the
signed bytes (`content_base64`), built in memory: bounded by ORIGINMARK_RENDITIONS_MAX_ANSWER_BYTES
(the signed renditions together) and ORIGINMARK_RENDITIONS_MAX_UPSTREAM_STORE_BYTES (the original's
store, which every rendition embeds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response

from app.api import work
from app.api.deps import ServicesDep, SignKey, charge_signatures
from app.api.error_responses import after_recording, unprocessable
from app.api.identifiers import MEDIA_ID_PATTERN, check_media_id, check_sha256, form_flag
from app.api.rendition_signing import check_upstream, renditions_use_case, sign_rendition
from app.api.services import Services
from app.api.uploads import FormSpec, ReceivedFile, UploadForm, UploadSpool, receive_upload
from app.api.wire import JSON_MEDIA_TYPE, error_responses, rendition_member, renditions_body
from app.store.interface import ApiKey
from app.usecases.errors import RenditionsTooLarge
from app.usecases.renditions import MAX_RENDITIONS_PER_REQUEST, Original, OriginalRef, Renditions
from app.usecases.signing import SignedOutput, SignRequest
from signer.formats import detect_format
from signer.manifest import RENDITION_ACTIONS, GenerationRequest, rendition_actions
from verifier.verdict import Verdict

router = APIRouter(tags=["sign"])
log = logging.getLogger("originmark.api")

_SUFFIXES = ("", *(f"_{n}" for n in range(2, MAX_RENDITIONS_PER_REQUEST + 1)))
RENDITIONS_FORM = FormSpec(
    file_fields=frozenset(f"file{suffix}" for suffix in _SUFFIXES),
    text_fields=frozenset(
        {
            *(f"media_id{suffix}" for suffix in _SUFFIXES),
            "source_media_id",
            "source_sha256",
            "action",
            "allow_no_upstream",
        }
    ),
    repeatable_text_fields=frozenset({"action"}),
)

_BINARY = {"type": "string", "format": "binary"}
_FORM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["file", "media_id", "action"],
    "properties": {
        **{
            f"file{suffix}": {**_BINARY, "description": "A rendition" + (f" (its media id: media_id{suffix})")}
            for suffix in _SUFFIXES
        },
        **{f"media_id{suffix}": {"type": "string", "pattern": MEDIA_ID_PATTERN} for suffix in _SUFFIXES},
        "source_media_id": {"type": "string", "pattern": MEDIA_ID_PATTERN, "description": "The original's media id."},
        "source_sha256": {"type": "string", "description": "The original's SHA-256 (hex), instead of its media id."},
        "action": {
            "type": "array",
            "items": {"type": "string", "enum": sorted(RENDITION_ACTIONS)},
            "description": "What the renditions did (send the field once per action); anything else is a 422.",
        },
        "allow_no_upstream": {
            "type": "string",
            "enum": ["true", "false"],
            "default": "false",
            "description": "`true`: sign renditions of an original without Content Credentials (labelled "
            "'no credentials upstream'); otherwise such a request is a 409 no_upstream_credentials.",
        },
    },
}
_OPENAPI = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}}}}
_SIGNED = {
    "description": "The signed renditions: {renditions: [{media_id, sha256, manifest_label, verdict, label, "
    "content_base64}], original: {media_id, sha256, label}}",
    "content": {JSON_MEDIA_TYPE: {"schema": {"type": "object"}}},
}


@dataclass(frozen=True, slots=True)
class _Wanted:
    media_id: str
    upload: ReceivedFile


@router.post(
    "/v1/renditions",
    summary="Sign renditions of an original with its credentials as history",
    response_class=Response,
    openapi_extra=_OPENAPI,
    responses={200: _SIGNED, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503, 507)},
)
async def renditions(request: Request, key: SignKey, services: ServicesDep) -> Response:
    settings = services.settings
    use_case = renditions_use_case(services)
    async with UploadSpool(settings.spool_dir) as spool:
        form = await receive_upload(request, spec=RENDITIONS_FORM, spool=spool, max_bytes=settings.max_upload_bytes)
        wanted = _renditions(form)
        ref = _original_ref(form)
        if any(item.media_id == ref.media_id for item in wanted):
            # It would point the original's media id at the rendition's bytes.
            raise unprocessable(
                "duplicate_media_id", "a rendition needs a media id of its own, not its original's", field="media_id"
            )
        allow = form_flag(form.text("allow_no_upstream"), "allow_no_upstream")
        if not form.texts("action"):
            raise unprocessable("missing_field", "name at least one action (the form field 'action')", field="action")
        actions = rendition_actions(form.texts("action"))  # 422 invalid_request before any lookup
        for item in wanted:
            detect_format(item.upload.path)  # junk is a 415 before any engine work
        # The original (404/409), the key's signing policy on the label the renditions will show (403
        # signing_policy), the media ids (422), before any engine work or token: a refusal signs, stores
        # and audits nothing.
        media_ids = [item.media_id for item in wanted]
        original = await work.in_thread(use_case.prepare, key, ref, allow_no_upstream=allow, media_ids=media_ids)
        budget = _AnswerBudget(settings.renditions_max_answer_bytes)
        budget.check_estimate(wanted, original)
        await charge_signatures(request, services, key, len(wanted) - 1)  # one sign token per rendition
        generation = use_case.generation(original, actions=actions, title=None)
        await check_upstream(services, original, spool)
        await _refuse_own_credentials(services, wanted)
        done = await _sign_all(services, use_case, key, original, generation, wanted, spool, budget)
    return Response(renditions_body(original=original.verdict, renditions=done), media_type=JSON_MEDIA_TYPE)


class _AnswerBudget:
    """ORIGINMARK_RENDITIONS_MAX_ANSWER_BYTES over the signed renditions of one answer (before base64)."""

    # What signing adds to a rendition besides its original's store: its own manifest (claim,
    # signature, certificate chain, time-stamp, soft binding), a few KB; a generous guess here, the
    # signed sizes themselves are counted as they come.
    OWN_MANIFEST_ALLOWANCE = 64 * 1024

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def check_estimate(self, wanted: list[_Wanted], original: Original) -> None:
        """Before anything is signed: the uploads plus what signing embeds in each."""
        upstream = len(original.manifest_store or b"")
        estimate = sum(item.upload.size + upstream + self.OWN_MANIFEST_ALLOWANCE for item in wanted)
        if estimate > self.limit:
            raise RenditionsTooLarge(self._message(f"would be about {estimate} bytes"))

    def take(self, size: int) -> None:
        """A signed rendition's size, before it is recorded (refused: it is not)."""
        if self.used + size > self.limit:
            raise RenditionsTooLarge(self._message(f"are over {self.used + size} bytes"))
        self.used += size

    def _message(self, what: str) -> str:
        return (
            f"the signed renditions of this request {what}, over the {self.limit} bytes one answer carries "
            "(ORIGINMARK_RENDITIONS_MAX_ANSWER_BYTES): send fewer or smaller renditions per request"
        )


def _renditions(form: UploadForm) -> list[_Wanted]:
    wanted = []
    for suffix in _SUFFIXES:
        upload = form.optional_file(f"file{suffix}")
        media_id = form.text(f"media_id{suffix}")
        if upload is None and media_id is None:
            continue
        if upload is None:
            raise unprocessable(
                "missing_file", f"media_id{suffix} names no rendition: send file{suffix}", field=f"file{suffix}"
            )
        if media_id is None:
            raise unprocessable(
                "missing_field", f"file{suffix} needs its media id in media_id{suffix}", field=f"media_id{suffix}"
            )
        wanted.append(_Wanted(check_media_id(media_id, field=f"media_id{suffix}"), upload))
    if not wanted:
        raise unprocessable(
            "missing_file", "send a rendition as the multipart file field 'file' (curl -F file=@FILE)", field="file"
        )
    ids = [item.media_id for item in wanted]
    if len(set(ids)) != len(ids):
        raise unprocessable("duplicate_media_id", "each rendition needs its own media id", field="media_id")
    return wanted


def _original_ref(form: UploadForm) -> OriginalRef:
    return original_ref(form.text("source_media_id"), form.text("source_sha256"))


def original_ref(media_id: str | None, sha256: str | None) -> OriginalRef:
    """How a request names the original (its fields source_media_id / source_sha256, one of them),
    checked: 422 naming the field otherwise. This route's and rendition jobs'."""
    if (media_id is None) == (sha256 is None):
        raise unprocessable(
            "missing_field",
            "name the original by source_media_id or source_sha256 (one of them)",
            field="source_media_id",
        )
    if media_id is not None:
        return OriginalRef(media_id=check_media_id(media_id, field="source_media_id"))
    assert sha256 is not None
    return OriginalRef(sha256=check_sha256(sha256, field="source_sha256"))


async def _sign_all(
    services: Services,
    use_case: Renditions,
    key: ApiKey,
    original: Original,
    generation: GenerationRequest,
    wanted: list[_Wanted],
    spool: UploadSpool,
    budget: _AnswerBudget,
) -> list[str]:
    """Each rendition signed and recorded, one after the other. Everything that can be checked was,
    before the first (a failure here is the engine's, the verifier's, the database's or the answer's
    bound on what was signed): the error then names the renditions already recorded."""
    done: list[str] = []
    try:
        for item in wanted:
            done.append(await _sign_one(services, use_case, key, original, generation, item, spool, budget))
    except Exception as error:
        recorded = [item.media_id for item in wanted[: len(done)]]
        answer = after_recording(error, recorded) if recorded else None
        if answer is None:
            raise
        raise answer from error
    return done


async def _refuse_own_credentials(services: Services, wanted: list[_Wanted]) -> None:
    """422 prior_credentials_conflict, on its own field, for a rendition that carries credentials of
    its own (a rendition's only history is its original's), and 422 unreadable_media for one the
    verifier cannot evaluate, before any is signed: the verifier's
    read of each (isolated, in the verify pool), not the signer's, which would refuse it only when
    its turn came, after the ones before it were recorded. The reads run side by side (the verify
    pool bounds them): one after the other they added a fifth to a request of 8 renditions."""
    found: list[Verdict | BaseException | None] = [None] * len(wanted)

    async def read(index: int, item: _Wanted) -> None:
        try:
            found[index], _label = await work.verify_file(services, item.upload.path, known_sha256=item.upload.sha256)
        except Exception as error:  # noqa: BLE001 - raised below as itself, not in the task group's ExceptionGroup
            found[index] = error

    async with anyio.create_task_group() as group:
        for index, item in enumerate(wanted):
            group.start_soon(read, index, item)
    for item, verdict in zip(wanted, found, strict=True):
        if isinstance(verdict, BaseException):
            raise verdict
        assert verdict is not None
        Renditions.check_rendition_file(verdict, name=item.upload.field, field=item.upload.field)


async def _sign_one(
    services: Services,
    use_case: Renditions,
    key: ApiKey,
    original: Original,
    generation: GenerationRequest,
    item: _Wanted,
    spool: UploadSpool,
    budget: _AnswerBudget,
) -> str:
    destination = spool.folder(f"signed-{item.media_id}") / item.upload.path.name
    output, verdict = await sign_rendition(
        services, generation, source=item.upload.path, source_sha256=item.upload.sha256, destination=destination
    )
    budget.take(destination.stat().st_size)  # the answer's bound, before the rendition is recorded
    wanted = SignRequest(
        tenant=key.tenant,
        key_id=key.key_id,
        generation=generation,
        media_id=item.media_id,
        private=original.private,  # unless the original's store is public, its copy in the rendition's is not
    )
    member = await work.in_thread(_record_and_read, use_case, wanted, output, verdict, original, destination)
    services.metrics.signatures.labels("signed").inc()  # a rendition is a signature like any other
    return member


def _record_and_read(
    use_case: Renditions,
    wanted: SignRequest,
    output: SignedOutput,
    verdict: Verdict,
    original: Original,
    destination: Path,
) -> str:
    """The rendition recorded, and its answer with the signed bytes (read here, off the event loop)."""
    stored = use_case.record(wanted, output, verdict, original)
    assert wanted.media_id is not None
    return rendition_member(
        stored=stored, media_id=wanted.media_id, manifest_label=output.manifest_label, content=destination.read_bytes()
    )
