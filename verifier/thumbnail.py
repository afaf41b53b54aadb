"""A feed thumbnail's picture from an untrusted upload (issue 15, "the feed shows the media";
the rules: app/usecases/thumbnails.py).

Run in a verifier worker (verifier/isolation.py, `IsolatedVerifier.thumbnail_of`), under its
memory and time limits, like the content fingerprint: the upload is untrusted and so are
Pillow's and FFmpeg's decoders. Bounded before any pixel is read, too:
- an image: the file's size (MAX_SOURCE_BYTES), the image's pixel count from its header
  (MAX_SOURCE_PIXELS, under Pillow's own decompression-bomb limit), the decoders Pillow may use
  (THUMBNAIL_SOURCE_FORMATS: no plugin chosen by the file's bytes alone), and JPEG's reduced decode
  (draft mode). The picture: its first frame, turned upright (EXIF orientation);
- a video (MP4, QuickTime, AVI, as sniffed from its first bytes): its poster frame, the first key
  frame, decoded by verifier/video_fingerprint.py `poster_frame` within the video fingerprint's
  bounds (the frame size from the container header and as decoded, at most 8K UHD; the packets
  read; one decoding thread); only the packets up to that frame are read, so a video is not bounded
  by its file size. Turned upright as a player shows it (the track's display matrix).
Either way: scaled with its aspect ratio kept to at most THUMBNAIL_EDGE px on its longest side, a
JPEG; and the actions a rendition's manifest says for it (C2PA 2.x action list):
- `c2pa.resized.proportional`: the picture was scaled down, its aspect ratio kept;
- `c2pa.converted` ("the format of the asset was changed") when the original is not a JPEG. For a
  video that is the whole of what was done besides the scaling: the still is the video's own first
  key frame, in an image format, its pixels otherwise as decoded. Why not `c2pa.trimmed` ("removal
  of a temporal range"): no frame was chosen or cut by anyone (the first key frame, always), the
  C2PA conformance rubric requires a digitalSourceType on that perceptible action and no IPTC term
  truthfully describes a frame grab, and the signals rubric would then call a camera video's
  untouched frame "perceptibly transformed"; the thumbnail's manifest names the video (its format
  `video/mp4`, ...) as the parentOf ingredient, so what the still is a still of stays said. This
  is the spec's own notion of a video's thumbnail (a claim thumbnail of a video is a frame of it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from verifier.media_type import sniff_media_type

THUMBNAIL_EDGE = 320
THUMBNAIL_QUALITY = 82
THUMBNAIL_CONTENT_TYPE = "image/jpeg"
MAX_SOURCE_BYTES = 64 * 1024 * 1024
# 50 MP: a large camera frame; below Pillow's warning (89 MP) and far below its error (179 MP).
MAX_SOURCE_PIXELS = 50_000_000
THUMBNAIL_SOURCE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
RESIZED = "c2pa.resized.proportional"
CONVERTED = "c2pa.converted"
# A 320 px JPEG is tens of KB; anything near this from a worker is not one.
MAX_PICTURE_BYTES = 1024 * 1024


class NoThumbnail(Exception):
    """This file gets no thumbnail (why, for the log); its placeholder stays."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Picture:
    content: bytes = field(repr=False)
    width: int
    height: int
    actions: tuple[str, ...]  # what the rendition did, for its manifest


def make_picture(path: Path) -> Picture:
    """The thumbnail's pixels as a JPEG (NoThumbnail when the file cannot or may not be decoded)."""
    with path.open("rb") as file:
        media_type = sniff_media_type(file.read(64))
    if media_type is not None and media_type.startswith("video/"):
        return _video_picture(path)
    size = path.stat().st_size
    if size > MAX_SOURCE_BYTES:
        raise NoThumbnail(f"the file is {size} bytes, over the {MAX_SOURCE_BYTES} a thumbnail is made from")
    try:
        with Image.open(path, formats=THUMBNAIL_SOURCE_FORMATS) as image:
            source_format = image.format
            width, height = image.size
            if width <= 0 or height <= 0 or width * height > MAX_SOURCE_PIXELS:
                raise NoThumbnail(f"{width}x{height} pixels: over the {MAX_SOURCE_PIXELS} a thumbnail is decoded from")
            # JPEG only: decode at 1/2 .. 1/8 scale, still at least twice the thumbnail's size.
            image.draft("RGB", (THUMBNAIL_EDGE * 2, THUMBNAIL_EDGE * 2))
            picture = _scaled_jpeg(ImageOps.exif_transpose(image), converted=source_format != "JPEG")
    except NoThumbnail:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError) as error:
        # UnidentifiedImageError is an OSError: a format outside THUMBNAIL_SOURCE_FORMATS, or junk.
        raise NoThumbnail(f"the picture cannot be decoded: {type(error).__name__}: {error}") from None
    return picture


def _video_picture(path: Path) -> Picture:
    """A video's poster frame (its first key frame, upright), scaled: converted to a still JPEG."""
    from verifier.errors import UndecodableVideo
    from verifier.video_fingerprint import poster_frame  # FFmpeg's libraries: loaded for videos only

    try:
        frame = poster_frame(path)
        return _scaled_jpeg(frame, converted=True)
    except UndecodableVideo as error:
        raise NoThumbnail(f"the video cannot be decoded into a poster frame: {error}") from None
    except (OSError, ValueError, MemoryError) as error:
        raise NoThumbnail(f"the poster frame cannot be made: {type(error).__name__}: {error}") from None


def _scaled_jpeg(image: Image.Image, *, converted: bool) -> Picture:
    """`image` scaled to at most THUMBNAIL_EDGE px on its longest side (aspect ratio kept), as a JPEG."""
    image.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
    rgb = _flattened(image)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    actions = (RESIZED, CONVERTED) if converted else (RESIZED,)
    return Picture(content=out.getvalue(), width=rgb.width, height=rgb.height, actions=actions)


def _flattened(image: Image.Image) -> Image.Image:
    """RGB; transparency laid on white (a JPEG has none)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def rendition_actions_allowed(actions: tuple[object, ...]) -> bool:
    """The actions a picture may say it did (what make_picture names): checked on a worker's reply."""
    return actions in ((RESIZED,), (RESIZED, CONVERTED))
