"""Media for the web page tests: real files signed with the session's development key."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from signer.engine import ContentSigner, SignerOptions
from signer.manifest import GenerationRequest

# Markers an attack would set if it ran: the browser tests check they never do.
PWN_SCRIPT = "<script>window.__pwned = 1; alert('pwned');</script>"
PWN_IMAGE = '"><img src=x onerror="window.__pwned=1;alert(1)">'


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedMedia:
    ai: Path  # AI-generated JPEG, signed by "Acme Diffusion 2.1"
    edit: Path  # an AI edit of `ai` (its parentOf ingredient carries `ai`'s credentials)
    tampered: Path  # `ai` with bytes of its image data changed after signing
    plain: Path  # a JPEG without credentials
    xss: Path  # signed, with the shared XSS strings as generator, version and title
    controls: Path  # signed, with control characters, bidi overrides and a very long title
    xss_generator: str
    xss_version: str
    xss_title: str


def jpeg(path: Path, *, size=(160, 120), colour=(40, 90, 160)) -> Path:
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 7):  # some detail, so the scan data is not all alike
        image.putpixel((x, (x * 3) % size[1]), (250, 250, 250))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    path.write_bytes(buffer.getvalue())
    return path


def tamper_jpeg(data: bytes) -> bytes:
    """Flip bits in the middle of the entropy-coded image data (after the last SOS header)."""
    sos = data.rfind(b"\xff\xda")
    assert sos > 0, "no SOS marker: not a baseline JPEG"
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    end = len(data) - 2  # EOI
    assert end - start > 64, "too little image data to tamper with"
    out = bytearray(data)
    changed = 0
    for index in range((start + end) // 2, end):
        # Never make or break a 0xFF byte: the JPEG stays well-formed, only its content changes.
        if out[index] != 0xFF and out[index] ^ 0x01 != 0xFF and (index == 0 or out[index - 1] != 0xFF):
            out[index] ^= 0x01
            changed += 1
        if changed == 8:
            break
    assert changed == 8
    return bytes(out)


def make_signed_media(folder: Path, signing_key, shared_dir: Path) -> SignedMedia:
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions())
    xss_lines = (shared_dir / "attacks" / "xss.attack").read_text().splitlines()
    special = (shared_dir / "attacks" / "special_characters.attack").read_text().splitlines()
    rendering = (shared_dir / "attacks" / "rendering.attack").read_text().splitlines()
    long_line = (shared_dir / "attacks" / "ten_thousand_characters.attack").read_text().strip()

    def sign(name: str, source: Path, **fields) -> Path:
        destination = folder / name
        signer.sign_file(source=source, destination=destination, request=GenerationRequest(**fields))
        return destination

    plain = jpeg(folder / "plain.jpg")
    ai = sign("ai.jpg", plain, generator_name="Acme Diffusion", generator_version="2.1", title="Harbour at dusk")
    edit_source = jpeg(folder / "edit-source.jpg", colour=(160, 90, 40))
    edit = sign(
        "edit.jpg",
        edit_source,
        generator_name="Acme Inpaint",
        generator_version="1.0",
        title="Harbour, inpainted",
        parent=ai,
    )
    tampered = folder / "tampered.jpg"
    tampered.write_bytes(tamper_jpeg(ai.read_bytes()))

    xss_generator = xss_lines[1] + PWN_SCRIPT  # "><script>alert('xss');</script><foo bar="
    xss_version = xss_lines[2]  # " onmouseover="document.location=..." foo="
    xss_title = " ".join([xss_lines[0], xss_lines[3], PWN_IMAGE])
    xss = sign(
        "xss.jpg",
        jpeg(folder / "xss-source.jpg", colour=(90, 30, 30)),
        generator_name=xss_generator,
        generator_version=xss_version,
        title=xss_title,
    )
    controls = sign(
        "controls.jpg",
        jpeg(folder / "controls-source.jpg", colour=(30, 90, 30)),
        generator_name=" ".join(rendering) + " \u202eevil\u202c",
        generator_version=special[0],
        title=(" ".join(special) + " " + long_line)[:1024],
    )
    return SignedMedia(
        ai=ai,
        edit=edit,
        tampered=tampered,
        plain=plain,
        xss=xss,
        controls=controls,
        xss_generator=xss_generator,
        xss_version=xss_version,
        xss_title=xss_title,
    )
