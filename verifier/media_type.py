"""The MIME type of an asset to verify, decided from its first bytes, never its name.

The verifier reports what an upload *is* (`Verdict.format`), and the engine needs a
hint for one case it cannot detect by itself: a bare `.c2pa` manifest store
(sidecar), which it only reads when told `application/c2pa`. For containers the
engine detects itself, the hint is harmless: the engine prefers what it detects.

`signer/formats.py` has its own, stricter detector, on purpose (see its docstring): it
must refuse what the engine cannot embed into, while this one names whatever an upload is
and never refuses. The packages stay independent; tests/signer/test_formats.py checks that
both name every format the signer supports alike.
"""

from __future__ import annotations

import re
from typing import BinaryIO

# Enough for every check below; SVG may open with a long comment or DOCTYPE.
SNIFF_BYTES = 16 * 1024

SIDECAR_MIME = "application/c2pa"

_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_QUICKTIME_BRANDS = {b"qt  "}
_QUICKTIME_LEADING_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \r\n\x87\n"

_SVG_PROLOGUE = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*
    (?:<\?xml[^>]*\?>\s*)?
    (?:<!--.*?-->\s*|<\?[^>]*\?>\s*|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*
    <svg[\s>/]""",
    re.DOTALL | re.IGNORECASE | re.VERBOSE,
)


def sniff_media_type(head: bytes) -> str | None:
    """The MIME type of a file starting with `head`, or None when not recognised."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12])
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith((b"\xff\x0a", _JXL_CONTAINER)):
        return "image/jxl"
    if head[4:8] == b"jumb":
        return SIDECAR_MIME
    if head[4:8] == b"ftyp":
        return _bmff_media_type(head)
    if head[4:8] in _QUICKTIME_LEADING_BOXES:
        return "video/quicktime"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if _SVG_PROLOGUE.match(head):
        return "image/svg+xml"
    return None


def sniff_file_media_type(file: BinaryIO) -> str | None:
    """The MIME type of an open file, from its first `SNIFF_BYTES` (read from its start), or None."""
    file.seek(0)
    return sniff_media_type(file.read(SNIFF_BYTES))


def _bmff_media_type(head: bytes) -> str:
    size = int.from_bytes(head[0:4], "big")
    box_end = min(len(head), max(size, 16))
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    major = head[8:12]
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if brands & _HEIC_BRANDS:
        return "image/heic"
    if brands & _HEIF_BRANDS:
        return "image/heif"
    if major in _M4A_BRANDS:
        return "audio/mp4"
    if major in _QUICKTIME_BRANDS:
        return "video/quicktime"
    return "video/mp4"
