"""Feed thumbnails (issue 15, "the feed shows the media"): one small signed thumbnail per media id
of a tenant that turned them on (`originmark tenants update NAME --feed-thumbnails`).

Rules:
- made when a file is signed (POST /v1/sign) or verified (POST /v1/verify) with a media id, after
  the answer is sent (app/api/feed_thumbnails.py): the caller never waits for it, and a thumbnail
  that cannot be made (a format Pillow does not read, a bomb, a failed signature) is logged and the
  item keeps its placeholder; the sign or verify answer is the same either way;
- the picture: the file's first frame, turned upright (EXIF orientation), scaled with its aspect
  ratio kept to at most THUMBNAIL_EDGE px on its longest side, a JPEG (`make_picture`). The decode
  is bounded before any pixel is read: the file's size (MAX_SOURCE_BYTES), the image's pixel count
  from its header (MAX_SOURCE_PIXELS, under Pillow's own decompression-bomb limit), the decoders
  Pillow may use (THUMBNAIL_SOURCE_FORMATS: no plugin chosen by the file's bytes alone), and JPEG's
  reduced decode (draft mode). Videos, audio, PDF, SVG, AVIF and HEIC get no thumbnail (their
  placeholder stays);
- signed as a rendition of the media id's original by the renditions use case
  (app/usecases/renditions.py, the path POST /v1/renditions takes): the original's kept manifest
  store is its parentOf ingredient, its actions c2pa.resized.proportional (+ c2pa.converted when
  the original was not a JPEG), its label the original's. An original without credentials gives a
  thumbnail labelled "no credentials upstream" (the tenant asked for pictures: nothing is
  invented); an invalid one, or one whose store is not kept (verified without keep_manifest), gives
  none. The thumbnail is recorded like any rendition (audit entry, verdict by content, repository
  entry; private when the original's is) but under no media id of its own: it is not a feed item;
- kept in the database (`feed_thumbnails`, a few tens of KB each: no object store needed, one
  backup), served by GET /v1/thumbnails/{media_id} to the tenant (with a read key) or, with public
  label reads, to anyone naming the tenant, but then only when not private; only while the media id
  still points at the content it was made from. Turning the setting off deletes them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

THUMBNAIL_EDGE = 320
THUMBNAIL_QUALITY = 82
THUMBNAIL_CONTENT_TYPE = "image/jpeg"
MAX_SOURCE_BYTES = 64 * 1024 * 1024
# 50 MP: a large camera frame; below Pillow's warning (89 MP) and far below its error (179 MP).
MAX_SOURCE_PIXELS = 50_000_000
THUMBNAIL_SOURCE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
RESIZED = "c2pa.resized.proportional"
CONVERTED = "c2pa.converted"


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
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
            rgb = _flattened(upright)
            out = io.BytesIO()
            rgb.save(out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    except NoThumbnail:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, MemoryError) as error:
        # UnidentifiedImageError is an OSError: a format outside THUMBNAIL_SOURCE_FORMATS, or junk.
        raise NoThumbnail(f"the picture cannot be decoded: {type(error).__name__}: {error}") from None
    actions = (RESIZED,) if source_format == "JPEG" else (RESIZED, CONVERTED)
    return Picture(content=out.getvalue(), width=rgb.width, height=rgb.height, actions=actions)


def _flattened(image: Image.Image) -> Image.Image:
    """RGB; transparency laid on white (a JPEG has none)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
