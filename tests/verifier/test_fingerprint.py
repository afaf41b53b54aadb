"""verifier/fingerprint.py on real photographs from the shared corpus and on images made here."""

from __future__ import annotations

import io
import struct
import zlib
from itertools import combinations
from pathlib import Path

import iscc_core
import pytest
from PIL import Image, ImageDraw, ImageOps

from verifier.errors import UndecodableImage
from verifier.fingerprint import (
    DESCRIPTOR_BYTES,
    DESCRIPTOR_THRESHOLD,
    INDEX_VIEWS,
    MAX_PIXELS,
    QUERY_VIEWS,
    SEARCH_RADIUS,
    ImageFingerprint,
    View,
    descriptor_similarity,
    fingerprint_image,
    hamming64,
    view_code64,
    views_as_plain,
    views_from_plain,
)

# Distinct photographs and renders (different scenes), all JPEG.
PHOTOS = (
    "c2pa-js/packages/c2pa-web/test/assets/PirateShip_save_credentials_to_cloud.jpg",
    "c2pa-node/tests/fixtures/testv2.jpg",
    "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg",
    "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg",
    "c2pa-node/tests/fixtures/cloud-only-firefly.jpg",
)


@pytest.fixture(scope="module")
def photos(shared_dir: Path) -> list[Path]:
    return [shared_dir / "corpus" / name for name in PHOTOS]


def encoded(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **options)
    return out.getvalue()


