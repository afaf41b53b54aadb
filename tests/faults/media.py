"""Real media for the load: small and medium images in several formats, plus tiny video and audio.

Made once per session with Pillow (and the committed fixtures in tests/fixtures/media);
noise images so that a medium JPEG or PNG is really hundreds of kilobytes.
"""

from __future__ import annotations

import io
import random
import wave
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

FIXTURE_MEDIA = Path(__file__).resolve().parents[1] / "fixtures" / "media"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    name: str  # file name sent to the server (its extension says the format to a reader of the log)
    mime: str
    data: bytes


def _noise(size: tuple[int, int], *, seed: int) -> Image.Image:
    generator = random.Random(seed)
    return Image.frombytes("RGB", size, generator.randbytes(size[0] * size[1] * 3))


def _encode(image: Image.Image, pillow_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, pillow_format, **options)
    return buffer.getvalue()


def _wav(frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x10\x00\xf0" * (frames // 2))
    return buffer.getvalue()


def load_samples() -> tuple[list[Sample], list[Sample]]:
    """(small samples in many formats, medium images of a few hundred KB)."""
    small_image = _noise((64, 48), seed=1)
    small = [
        Sample(name="gen.jpg", mime="image/jpeg", data=_encode(small_image, "JPEG", quality=90)),
        Sample(name="gen.png", mime="image/png", data=_encode(small_image, "PNG")),
        Sample(name="gen.webp", mime="image/webp", data=_encode(small_image, "WEBP", quality=80)),
        Sample(name="gen.gif", mime="image/gif", data=_encode(small_image.convert("P"), "GIF")),
        Sample(name="gen.wav", mime="audio/wav", data=_wav()),
        Sample(name="gen.mp4", mime="video/mp4", data=(FIXTURE_MEDIA / "tiny.mp4").read_bytes()),
        Sample(name="gen.mp3", mime="audio/mpeg", data=(FIXTURE_MEDIA / "tiny.mp3").read_bytes()),
    ]
    medium = [
        Sample(name="large.jpg", mime="image/jpeg", data=_encode(_noise((1024, 768), seed=2), "JPEG", quality=90)),
        Sample(name="large.png", mime="image/png", data=_encode(_noise((420, 360), seed=3), "PNG")),
    ]
    return small, medium


def unsigned_jpeg(seed: int) -> bytes:
    """A small JPEG no one has verified yet (`seed` makes the bytes, and so the SHA-256, differ)."""
    image = _noise((32, 32), seed=seed)
    return _encode(image, "JPEG", quality=85)


def noise_png(size: tuple[int, int], *, seed: int) -> bytes:
    """A PNG of incompressible noise: about 3 bytes per pixel on disk."""
    return _encode(_noise(size, seed=seed), "PNG")
