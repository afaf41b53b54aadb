"""The content fingerprint of an image: what finds a signed image again once its credentials are gone.

Two parts, used in two stages by whoever searches (the manifest repository):

1. `code64`, the 64-bit body of the ISCC Image-Code v0 (ISO 24138; `io.iscc.v0` on the C2PA soft
   binding algorithm list), compared by Hamming distance: candidates are the entries within
   `SEARCH_RADIUS` bits. It is the first 64 bits of the 256-bit Image-Code that the signer writes
   in the `c2pa.soft-binding` assertion (`iscc`; the body's bits are the signs of 8x8 blocks of
   DCT coefficients, the low-frequency block first), so any ISCC resolver can use the stored value.
2. `descriptor`, a finer check every candidate must pass before it is reported: a 16x16 grayscale
   thumbnail of the same normalised image, compared by correlation (`descriptor_similarity`,
   at least `DESCRIPTOR_THRESHOLD`). The code keeps only the signs of a few DCT coefficients;
   the thumbnail keeps the pixel values themselves, so two unrelated images whose coarse
   structure happens to give close codes still differ here (measured: docs/soft-bindings.md).

3. `views`, index-only codes of other views of the same image (`View`): at signing, centre crops
   of it (`INDEX_VIEWS`), kept by the repository as extra rows beside the real binding, so that a
   cropped copy finds a code (and a descriptor) made from about the same region; at lookup
   (`QUERY_VIEWS`), the mirrored query, so that a flipped copy finds the original, the query with
   its border trimmed within `BORDER_TOLERANCE` (a re-encoded drawing's background is no longer
   exactly uniform), and that symmetrised when nearly symmetric (a symmetric drawing's exact-zero
   coefficients). A view's code is computed like the Image-Code's first 64 bits (`view_code64`),
   never written in a manifest.

The image is normalised as the ISCC specification and iscc-sdk do: EXIF orientation applied,
transparency flattened onto white, a uniform border (exactly the colour of the top-left pixel)
trimmed, grayscale, 32x32 bicubic: `code64`, `iscc` and `descriptor`, what is stored and written,
follow that rule alone; only the lookup's probes trim within a tolerance as well. Two bounds
keep a hostile or huge upload cheap: JPEGs are decoded at a reduced scale by the codec itself
(`Image.draft`, at least `_DECODE_EDGE` pixels on each side; the code differs from a full decode
by a few bits at most, well inside the search radius), and an image of more than `MAX_PIXELS`
pixels is refused from its header, before any pixel is decoded.
"""

from __future__ import annotations

import enum
import io
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import iscc_core
from PIL import Image, ImageChops, ImageOps, ImageStat, UnidentifiedImageError

from verifier.errors import UndecodableImage
from verifier.iscc_dct import dct32_first8

ALG = "io.iscc.v0"

# Hamming radius over code64 for the candidate search, and the lowest descriptor similarity a
# candidate must reach to be reported. Chosen from bench/softbinding_bench.py's grid over 511
# distinct images x 12 transforms (docs/soft-bindings.md): the smallest pair with no false
# recovery among 6,132 unrelated queries. Radius 12 at 0.92 recovered 0.1% more copies but
# reported 2 unrelated images; 10 also keeps the candidates per query few (2.6e-5 of the entries).
SEARCH_RADIUS = 10
DESCRIPTOR_THRESHOLD = 0.92

# Pillow's own decompression-bomb bound (Image.MAX_IMAGE_PIXELS, ~89 Mpx) is a process-wide
# setting we leave alone; this one is checked from the header before decoding.
MAX_PIXELS = 100_000_000

# A descriptor flatter than this (standard deviation, in grey levels) is a blank or nearly blank
# image: its code and thumbnail say nothing about it, so it matches nothing (measured: transparent
# overlays flattened onto white, a white shape on white).
MIN_DESCRIPTOR_STD = 4.0

IMAGE_CODE_BITS = 256  # written in the assertion; code64 is its first 64 bits
_NORMALISED_EDGE = 32  # the ISCC Image-Code's input: 32x32 grayscale pixels
_DESCRIPTOR_EDGE = 16
DESCRIPTOR_BYTES = _DESCRIPTOR_EDGE * _DESCRIPTOR_EDGE
# Decode scale: a JPEG codec skips DCT detail down to 1/8 while both sides stay at least this long,
# other formats are box-reduced to about this size after decoding.
_DECODE_EDGE = 256


