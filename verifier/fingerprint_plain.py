"""A content fingerprint (an image's, or a video's key frames and Video-Code) as plain values, and back.

The one form a fingerprint takes between processes and in records: a signing worker's reply
(signer/isolation.py), a verifier worker's reply to a video job (verifier/isolation.py), a sign
job's record kept for a retry (app/jobs/records.py, JSON). Only dicts, lists, str, int, bool and
None (bytes as base64 text), so it pickles without classes and is JSON as it is.

Reading it back checks every field (a worker's reply comes from a process that read an upload):
ValueError for anything malformed. An image's form is the one sign-job records have had since
descriptors were kept (`code64`, `iscc`, `descriptor`), so those records still read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import iscc_core

from verifier.fingerprint import DESCRIPTOR_BYTES, ImageFingerprint, View, ViewCode
from verifier.video_code import VideoCode
from verifier.video_fingerprint import KeyFrame, VideoFingerprint

Fingerprint = ImageFingerprint | VideoFingerprint
_VIDEO = "video"
MAX_KEY_FRAMES = 16  # verifier.video_fingerprint.VideoBounds.max_key_frames at most


def to_plain(fingerprint: Fingerprint) -> dict[str, Any]:
    if isinstance(fingerprint, ImageFingerprint):
        return _image(fingerprint)
    code = fingerprint.video_code
    return {
        "kind": _VIDEO,
        "width": fingerprint.width,
        "height": fingerprint.height,
        "duration_ms": fingerprint.duration_ms,
        "complete": fingerprint.complete,
        "key_frames": [
            {"start_ms": frame.start_ms, "end_ms": frame.end_ms, **_image(frame.fingerprint)}
            for frame in fingerprint.key_frames
        ],
        "video_code": None if code is None else video_code_as_plain(code),
    }


def from_plain(value: object) -> Fingerprint:
    """The fingerprint `to_plain` made; ValueError when `value` is not one."""
    fields = _mapping(value)
    if fields.get("kind") != _VIDEO:
        return _image_from(fields)
    frames = fields.get("key_frames")
    if not isinstance(frames, list) or not 1 <= len(frames) <= MAX_KEY_FRAMES:
        raise ValueError(f"a video fingerprint has 1 to {MAX_KEY_FRAMES} key frames")
    key_frames = []
    for frame in frames:
        frame_fields = _mapping(frame)
        start, end = _natural(frame_fields.get("start_ms")), _natural(frame_fields.get("end_ms"))
        if end < start:
            raise ValueError("a key frame's span ends before it starts")
        key_frames.append(KeyFrame(start_ms=start, end_ms=end, fingerprint=_image_from(frame_fields)))
    duration = fields.get("duration_ms")
    complete = fields.get("complete")
    if not isinstance(complete, bool):
        raise ValueError("a video fingerprint says whether it is complete")
    return VideoFingerprint(
        width=_natural(fields.get("width")),
        height=_natural(fields.get("height")),
        duration_ms=None if duration is None else _natural(duration),
        key_frames=tuple(key_frames),
        complete=complete,
        video_code=video_code_from_plain(fields.get("video_code")),
    )


def _image(fingerprint: ImageFingerprint) -> dict[str, Any]:
    plain: dict[str, Any] = {
        "code64": fingerprint.code64,
        "iscc": fingerprint.iscc,
        "descriptor": _base64(fingerprint.descriptor),
    }
    if fingerprint.views:  # the index-only views (centre crops) the repository keeps beside the code
        plain["views"] = [
            {"view": view.view.value, "code64": view.code64, "descriptor": _base64(view.descriptor)}
            for view in fingerprint.views
        ]
    return plain


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _image_from(fields: Mapping[str, object]) -> ImageFingerprint:
    code64, iscc, descriptor_text = fields.get("code64"), fields.get("iscc"), fields.get("descriptor")
    if not isinstance(iscc, str) or not isinstance(descriptor_text, str):
        raise ValueError("an image fingerprint has an iscc and a descriptor")
    unit = _unit(iscc)
    if unit[0] != 0x21 or len(unit) < 10 or code64 != int.from_bytes(unit[2:10], "big"):
        raise ValueError("an image fingerprint's code64 is the first 64 bits of its ISCC Image-Code")
    return ImageFingerprint(
        code64=code64, iscc=iscc, descriptor=_descriptor_from(descriptor_text), views=_views_from(fields.get("views"))
    )


def _descriptor_from(text: object) -> bytes:
    if not isinstance(text, str):
        raise ValueError("a descriptor is base64 text")
    try:
        descriptor = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a descriptor is base64") from None
    if len(descriptor) != DESCRIPTOR_BYTES:
        raise ValueError(f"a descriptor is {DESCRIPTOR_BYTES} bytes")
    return descriptor


def _views_from(value: object) -> tuple[ViewCode, ...]:
    """Recorded before views were kept: none (the entry is searchable by its code alone)."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > len(View):
        raise ValueError("views are a list of at most one code per view")
    views = []
    for item in value:
        fields = _mapping(item)
        code64 = fields.get("code64")
        if type(code64) is not int or not 0 <= code64 < 1 << 64:
            raise ValueError("a view's code64 is a 64-bit natural number")
        name = fields.get("view")
        if not isinstance(name, str) or name not in View.__members__.values():
            raise ValueError("a view is one of verifier.fingerprint.View")
        view = View(name)
        views.append(ViewCode(view=view, code64=code64, descriptor=_descriptor_from(fields.get("descriptor"))))
    if len({code.view for code in views}) != len(views):
        raise ValueError("views are a list of at most one code per view")
    return tuple(views)


def video_code_as_plain(code: VideoCode) -> dict[str, Any]:
    return {"iscc": code.iscc, "frames": code.frames, "end_ms": code.end_ms}


def video_code_from_plain(value: object) -> VideoCode | None:
    """The Video-Code `video_code_as_plain` made (None for None); ValueError when `value` is not one."""
    if value is None:
        return None
    fields = _mapping(value)
    iscc, end = fields.get("iscc"), fields.get("end_ms")
    if not isinstance(iscc, str) or _unit(iscc)[0] != 0x23:  # MainType CONTENT, SubType VIDEO
        raise ValueError("a Video-Code is an ISCC Video-Code unit")
    return VideoCode(iscc=iscc, frames=_natural(fields.get("frames")), end_ms=None if end is None else _natural(end))


def _unit(iscc: str) -> bytes:
    if not iscc.startswith("ISCC:") or len(iscc) > 80:
        raise ValueError("an ISCC code is canonical text (ISCC:...)")
    try:
        unit = bytes(iscc_core.decode_base32(iscc.removeprefix("ISCC:")))
    except ValueError:
        raise ValueError("an ISCC code is base32") from None
    if len(unit) < 10:
        raise ValueError("an ISCC unit has a header and at least 64 bits")
    return unit


def _mapping(value: object) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ValueError("a fingerprint's parts are mappings")
    return value


def _natural(value: object) -> int:
    if type(value) is not int or value < 0:
        raise ValueError("a size, span or count is a natural number")
    return value
