"""Which media format a file is, decided from its bytes (magic numbers), never its name.

A name lies easily (`photo.png` that is a JPEG, an upload renamed by a browser); the
engine picks the container handler from the MIME type we pass, so a wrong guess would
either fail or, worse, embed the manifest where no reader looks for it.

Only the formats the engine can embed a manifest into are recognised; every MIME type
used here is checked against `c2pa.Builder.get_supported_mime_types()` by the tests.

`verifier/media_type.py` sniffs magic bytes too, and deliberately shares nothing with this
module: the two answer different questions. Here a wrong guess ends up signed (see above),
so recognition is strict (MP4 only for known brands, MP3 only for a valid frame header or
behind an ID3 tag, which may also hide a FLAC) and anything else is refused. The verifier
names whatever an upload is, including what nobody here can sign (JPEG XL, a bare `.c2pa`
store), and a wrong guess there is only a hint the engine overrides. One shared detector would
be wrong for one of them, or make `signer/` and `verifier/` depend on each other; instead
tests/signer/test_formats.py checks that both name every supported format alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from signer.errors import SourceUnreadable, UnsupportedFormat


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaFormat:
    """A container format the engine embeds into."""

    name: str  # display name, e.g. "JPEG"
    mime: str  # the MIME type passed to the engine
    extension: str  # canonical extension without the dot, e.g. "jpg"

    def __str__(self) -> str:
        return self.name


JPEG = MediaFormat(name="JPEG", mime="image/jpeg", extension="jpg")
PNG = MediaFormat(name="PNG", mime="image/png", extension="png")
WEBP = MediaFormat(name="WebP", mime="image/webp", extension="webp")
GIF = MediaFormat(name="GIF", mime="image/gif", extension="gif")
TIFF = MediaFormat(name="TIFF", mime="image/tiff", extension="tif")
AVIF = MediaFormat(name="AVIF", mime="image/avif", extension="avif")
HEIC = MediaFormat(name="HEIC", mime="image/heic", extension="heic")
HEIF = MediaFormat(name="HEIF", mime="image/heif", extension="heif")
SVG = MediaFormat(name="SVG", mime="image/svg+xml", extension="svg")
MP4 = MediaFormat(name="MP4", mime="video/mp4", extension="mp4")
MOV = MediaFormat(name="MOV", mime="video/quicktime", extension="mov")
M4A = MediaFormat(name="M4A", mime="audio/mp4", extension="m4a")
WAV = MediaFormat(name="WAV", mime="audio/wav", extension="wav")
MP3 = MediaFormat(name="MP3", mime="audio/mpeg", extension="mp3")
FLAC = MediaFormat(name="FLAC", mime="audio/flac", extension="flac")
AVI = MediaFormat(name="AVI", mime="video/x-msvideo", extension="avi")
PDF = MediaFormat(name="PDF", mime="application/pdf", extension="pdf")

# ISO BMFF containers: the engine hashes them with a BMFF hash (by box), which can be a Merkle tree.
BMFF_FORMATS: frozenset[MediaFormat] = frozenset({MP4, MOV, M4A, AVIF, HEIC, HEIF})

# Raster images whose pixels Pillow decodes here: each gets the soft binding's fingerprint
# (verifier/fingerprint.py). HEIC/HEIF need a decoder Pillow does not ship and SVG has no
# pixels of its own; audio and PDF have no fingerprint yet (docs/soft-bindings.md).
FINGERPRINTED_FORMATS: frozenset[MediaFormat] = frozenset({JPEG, PNG, WEBP, GIF, TIFF, AVIF})
# Videos whose key frames are fingerprinted (verifier/video_fingerprint.py, PyAV's FFmpeg).
FINGERPRINTED_VIDEO_FORMATS: frozenset[MediaFormat] = frozenset({MP4, MOV, AVI})

SUPPORTED_FORMATS: tuple[MediaFormat, ...] = (
    JPEG,
    PNG,
    WEBP,
    GIF,
    TIFF,
    AVIF,
    HEIC,
    HEIF,
    SVG,
    MP4,
    MOV,
    M4A,
    WAV,
    MP3,
    FLAC,
    AVI,
    PDF,
)
SUPPORTED_FORMAT_NAMES: tuple[str, ...] = tuple(f.name for f in SUPPORTED_FORMATS)

# How much of the file's start is read to decide. SVG may open with a long comment or
# DOCTYPE; everything else is decided in the first 64 bytes.
_SNIFF_BYTES = 16 * 1024

# ISO BMFF `ftyp` brands (major or compatible), checked in this order of precedence.
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_M4A_BRANDS = {b"M4A ", b"M4B ", b"M4P "}
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {
    b"isom",
    b"iso2",
    b"iso3",
    b"iso4",
    b"iso5",
    b"iso6",
    b"iso7",
    b"iso8",
    b"iso9",
    b"mp41",
    b"mp42",
    b"mp71",
    b"avc1",
    b"hvc1",
    b"dash",
    b"M4V ",
    b"M4VH",
    b"M4VP",
    b"MSNV",
    b"NDAS",
    b"f4v ",
    b"XAVC",
    b"mmp4",
}
# Boxes a pre-`ftyp` QuickTime movie may start with.
_QUICKTIME_LEADING_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

# An SVG document: optional BOM, XML declaration, comments, processing instructions and a
# DOCTYPE (possibly with an internal subset), then the <svg> root element.
_SVG_PROLOGUE = re.compile(
    rb"""\A(?:\xef\xbb\xbf)?\s*
    (?:<\?xml[^>]*\?>\s*)?
    (?:<!--.*?-->\s*|<\?[^>]*\?>\s*|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*
    <svg[\s>/]""",
    re.DOTALL | re.IGNORECASE | re.VERBOSE,
)


def detect_format(path: Path) -> MediaFormat:
    """The format of the file at `path`, from its content.

    Raises UnsupportedFormat (listing the supported formats) when the bytes are not one
    of them, SourceUnreadable when the file cannot be read or is empty. The messages do
    not repeat the path: the caller shows which file it was.
    """
    try:
        with path.open("rb") as stream:
            head = stream.read(_SNIFF_BYTES)
            format_ = _from_head(head)
            if format_ is None and head.startswith(b"ID3"):
                format_ = _after_id3(stream, head)
    except IsADirectoryError as error:
        raise SourceUnreadable("it is a folder, not a file") from error
    except OSError as error:
        raise SourceUnreadable(f"cannot read it: {error.strerror or error}") from error
    if format_ is not None:
        return format_
    if not head:
        raise SourceUnreadable("the file is empty")
    raise UnsupportedFormat(describe_unrecognised(head), supported=SUPPORTED_FORMAT_NAMES)


def describe_unrecognised(head: bytes) -> str:
    """A short, safe description of bytes that are no supported format (no raw file content)."""
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace")
        return f"an ISO media file with brand {brand!r} that is not a supported format"
    if head.startswith(b"RIFF"):
        kind = head[8:12].decode("ascii", "replace")
        return f"a RIFF file of type {kind!r} that is not a supported format"
    return "not a supported media format"


def _from_head(head: bytes) -> MediaFormat | None:
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return TIFF
    if head.startswith(b"RIFF") and len(head) >= 12:
        return {b"WEBP": WEBP, b"WAVE": WAV, b"AVI ": AVI}.get(head[8:12])
    if head.startswith(b"fLaC"):
        return FLAC
    if _is_mpeg_audio_frame(head):
        return MP3
    if head[4:8] == b"ftyp":
        return _from_ftyp(head)
    if head[4:8] in _QUICKTIME_LEADING_BOXES and int.from_bytes(head[0:4], "big") >= 8:
        return MOV
    if _SVG_PROLOGUE.match(head):
        return SVG
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def _from_ftyp(head: bytes) -> MediaFormat | None:
    box_size = int.from_bytes(head[0:4], "big")
    end = min(max(box_size, 16), len(head))
    major = head[8:12]
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    brands = {major} | compatible
    if brands & _AVIF_BRANDS:
        return AVIF
    if brands & _HEIC_BRANDS:
        return HEIC
    if brands & _HEIF_BRANDS:
        return HEIF
    if major in _M4A_BRANDS:
        return M4A
    if major in _MOV_BRANDS:
        return MOV
    if major in _MP4_BRANDS or compatible & _MP4_BRANDS:
        return MP4
    return None


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG-1/2/2.5 Layer III frame header (an MP3 without an ID3 tag)."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version_bits = (head[1] >> 3) & 0b11
    layer_bits = (head[1] >> 1) & 0b11
    bitrate_index = head[2] >> 4
    sample_rate_index = (head[2] >> 2) & 0b11
    return version_bits != 0b01 and layer_bits == 0b01 and bitrate_index not in (0, 0xF) and sample_rate_index != 0b11


def _after_id3(stream: BinaryIO, head: bytes) -> MediaFormat | None:
    """An ID3v2 tag is a prefix, not a format: FLAC files carry one too. Look past it."""
    if len(head) < 10:
        return None
    size = 0
    for byte in head[6:10]:  # a "syncsafe" integer: 7 bits per byte
        if byte & 0x80:
            return None
        size = (size << 7) | byte
    footer = 10 if head[5] & 0x10 else 0
    stream.seek(10 + size + footer)
    after = stream.read(16)
    if after.startswith(b"fLaC"):
        return FLAC
    # An ID3 tag followed by anything else is how nearly every MP3 starts; the engine's
    # MP3 handler takes the tag as its anchor, so the frame itself need not be checked.
    return MP3