class View(enum.StrEnum):
    """Another view of an image whose code is searched too (its value names it in the repository)."""

    CROP_2_5 = "crop 2.5%"  # the centre, 2.5% of each side cut off (1.25% off each edge)
    CROP_5 = "crop 5%"
    CROP_7_5 = "crop 7.5%"
    CROP_10 = "crop 10%"
    MIRROR = "mirror"  # flipped left to right
    # Its border trimmed within BORDER_TOLERANCE of the corner colour, not only of exactly that colour.
    TOLERANT_TRIM = "tolerant trim"
    # That, averaged with its mirror image; only for an image nearly symmetric left to right.
    SYMMETRISED = "symmetrised"


_CROPPED: dict[View, float] = {View.CROP_2_5: 0.025, View.CROP_5: 0.05, View.CROP_7_5: 0.075, View.CROP_10: 0.10}
# Measured (docs/soft-bindings.md): with the 4 crops kept, a centre crop of 5% is found as often as a
# re-encoded copy, one of 10% almost; a crop between two kept ones lands within the radius of one.
INDEX_VIEWS: tuple[View, ...] = (View.CROP_2_5, View.CROP_5, View.CROP_7_5, View.CROP_10)
# The tolerant trim: a re-encoded copy of a drawing on a flat background has JPEG ringing around
# the drawing, so its background is no longer exactly the corner colour and the exact trim (the
# ISCC rule, what the stored codes were computed with) leaves a wider frame than the original's
# (measured: 144x144 px trimmed from the original, 152x152 from its copy). Trimmed within
# BORDER_TOLERANCE it gets about the original's frame again. A probe only: the stored codes, and
# the Image-Code written in the manifest, keep the exact ISCC trim (docs/soft-bindings.md).
#
# The symmetrised probe: a drawing symmetric left to right (a road sign, a traffic light) has its
# odd horizontal DCT coefficients exactly 0, so the original's bits for them are all 0 (0 is also
# their median), while a copy's noise gives them random signs (~16 bits). Averaged with its mirror
# image, a nearly symmetric copy has them exactly 0 again. Only below SYMMETRY_TOLERANCE: an
# asymmetric image's symmetrised code is another picture's, a probe that could only find wrong ones.
QUERY_VIEWS: tuple[View, ...] = (View.MIRROR, View.TOLERANT_TRIM, View.SYMMETRISED)
# Grey levels (per channel) by which a border pixel may differ from the corner colour in the tolerant trim.
BORDER_TOLERANCE = 16
# Mean absolute difference (grey levels) between the tolerant trim's 32x32 pixels and their mirror
# image up to which the symmetrised probe is made (measured: re-encoded copies of symmetric drawings 0-2).
SYMMETRY_TOLERANCE = 3.0


@dataclass(frozen=True, slots=True)
class ViewCode:
    """The code and descriptor of one view of an image: index-only, never written in a manifest."""

    view: View
    code64: int
    descriptor: bytes


@dataclass(frozen=True, slots=True)
class ImageFingerprint:
    """What the repository stores and searches for one image."""

    code64: int  # the first 64 bits of the ISCC Image-Code body, unsigned
    iscc: str  # the 256-bit ISCC Image-Code, canonical ("ISCC:EED...")
    descriptor: bytes  # DESCRIPTOR_BYTES grayscale values, row by row (16x16)
    # The views asked for (fingerprint_image's `views`), in that order; SYMMETRISED only where it applies.
    views: tuple[ViewCode, ...] = ()

    @property
    def iscc_digest(self) -> bytes:
        """The ISCC-UNIT in binary (header and body): what the soft-binding assertion carries, base64-encoded."""
        return bytes(iscc_core.decode_base32(self.iscc.removeprefix("ISCC:")))


def fingerprint_image(source: Path | bytes, *, views: tuple[View, ...] = ()) -> ImageFingerprint:
    """The fingerprint of an image file (a path or its bytes), with the codes of `views` (INDEX_VIEWS
    at signing, QUERY_VIEWS at lookup); UndecodableImage when Pillow cannot decode it."""
    stream: IO[bytes]
    try:
        stream = source.open("rb") if isinstance(source, Path) else io.BytesIO(source)
    except OSError as error:
        raise UndecodableImage(f"cannot read the image: {error.strerror or error}") from error
    with stream:
        reduced = _decoded(stream)
    return _fingerprint_of(reduced, views)


def fingerprint_decoded(image: Image.Image, *, views: tuple[View, ...] = ()) -> ImageFingerprint:
    """The fingerprint of pixels decoded elsewhere (a video frame): the same normalisation from there on.

    The image is oriented as it is shown (no EXIF to apply); bound its size before decoding it.
    """
    return _fingerprint_of(_reduced(image), views)


