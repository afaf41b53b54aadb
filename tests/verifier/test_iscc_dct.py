"""verifier/iscc_dct.py: the unrolled DCT gives iscc-core's doubles bit for bit, and view_code64
the Image-Code's first 64 bits, on many images, symmetric ones (exact zeros) among them."""

from __future__ import annotations

import random
import runpy
from collections.abc import Sequence
from pathlib import Path

import iscc_core
from PIL import Image, ImageDraw, ImageOps

from verifier.fingerprint import view_code64
from verifier.iscc_dct import dct32_first8

ROOT = Path(__file__).resolve().parents[2]


def test_the_module_is_the_generators_output() -> None:
    generator = runpy.run_path(str(ROOT / "scripts" / "generate_iscc_dct.py"))
    assert (ROOT / "verifier" / "iscc_dct.py").read_text() == generator["source"]()


def vectors(rng: random.Random) -> list[Sequence[float]]:
    """Pixel rows (integers) and column inputs (doubles), plain and (anti)symmetric."""
    found: list[Sequence[float]] = [[0.0] * 32, [255] * 32, list(range(32)), [(-1) ** i * 100 for i in range(32)]]
    for _ in range(400):
        half = [rng.randrange(256) for _ in range(16)]
        found.append([rng.randrange(256) for _ in range(32)])
        found.append(half + half[::-1])  # symmetric: every odd output exactly 0.0
        doubles = [rng.uniform(-8000.0, 8000.0) for _ in range(16)]
        found.append(doubles + doubles[::-1])
        found.append(doubles + [-x for x in doubles[::-1]])  # antisymmetric: every even output exactly 0.0
        found.append([rng.uniform(-8000.0, 8000.0) for _ in range(32)])
    return found


def test_dct32_first8_is_alg_dct_bit_for_bit() -> None:
    for vector in vectors(random.Random(7)):
        expected = iscc_core.alg_dct(vector)[:8]
        got = dct32_first8(vector)
        assert [x.hex() if isinstance(x, float) else x for x in got] == [
            x.hex() if isinstance(x, float) else x for x in expected
        ], vector


def symmetric_drawing(seed: int) -> Image.Image:
    """A road-sign-like drawing, mirrored about its vertical axis, on white."""
    rng = random.Random(seed)
    image = Image.new("L", (160, 120), 255)
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x0, y0 = rng.randrange(0, 70), rng.randrange(0, 100)
        draw.ellipse((x0, y0, 159 - x0, y0 + rng.randrange(5, 40)), fill=rng.randrange(200))
    left = image.crop((0, 0, 80, 120))
    image.paste(ImageOps.mirror(left), (80, 0))
    return image


def pixel_sets() -> list[bytes]:
    rng = random.Random(11)
    found: list[bytes] = [bytes(1024), bytes([255]) * 1024, bytes(i % 256 for i in range(1024))]
    for seed in range(60):
        noise = Image.frombytes("L", (32, 32), bytes(rng.randrange(256) for _ in range(1024)))
        drawing = symmetric_drawing(seed).resize((32, 32), Image.Resampling.BICUBIC)
        left = noise.crop((0, 0, 16, 32))
        mirrored = noise.copy()
        mirrored.paste(ImageOps.mirror(left), (16, 0))
        top = noise.crop((0, 0, 32, 16))
        flipped = noise.copy()
        flipped.paste(ImageOps.flip(top), (0, 16))
        both = mirrored.copy()
        both.paste(ImageOps.flip(mirrored.crop((0, 0, 32, 16))), (0, 16))
        found += [image.tobytes() for image in (noise, drawing, mirrored, flipped, both)]
    mandelbrot = Image.effect_mandelbrot((320, 240), (-2.0, -1.2, 0.4, 1.2), 60)
    found.append(mandelbrot.resize((32, 32), Image.Resampling.BICUBIC).tobytes())
    return found


def test_view_code64_is_the_image_codes_first_64_bits_on_many_images() -> None:
    pixel_list = pixel_sets()
    assert (
        sum(1 for pixels in pixel_list if pixels == ImageOps.mirror(Image.frombytes("L", (32, 32), pixels)).tobytes())
        >= 120  # symmetric ones among them (182 here): exact zeros in the DCT
    )
    for pixels in pixel_list:
        expected = int.from_bytes(iscc_core.soft_hash_image_v0(list(pixels), bits=64), "big")
        assert view_code64(pixels) == expected


def test_a_symmetric_drawing_has_exact_zeros_that_both_paths_keep() -> None:
    pixels = symmetric_drawing(3).resize((32, 32), Image.Resampling.BICUBIC).tobytes()
    rows = [dct32_first8(pixels[i * 32 : (i + 1) * 32]) for i in range(32)]
    assert all(row[x] == 0.0 for row in rows for x in (1, 3, 5, 7))
    assert rows == [iscc_core.alg_dct(list(pixels[i * 32 : (i + 1) * 32]))[:8] for i in range(32)]