def platform_copies(image: Image.Image) -> dict[str, bytes]:
    """What a platform makes of an upload: re-encoded, converted, downscaled, metadata gone."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    return {
        "jpeg q50": encoded(rgb, "JPEG", quality=50),
        "webp": encoded(rgb, "WEBP", quality=80),
        "png": encoded(rgb, "PNG"),
        "25% width": encoded(rgb.resize((width // 4, height // 4), Image.Resampling.LANCZOS), "JPEG", quality=85),
        "crop 5%": encoded(
            rgb.crop((width * 5 // 200, height * 5 // 200, width - width * 5 // 200, height - height * 5 // 200)), "PNG"
        ),
    }


def test_the_code_is_the_iscc_image_code_of_the_normalised_pixels(photos: list[Path]) -> None:
    fingerprint = fingerprint_image(photos[0])
    assert fingerprint.iscc.startswith("ISCC:EE")  # Content-Code, Image, v0 (256 bits: "EED")
    unit = iscc_core.iscc_decode(fingerprint.iscc)
    assert (unit[0], unit[1]) == (iscc_core.MT.CONTENT, iscc_core.ST_CC.IMAGE)
    assert fingerprint.code64 == int.from_bytes(unit[4][:8], "big")
    assert fingerprint.iscc_digest == bytes(iscc_core.decode_base32(fingerprint.iscc.removeprefix("ISCC:")))
    assert len(fingerprint.descriptor) == DESCRIPTOR_BYTES
    assert fingerprint_image(photos[0].read_bytes()) == fingerprint  # a path and its bytes alike


def test_platform_copies_stay_within_the_radius_and_pass_the_descriptor_check(photos: list[Path]) -> None:
    for photo in photos:
        original = fingerprint_image(photo)
        with Image.open(photo) as image:
            copies = platform_copies(image)
        for name, data in copies.items():
            copy = fingerprint_image(data)
            distance = hamming64(original.code64, copy.code64)
            similarity = descriptor_similarity(original.descriptor, copy.descriptor)
            assert distance <= SEARCH_RADIUS, f"{photo.name} {name}: {distance} bits"
            assert similarity >= DESCRIPTOR_THRESHOLD, f"{photo.name} {name}: {similarity:.3f}"


def test_unrelated_photos_are_far_apart_and_fail_the_descriptor_check(photos: list[Path]) -> None:
    fingerprints = [fingerprint_image(photo) for photo in photos]
    for a, b in combinations(fingerprints, 2):
        assert hamming64(a.code64, b.code64) > SEARCH_RADIUS
        assert descriptor_similarity(a.descriptor, b.descriptor) < DESCRIPTOR_THRESHOLD


def test_the_descriptor_check_alone_separates_a_copy_from_an_unrelated_image(photos: list[Path]) -> None:
    original, unrelated = fingerprint_image(photos[0]), fingerprint_image(photos[2])
    with Image.open(photos[0]) as image:
        copy = fingerprint_image(platform_copies(image)["jpeg q50"])
    assert descriptor_similarity(original.descriptor, copy.descriptor) >= DESCRIPTOR_THRESHOLD
    assert descriptor_similarity(original.descriptor, unrelated.descriptor) < DESCRIPTOR_THRESHOLD - 0.2


def test_exif_orientation_is_applied(photos: list[Path]) -> None:
    with Image.open(photos[1]) as image:
        upright = image.convert("RGB").resize((400, 300))
    stored_sideways = upright.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    oriented = encoded(stored_sideways, "PNG", exif=exif)
    plain = encoded(upright, "PNG")
    assert fingerprint_image(oriented) == fingerprint_image(plain)
    assert hamming64(fingerprint_image(encoded(stored_sideways, "PNG")).code64, fingerprint_image(plain).code64) > 8


def test_transparency_is_flattened_onto_white_and_the_uniform_border_trimmed(photos: list[Path]) -> None:
    with Image.open(photos[2]) as image:
        picture = image.convert("RGB").resize((200, 200))
    on_transparency = Image.new("RGBA", (260, 240), (0, 0, 0, 0))  # transparent black around it
    on_transparency.paste(picture, (30, 20))
    on_white = Image.new("RGB", (300, 300), (255, 255, 255))
    on_white.paste(picture, (50, 50))
    bare = fingerprint_image(encoded(picture, "PNG"))
    assert fingerprint_image(encoded(on_transparency, "PNG")) == bare
    assert fingerprint_image(encoded(on_white, "PNG")) == bare


def test_hamming_and_similarity_basics() -> None:
    assert hamming64(0, 2**64 - 1) == 64
    assert hamming64(0b1011, 0b0001) == 2
    ramp = bytes(range(DESCRIPTOR_BYTES))
    assert descriptor_similarity(ramp, ramp) == 1.0
    assert descriptor_similarity(ramp, bytes(255 - v for v in ramp)) == 0.0  # a negative is not a match
    flat = bytes([128]) * DESCRIPTOR_BYTES
    assert descriptor_similarity(ramp, flat) == descriptor_similarity(flat, flat) == 0.0  # a blank matches nothing
    nearly_flat = bytes(128 + (v % 3) for v in range(DESCRIPTOR_BYTES))  # std < MIN_DESCRIPTOR_STD
    assert descriptor_similarity(nearly_flat, nearly_flat) == 0.0
    assert descriptor_similarity(ramp, bytes(v // 2 + 40 for v in ramp)) > 0.99  # contrast, brightness
    with pytest.raises(ValueError):
        descriptor_similarity(ramp, ramp[:-1])


def png_header_only(width: int, height: int) -> bytes:
    """A PNG signature and IHDR chunk claiming a size, with no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"definitely not an image", id="text"),
        pytest.param(png_header_only(10, 10), id="png without pixel data"),
        pytest.param(png_header_only(20_000, MAX_PIXELS // 20_000 + 1), id="more pixels than MAX_PIXELS"),
        pytest.param(png_header_only(100_000, 100_000), id="decompression bomb"),
    ],
)
def test_undecodable_input_raises_the_domain_error(data: bytes) -> None:
    with pytest.raises(UndecodableImage):
        fingerprint_image(data)


def test_a_truncated_jpeg_raises_the_domain_error(photos: list[Path]) -> None:
    data = photos[0].read_bytes()
    with pytest.raises(UndecodableImage):
        fingerprint_image(data[: len(data) // 3])


def test_a_missing_file_raises_the_domain_error(tmp_path: Path) -> None:
    with pytest.raises(UndecodableImage):
        fingerprint_image(tmp_path / "missing.png")


def _centre_crop(image: Image.Image, kept: float) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * (1 - kept) / 2), round(height * (1 - kept) / 2)
    return image.crop((dx, dy, width - dx, height - dy))


def _passes(probe_code: int, probe_descriptor: bytes, code: int, descriptor: bytes) -> bool:
    return (
        hamming64(probe_code, code) <= SEARCH_RADIUS
        and descriptor_similarity(probe_descriptor, descriptor) >= DESCRIPTOR_THRESHOLD
    )


def test_view_code64_is_the_image_codes_first_64_bits(photos: list[Path]) -> None:
    # A symmetric image too (the Mandelbrot set about its axis): its vanishing DCT coefficients are
    # exactly 0 in both computations, not rounding noise that flips bits.
    symmetric = Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 0.4, 1.2), 60).convert("RGB")
    for data in [photo.read_bytes() for photo in photos] + [encoded(symmetric, "PNG")]:
        fingerprint = fingerprint_image(data)
        with Image.open(io.BytesIO(data)) as image:
            gray = image.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
        assert view_code64(gray.tobytes()) == int.from_bytes(
            iscc_core.soft_hash_image_v0(list(gray.tobytes()), bits=64), "big"
        )
        assert fingerprint.views == ()  # only the views asked for