def _fingerprint_of(reduced: Image.Image, views: tuple[View, ...] = ()) -> ImageFingerprint:
    """From the flattened, box-reduced RGB image (`_reduced`): the exact ISCC trim for the code
    and the descriptor, whatever a view asks for its own."""
    gray = _trim_border(reduced).convert("L")
    pixels = list(gray.resize((_NORMALISED_EDGE, _NORMALISED_EDGE), Image.Resampling.BICUBIC).tobytes())
    iscc = iscc_core.gen_image_code_v0(pixels, bits=IMAGE_CODE_BITS)["iscc"]
    body = iscc_core.decode_base32(iscc.removeprefix("ISCC:"))[2:]  # a 2-byte header for 256 bits
    return ImageFingerprint(
        code64=int.from_bytes(body[:8], "big"),
        iscc=iscc,
        descriptor=_descriptor(gray),
        views=tuple(code for view in dict.fromkeys(views) if (code := _view_code(gray, reduced, view)) is not None),
    )


def _descriptor(gray: Image.Image) -> bytes:
    return gray.resize((_DESCRIPTOR_EDGE, _DESCRIPTOR_EDGE), Image.Resampling.BOX).tobytes()


def _view_code(gray: Image.Image, reduced: Image.Image, view: View) -> ViewCode | None:
    """The view of the normalised image (`gray`; `reduced`: before its border was trimmed), normalised
    again as a copy of that view would be (a crop's uniform border trimmed), and its code and
    descriptor; None for SYMMETRISED when the image is not nearly symmetric."""
    if view is View.MIRROR:
        seen = ImageOps.mirror(gray)
    elif view in (View.TOLERANT_TRIM, View.SYMMETRISED):
        seen = _trim_border(reduced, tolerance=BORDER_TOLERANCE).convert("L")
        if view is View.SYMMETRISED:
            return _symmetrised_code(seen)
    else:
        width, height = gray.size
        dx, dy = round(width * _CROPPED[view] / 2), round(height * _CROPPED[view] / 2)
        seen = (
            _trim_border(gray.crop((dx, dy, width - dx, height - dy))) if dx < width / 2 and dy < height / 2 else gray
        )
    pixels = seen.resize((_NORMALISED_EDGE, _NORMALISED_EDGE), Image.Resampling.BICUBIC).tobytes()
    return ViewCode(view=view, code64=view_code64(pixels), descriptor=_descriptor(seen))


def _symmetrised_code(seen: Image.Image) -> ViewCode | None:
    """SYMMETRISED: the code of `seen`'s 32x32 pixels averaged with their mirror image (symmetric
    exactly: each pair of mirrored pixels gets the same value), with `seen`'s own descriptor (the
    second check compares the copy's real pixels); None when they are not nearly symmetric."""
    small = seen.resize((_NORMALISED_EDGE, _NORMALISED_EDGE), Image.Resampling.BICUBIC)
    mirrored = ImageOps.mirror(small)
    if ImageStat.Stat(ImageChops.difference(small, mirrored)).mean[0] > SYMMETRY_TOLERANCE:
        return None
    pixels = ImageChops.add(small, mirrored, scale=2.0).tobytes()
    return ViewCode(view=View.SYMMETRISED, code64=view_code64(pixels), descriptor=_descriptor(seen))


def view_code64(pixels: bytes) -> int:
    """The first 64 bits of the ISCC Image-Code of 32x32 grayscale pixels (row by row): iscc-core's
    own DCT unrolled for the 8 lowest outputs (`verifier.iscc_dct`: the same float operations, so
    a symmetric image's vanishing coefficients are exactly 0 here too), for the 8x8 lowest
    coefficients only. Equal to `code64` for the same pixels (tests/verifier/test_fingerprint.py,
    tests/verifier/test_iscc_dct.py); for views, never written."""
    return code64_through(pixels, dct32_first8)


def code64_through(pixels: bytes, dct_first8: Callable[[Sequence[float]], Sequence[float]]) -> int:
    """`view_code64` with the DCT given (its 8 lowest outputs of 32 inputs): the benchmark times the
    same rule through iscc-core's own `alg_dct`."""
    edge = _NORMALISED_EDGE
    rows = [dct_first8(pixels[i * edge : (i + 1) * edge]) for i in range(edge)]
    columns = [dct_first8([row[x] for row in rows]) for x in range(8)]
    coefficients = [columns[x][y] for y in range(8) for x in range(8)]
    median = statistics.median(coefficients)
    code = 0
    for value in coefficients:
        code = (code << 1) | (value > median)
    return code


def views_as_plain(views: tuple[ViewCode, ...]) -> tuple[tuple[str, int, bytes], ...]:
    """Views as plain values, for a worker's reply (which carries no class)."""
    return tuple((code.view.value, code.code64, code.descriptor) for code in views)


