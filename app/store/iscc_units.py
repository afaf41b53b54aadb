"""ISCC content units as soft-binding values (ISO 24138, `io.iscc.v0`): which kind of code a value is, and
the 64 bits of it the repository's band index searches (app/store/similarity.py).

A value is the unit in binary (2-byte header, then the body), as a C2PA assertion carries it, or
its canonical text `ISCC:...`. The header's first byte names the kind: 0x21 an Image-Code (MainType
CONTENT, SubType IMAGE), 0x23 a Video-Code (SubType VIDEO). An Image-Code's first 64 bits are
searched in the image key space (the band index's Image-Codes: images and a video's key frames), a
Video-Code's in its own (`CodeSpace.VIDEO`): the two codes' bits mean different things.
"""

from __future__ import annotations

import base64
import binascii

from app.store.repository import ISCC_ALG
from app.store.similarity import CodeSpace

_ISCC_IMAGE = 0x21  # ISCC header, first byte: MainType CONTENT (2), SubType IMAGE (1)
_ISCC_VIDEO = 0x23  # MainType CONTENT (2), SubType VIDEO (3)
_ISCC_TEXT_PREFIX = b"ISCC:"


def iscc_image_code64(value: bytes) -> int | None:
    """The first 64 bits of an ISCC Image-Code's body, or None when `value` is not one."""
    unit = _iscc_content_unit(value, _ISCC_IMAGE)
    return None if unit is None else int.from_bytes(unit[2:10], "big")


def iscc_video_unit(value: bytes) -> bytes | None:
    """An ISCC Video-Code unit in binary (as a signed video's assertion carries it), or None when `value`
    (binary or canonical text) is not one."""
    return _iscc_content_unit(value, _ISCC_VIDEO)


def iscc_video_code64(value: bytes) -> int | None:
    """The first 64 bits of an ISCC Video-Code's body (the whole of the 64-bit code a video is signed
    with), or None when `value` is not one."""
    unit = iscc_video_unit(value)
    return None if unit is None else int.from_bytes(unit[2:10], "big")


def indexed_code(alg: str, value: bytes) -> tuple[int, CodeSpace] | None:
    """The code64 a binding is listed under in the band index, and its key space; None: not indexed
    (another algorithm, or an io.iscc.v0 value that is neither an Image-Code nor a Video-Code)."""
    if alg != ISCC_ALG:
        return None
    image = iscc_image_code64(value)
    if image is not None:
        return image, CodeSpace.IMAGE
    video = iscc_video_code64(value)
    return None if video is None else (video, CodeSpace.VIDEO)


def _iscc_content_unit(value: bytes, first_byte: int) -> bytes | None:
    if value.startswith(_ISCC_TEXT_PREFIX):
        text = value[len(_ISCC_TEXT_PREFIX) :].decode("ascii", "replace")
        try:
            value = base64.b32decode(text + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError):
            return None
    # Header nibbles: main type, subtype, version 0, length (bits / 32 - 1: 1 for 64 bits, up to 7).
    if len(value) < 10 or value[0] != first_byte or value[1] >> 4 != 0 or not 1 <= value[1] & 0x0F <= 7:
        return None
    body_bits = ((value[1] & 0x0F) + 1) * 32
    if len(value) != 2 + body_bits // 8:
        return None
    return value
