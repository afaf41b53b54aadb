"""Response bodies: built as bytes from the codec's JSON (no decode / re-encode), and their schemas.

The verdict and label JSON is exactly `app.codec`'s (the fields of `Verdict` and `Label`);
the pydantic models here exist to document the responses in OpenAPI (/docs) and are not
used to serialise them.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from typing import Any

from pydantic import BaseModel, Field

from app.codec import label_to_json, verdict_to_json
from app.store.interface import MAX_MEDIA_IDS_PER_CONTENT, StoredVerdict
from verifier.label_types import Label
from verifier.verdict import Verdict

JSON_MEDIA_TYPE = "application/json"


def _object(members: list[tuple[str, str]]) -> bytes:
    return ("{" + ",".join(f'"{name}":{value}' for name, value in members) + "}").encode("utf-8")


def verify_body(
    *, media_id: str | None, verdict: Verdict, label: Label, cached: bool, kept_manifest_id: str | None = None
) -> bytes:
    return _object(
        [
            ("media_id", json.dumps(media_id)),
            ("sha256", json.dumps(verdict.sha256)),
            ("verdict", verdict_to_json(verdict)),
            ("label", label_to_json(label)),
            ("cached", "true" if cached else "false"),
            ("kept_manifest_id", json.dumps(kept_manifest_id)),
        ]
    )


def stored_verdict_body(*, media_id: str, stored: StoredVerdict, trust_current: bool) -> bytes:
    """GET /v1/verdicts/{media_id}: the verdict the id points at."""
    return _object([("media_id", json.dumps(media_id)), *_stored_members(stored, trust_current)])


def stored_verdict_by_hash_body(*, media_ids: list[str], stored: StoredVerdict, trust_current: bool) -> bytes:
    """GET /v1/verdicts/sha256/{hex}: the verdict, with the caller's media ids for those bytes."""
    return _object([("media_ids", json.dumps(media_ids)), *_stored_members(stored, trust_current)])


def _stored_members(stored: StoredVerdict, trust_current: bool) -> list[tuple[str, str]]:
    return [
        ("sha256", json.dumps(stored.verdict.sha256)),
        ("verdict", verdict_to_json(stored.verdict)),
        ("label", label_to_json(stored.label)),
        ("stored_at", json.dumps(stored.stored_at.isoformat())),
        ("trust_current", "true" if trust_current else "false"),
    ]


def rendition_member(*, stored: StoredVerdict, media_id: str, manifest_label: str | None, content: bytes) -> str:
    """One signed rendition of POST /v1/renditions: its record and its bytes (base64)."""
    return _object(
        [
            ("media_id", json.dumps(media_id)),
            ("sha256", json.dumps(stored.sha256)),
            ("manifest_label", json.dumps(manifest_label)),
            ("verdict", verdict_to_json(stored.verdict)),
            ("label", label_to_json(stored.label)),
            ("content_base64", json.dumps(base64.b64encode(content).decode("ascii"))),
        ]
    ).decode("utf-8")


def renditions_body(*, original: StoredVerdict, renditions: list[str]) -> bytes:
    """POST /v1/renditions: the original as the tenant stored it, and each signed rendition (rendition_member)."""
    head = _object(
        [
            ("media_id", json.dumps(original.media_id)),
            ("sha256", json.dumps(original.sha256)),
            ("label", label_to_json(original.label)),
        ]
    ).decode("utf-8")
    return _object([("original", head), ("renditions", "[" + ",".join(renditions) + "]")])


def labels_body(labels: dict[str, str | None]) -> bytes:
    """{"labels": {id: label-or-null}}; ids are checked plain tokens, labels the stored JSON as is."""
    members = ",".join(f'"{media_id}":{label_json or "null"}' for media_id, label_json in labels.items())
    return ('{"labels":{' + members + "}}").encode("utf-8")


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison against an If-None-Match list."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


# --- OpenAPI documentation of the responses ---


class VerifyResponse(BaseModel):
    media_id: str | None = Field(description="The caller's id for the item, when one was given.")
    sha256: str = Field(description="SHA-256 of the uploaded bytes.")
    verdict: Verdict = Field(
        description="For state `error`, `error_code` says why for machines (e.g. `resource_limit`: the upload "
        "exceeded the verifier's memory or time limit; `remote_manifest`: its credentials are at a URL that was "
        "not fetched) and `reason` in words. `time_stamp` (null when the signature carries no time-stamp the "
        "engine could match) says when an RFC 3161 time-stamping authority stamped the signature (`time`, the "
        "TSA's genTime), which authority (`authority`), and whether it is `trusted` and on which list "
        "(`trust_list`: `c2pa-tsa` for the C2PA TSA trust list, `local-tsa` for the operator's TSA anchors, `itl` "
        "for the Interim Trust List); a trusted time-stamp keeps a credential `trusted` after its signing "
        "certificate expires."
    )
    label: Label
    cached: bool = Field(
        description="Your tenant had verified or signed these bytes before, and the stored verdict (same "
        "trust configuration) answered. Bytes only other tenants sent before are answered from the store "
        "too, but say false: the flag never tells who uploaded what."
    )
    kept_manifest_id: str | None = Field(
        default=None,
        description="With keep_manifest=true: the active manifest whose store your tenant's manifest repository "
        "keeps now (or kept already); null when nothing is kept (not asked, or the verdict is not trusted or valid).",
    )


class _StoredVerdictFields(BaseModel):
    sha256: str
    verdict: Verdict
    label: Label
    stored_at: datetime.datetime
    trust_current: bool = Field(
        description="Made under the server's current trust configuration (else POST /v1/verify re-verifies)."
    )


class StoredVerdictResponse(_StoredVerdictFields):
    media_id: str = Field(description="The media id that was read.")


class StoredVerdictByHashResponse(_StoredVerdictFields):
    media_ids: list[str] = Field(
        description="The caller's tenant's media ids that point at these bytes, sorted; at most "
        f"{MAX_MEDIA_IDS_PER_CONTENT} (the first in that order); empty when they were sent without one.",
        max_length=MAX_MEDIA_IDS_PER_CONTENT,
    )


class LabelsResponse(BaseModel):
    labels: dict[str, Label | None] = Field(description="Each requested media id: its label, or null if unknown.")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}