def views_from_plain(value: object) -> tuple[ViewCode, ...]:
    """Views from plain values, checked field by field (they come from a process that read an upload);
    ValueError when malformed."""
    if not isinstance(value, tuple) or len(value) > len(View):
        raise ValueError("views are a tuple of at most one code per view")
    views = []
    for item in value:
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], str)):
            raise ValueError("a view is (name, code64, descriptor)")
        name, code64, descriptor = item
        if not (isinstance(code64, int) and 0 <= code64 < 1 << 64) or not (
            isinstance(descriptor, bytes) and len(descriptor) == DESCRIPTOR_BYTES
        ):
            raise ValueError("a view's code is 64 bits and its descriptor DESCRIPTOR_BYTES long")
        views.append(ViewCode(view=View(name), code64=code64, descriptor=descriptor))
    return tuple(views)


def hamming64(a: int, b: int) -> int:
    """Bits that differ between two 64-bit codes."""
    return (a ^ b).bit_count()


def descriptor_similarity(a: bytes, b: bytes) -> float:
    """How alike two descriptors are: their Pearson correlation, 1.0 identical .. 0.0 unrelated or opposite.

    Correlation ignores brightness and contrast (a platform's re-encode or tone curve); a (nearly)
    flat descriptor, below MIN_DESCRIPTOR_STD, scores 0.0 against anything, itself included.
    """
    if len(a) != DESCRIPTOR_BYTES or len(b) != DESCRIPTOR_BYTES:
        raise ValueError(f"a descriptor is {DESCRIPTOR_BYTES} bytes long; got {len(a)} and {len(b)}")
    n = DESCRIPTOR_BYTES
    mean_a = sum(a) / n
    mean_b = sum(b) / n
    covariance = var_a = var_b = 0.0
    for x, y in zip(a, b, strict=True):
        dx = x - mean_a
        dy = y - mean_b
        covariance += dx * dy
        var_a += dx * dx
        var_b += dy * dy
    floor = MIN_DESCRIPTOR_STD * MIN_DESCRIPTOR_STD * n
    if var_a < floor or var_b < floor:
        return 0.0
    return max(0.0, min(1.0, covariance / math.sqrt(var_a * var_b)))


def _decoded(stream: IO[bytes]) -> Image.Image:
    """Decoded (full or draft resolution), oriented, then `_reduced`."""
    try:
        opened = Image.open(stream)
        width, height = opened.size
        if width * height > MAX_PIXELS:
            raise UndecodableImage(f"the image is {width}x{height} pixels; at most {MAX_PIXELS:,} are fingerprinted")
        if opened.format == "JPEG":
            # A reduced-scale decode: the DCT does the downscaling, ~10x faster on large photos.
            opened.draft("RGB", (_DECODE_EDGE, _DECODE_EDGE))
        opened.load()
        return _reduced(ImageOps.exif_transpose(opened))
    except UndecodableImage:
        raise
    except Image.DecompressionBombError as error:
        raise UndecodableImage(f"the image has too many pixels to decode: {error}") from error
    except UnidentifiedImageError as error:
        raise UndecodableImage("not an image format Pillow can decode") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        # Pillow's decoders report truncated or corrupt data with these (SyntaxError: a bad header).
        raise UndecodableImage(f"the image data cannot be decoded: {error}") from error


def _reduced(image: Image.Image) -> Image.Image:
    """Flattened onto white, box-reduced: the one rule for stills and video frames up to the border
    trim (`_fingerprint_of` trims it and takes it to grayscale)."""
    image = _flatten_onto_white(image)
    # Box-averaged down to about _DECODE_EDGE on the short side first: trimming and the
    # 32x32 resize then touch far fewer pixels, and a uniform border stays uniform.
    factor = min(image.size) // _DECODE_EDGE
    if factor >= 2:
        image = image.reduce(factor)
    return image


def _flatten_onto_white(image: Image.Image) -> Image.Image:
    """RGB, with any transparency (alpha channel or palette transparency) composited onto white."""
    if image.mode == "RGB":
        return image
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _trim_border(image: Image.Image, *, tolerance: int = 0) -> Image.Image:
    """Without a border of the top-left pixel's colour: exactly that colour (the ISCC rule), or within
    `tolerance` grey levels of it in every channel. An image that is all border is kept whole."""
    background = Image.new(image.mode, image.size, image.getpixel((0, 0)))
    difference = ImageChops.difference(image, background)
    if tolerance:
        above = [0] * (tolerance + 1) + [255] * (255 - tolerance)  # a lookup table per channel
        difference = difference.point(above * len(image.getbands()))
    box = difference.getbbox()
    if box is None or box == (0, 0, *image.size):
        return image
    return image.crop(box)
