"""What the /sbr/v1 tests share: textured images (a flat one matches nothing), two tenants, signing."""

from __future__ import annotations

import base64
import io
import random
from dataclasses import dataclass

import httpx
from PIL import Image, ImageDraw, ImageFilter

from app.store.interface import Scope
from app.store.sql import SqlStore
from verifier.fingerprint import fingerprint_image

from .helpers import ApiKeys, sign_form

SBR = "/sbr/v1"
EVERY_SCOPE = frozenset(Scope)


def textured_image(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A picture of random shapes on a gradient: distinct seeds give unrelated fingerprints."""
    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        w, h = rng.randrange(20, size[0] // 2), rng.randrange(20, size[1] // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x, y, x + w, y + h), fill=colour)
    return image.filter(ImageFilter.GaussianBlur(1))


def encoded(image: Image.Image, format: str = "JPEG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format, **({"quality": 92} if format == "JPEG" and not options else options))
    return out.getvalue()


def platform_copy(signed: bytes) -> bytes:
    """What a platform makes of a signed image: decoded, re-encoded at quality 70, metadata gone."""
    with Image.open(io.BytesIO(signed)) as opened:
        return encoded(opened.convert("RGB"), "JPEG", quality=70)


def binding_value(data: bytes) -> str:
    """The io.iscc.v0 value of an image as the API takes it (base64 of the ISCC unit)."""
    return base64.b64encode(fingerprint_image(data).iscc_digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class Tenants:
    a: dict[str, str]  # headers of an all-scopes key of tenant-a
    b: dict[str, str]
    a_token: str
    b_token: str


def two_tenants(store: SqlStore) -> Tenants:
    store.create_tenant("tenant-a")
    store.create_tenant("tenant-b")
    a = store.create_key(name="a", scopes=EVERY_SCOPE, tenant="tenant-a")[1]
    b = store.create_key(name="b", scopes=EVERY_SCOPE, tenant="tenant-b")[1]
    return Tenants(a=ApiKeys.header(a), b=ApiKeys.header(b), a_token=a, b_token=b)


def sign(client: httpx.Client, headers: dict[str, str], data: bytes) -> tuple[bytes, str]:
    """The signed output and its manifest id."""
    files = {"file": ("gen.jpg", data, "image/jpeg")}
    response = client.post("/v1/sign", headers=headers, files=files, data=sign_form())
    assert response.status_code == 200, response.text
    return response.content, response.headers["x-manifest-label"]