def test_a_cropped_copy_matches_the_crop_view_kept_at_signing(photos: list[Path]) -> None:
    for photo in photos:
        signed = fingerprint_image(photo, views=INDEX_VIEWS)
        assert [view.view for view in signed.views] == list(INDEX_VIEWS)
        with Image.open(photo) as image:
            rgb = image.convert("RGB")
        for kept in (0.95, 0.90):
            copy = fingerprint_image(encoded(_centre_crop(rgb, kept), "JPEG", quality=85))
            assert any(_passes(copy.code64, copy.descriptor, v.code64, v.descriptor) for v in signed.views), (
                f"{photo.name}: a {100 - kept * 100:.0f}% crop matches no view"
            )


def test_a_mirrored_copy_matches_through_the_mirrored_probe(photos: list[Path]) -> None:
    for photo in photos:
        signed = fingerprint_image(photo)
        with Image.open(photo) as image:
            mirrored = ImageOps.mirror(image.convert("RGB"))
        copy = fingerprint_image(encoded(mirrored, "JPEG", quality=85), views=QUERY_VIEWS)
        assert not _passes(copy.code64, copy.descriptor, signed.code64, signed.descriptor)
        assert [view.view for view in copy.views][:2] == [View.MIRROR, View.TOLERANT_TRIM]
        (probe,) = [view for view in copy.views if view.view is View.MIRROR]
        assert _passes(probe.code64, probe.descriptor, signed.code64, signed.descriptor), photo.name


def test_the_views_of_unrelated_photos_do_not_pass_both_checks(photos: list[Path]) -> None:
    signed = [fingerprint_image(photo, views=INDEX_VIEWS) for photo in photos]
    queries = [fingerprint_image(photo, views=QUERY_VIEWS) for photo in photos]
    for i, query in enumerate(queries):
        probes = [(query.code64, query.descriptor)] + [(v.code64, v.descriptor) for v in query.views]
        for j, entry in enumerate(signed):
            rows = [(entry.code64, entry.descriptor)] + [(v.code64, v.descriptor) for v in entry.views]
            if i != j:
                assert not any(_passes(*probe, *row) for probe in probes for row in rows)


def test_views_cross_a_process_boundary_as_plain_values_checked_field_by_field(photos: list[Path]) -> None:
    views = fingerprint_image(photos[0], views=INDEX_VIEWS + QUERY_VIEWS).views
    assert views_from_plain(views_as_plain(views)) == views
    for malformed in [
        [("crop 5%", 1, b"\0" * DESCRIPTOR_BYTES)],  # a list
        (("crop 3%", 1, b"\0" * DESCRIPTOR_BYTES),),  # no such view
        (("crop 5%", 1 << 64, b"\0" * DESCRIPTOR_BYTES),),
        (("crop 5%", 1, b"\0" * 5),),
        (("crop 5%", 1),),
    ]:
        with pytest.raises(ValueError):
            views_from_plain(malformed)


def test_the_fingerprint_is_a_plain_frozen_value() -> None:
    fingerprint = ImageFingerprint(code64=1, iscc="ISCC:X", descriptor=b"\x00")
    with pytest.raises(AttributeError):
        fingerprint.code64 = 2  # type: ignore[misc]


def test_the_tolerant_trim_is_a_probe_and_the_stored_code_keeps_the_exact_iscc_trim(photos: list[Path]) -> None:
    with Image.open(photos[2]) as image:
        picture = image.convert("RGB").resize((200, 150))
    # A border 5 grey levels off the top-left pixel's colour: not the exact rule's border.
    framed = Image.new("RGB", (260, 210), (250, 250, 250))
    framed.paste(picture, (30, 30))
    framed.putpixel((0, 0), (255, 255, 255))
    bare = fingerprint_image(encoded(picture, "PNG"))
    fingerprint = fingerprint_image(encoded(framed, "PNG"), views=QUERY_VIEWS)
    whole = framed.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    assert fingerprint.code64 == int.from_bytes(iscc_core.soft_hash_image_v0(list(whole.tobytes()), bits=64), "big")
    assert fingerprint_image(encoded(framed, "PNG")) == fingerprint.__class__(
        code64=fingerprint.code64, iscc=fingerprint.iscc, descriptor=fingerprint.descriptor
    )
    (tolerant,) = [view for view in fingerprint.views if view.view is View.TOLERANT_TRIM]
    assert (tolerant.code64, tolerant.descriptor) == (bare.code64, bare.descriptor)


def drawing_on_white() -> Image.Image:
    """A flat drawing on white, as Tux Paint's stamps are: a re-encoded copy rings around it."""
    image = Image.new("RGB", (480, 360), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.polygon([(60, 300), (240, 40), (420, 300)], fill=(200, 20, 20))
    draw.rectangle((150, 200, 300, 280), fill=(20, 20, 20))
    draw.ellipse((300, 120, 400, 220), fill=(240, 200, 0))
    return image


def test_a_re_encoded_drawing_on_a_flat_background_finds_its_original_through_the_tolerant_trim() -> None:
    original = drawing_on_white()
    signed = fingerprint_image(encoded(original, "PNG"), views=INDEX_VIEWS)
    rows = [(signed.code64, signed.descriptor)] + [(v.code64, v.descriptor) for v in signed.views]
    width, height = original.size
    small = original.resize((width // 4, height // 4), Image.Resampling.LANCZOS)
    copy = fingerprint_image(encoded(small, "JPEG", quality=90), views=QUERY_VIEWS)
    (tolerant,) = [view for view in copy.views if view.view is View.TOLERANT_TRIM]
    assert hamming64(tolerant.code64, signed.code64) < hamming64(copy.code64, signed.code64)
    assert _passes(tolerant.code64, tolerant.descriptor, signed.code64, signed.descriptor)
    assert any(_passes(tolerant.code64, tolerant.descriptor, *row) for row in rows)


def traffic_light() -> Image.Image:
    """A drawing symmetric left to right on white: its odd horizontal DCT coefficients are exactly 0."""
    image = Image.new("RGB", (240, 480), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((50, 20, 189, 380), radius=30, fill=(40, 40, 40))
    draw.rectangle((110, 380, 129, 470), fill=(90, 90, 90))
    for top, colour in ((40, (90, 20, 20)), (150, (90, 80, 10)), (260, (30, 220, 60))):
        draw.ellipse((75, top, 164, top + 89), fill=colour)
    assert image.tobytes() == ImageOps.mirror(image).tobytes()
    return image


def test_a_copy_of_a_symmetric_drawing_finds_its_original_through_the_symmetrised_probe() -> None:
    original = traffic_light()
    signed = fingerprint_image(encoded(original, "PNG"), views=INDEX_VIEWS)
    width, height = original.size
    small = original.resize((width // 4, height // 4), Image.Resampling.LANCZOS)
    copy = fingerprint_image(encoded(small, "JPEG", quality=90), views=QUERY_VIEWS)
    assert [view.view for view in copy.views] == list(QUERY_VIEWS)
    (symmetrised,) = [view for view in copy.views if view.view is View.SYMMETRISED]
    assert hamming64(symmetrised.code64, signed.code64) < hamming64(copy.code64, signed.code64)
    assert _passes(symmetrised.code64, symmetrised.descriptor, signed.code64, signed.descriptor)


def test_an_asymmetric_image_gets_no_symmetrised_probe(photos: list[Path]) -> None:
    for photo in photos:
        views = fingerprint_image(photo, views=QUERY_VIEWS).views
        assert [view.view for view in views] == [View.MIRROR, View.TOLERANT_TRIM], photo.name
