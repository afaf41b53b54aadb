"""Every supported format signs, embedded and as a sidecar, and reads back Trusted under the development CA."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from signer.errors import SidecarUnsupported
from signer.formats import detect_format
from signer.manifest import DigitalSourceType, GenerationRequest

from .issue_formats import ISSUE_FORMATS

REQUEST = GenerationRequest(generator_name="Acme Diffusion", generator_version="2.1")
TRAINED = DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA.value


@pytest.mark.parametrize("name", ISSUE_FORMATS)
def test_every_format_signs_and_verifies_trusted(content_signer, media_samples, read_back, tmp_path, name):
    source = media_samples[name]
    destination = tmp_path / source.name
    result = content_signer.sign_file(source=source, destination=destination, request=REQUEST)

    assert result.format.name == name
    assert result.sidecar is False
    assert result.destination == destination
    assert result.bytes_written == destination.stat().st_size > source.stat().st_size
    assert detect_format(destination).name == name  # still the same container after embedding

    report = read_back(destination, mime=result.format.mime)
    assert report.state == "Trusted", report.failures
    assert report.failures == []
    assert report.active_manifest_label == result.manifest_label
    assert result.manifest_label.startswith("urn:c2pa:")
    actions = report.manifest["assertions"]["c2pa.actions.v2"]["actions"]
    assert actions == [
        {
            "action": "c2pa.created",
            "softwareAgent": {"name": "Acme Diffusion", "version": "2.1"},
            "digitalSourceType": TRAINED,
        }
    ]
    assert report.manifest["claim.v2"]["dc:title"] == source.name
    assert list(tmp_path.iterdir()) == [destination]  # no temp file left behind


# c2pa-rs 0.91.3 rewrites these containers even when the manifest goes to a sidecar (ID3 tag,
# FLAC metadata blocks, PDF cross-reference), and hashes its rewritten copy: a sidecar for
# the untouched file would not verify, so the signer refuses instead of writing one.
ENGINE_REWRITES_FOR_SIDECAR = {"MP3", "FLAC", "PDF"}
SIDECAR_FORMATS = [name for name in ISSUE_FORMATS if name not in ENGINE_REWRITES_FOR_SIDECAR]


@pytest.mark.parametrize("name", SIDECAR_FORMATS)
def test_every_format_signs_as_a_sidecar_leaving_the_asset_untouched(
    content_signer, media_samples, read_back, tmp_path, name
):
    source = tmp_path / media_samples[name].name
    shutil.copyfile(media_samples[name], source)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    sidecar = source.with_suffix(".c2pa")

    result = content_signer.sign_sidecar(source=source, sidecar=sidecar, request=REQUEST)

    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    assert result.sidecar is True and result.destination == sidecar
    assert result.bytes_written == result.manifest_bytes == sidecar.stat().st_size
    assert detect_format(source).name == name
    report = read_back(source, mime=result.format.mime, manifest_data=sidecar.read_bytes())
    assert report.state == "Trusted", report.failures
    assert report.active_manifest_label == result.manifest_label
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, sidecar.name])


def test_a_jpeg_named_png_is_signed_as_jpeg(content_signer, make_jpeg, read_back, tmp_path):
    source = make_jpeg(tmp_path / "disguised.png")
    destination = tmp_path / "out" / "disguised.png"
    destination.parent.mkdir()
    result = content_signer.sign_file(source=source, destination=destination, request=REQUEST)
    assert result.format.name == "JPEG"
    assert destination.read_bytes()[:3] == b"\xff\xd8\xff"
    assert read_back(destination, mime="image/jpeg").state == "Trusted"


def test_the_request_title_and_source_type_reach_the_manifest(content_signer, make_jpeg, read_back, tmp_path):
    request = GenerationRequest(
        generator_name="Acme", title="Sunset <b>[bold]", digital_source_type=DigitalSourceType.ALGORITHMIC_MEDIA
    )
    result = content_signer.sign_file(
        source=make_jpeg(tmp_path / "a.jpg"), destination=tmp_path / "b.jpg", request=request
    )
    manifest = read_back(result.destination, mime="image/jpeg").manifest
    assert manifest["claim.v2"]["dc:title"] == "Sunset <b>[bold]"
    assert manifest["assertions"]["c2pa.actions.v2"]["actions"][0]["digitalSourceType"] == (
        DigitalSourceType.ALGORITHMIC_MEDIA.value
    )
    assert result.digital_source_type is DigitalSourceType.ALGORITHMIC_MEDIA


@pytest.mark.parametrize("name", sorted(ENGINE_REWRITES_FOR_SIDECAR))
def test_a_sidecar_is_refused_where_the_engine_rewrites_the_asset(content_signer, media_samples, tmp_path, name):
    source = tmp_path / media_samples[name].name
    shutil.copyfile(media_samples[name], source)
    before = source.read_bytes()
    sidecar = source.with_suffix(".c2pa")
    with pytest.raises(SidecarUnsupported, match=f"has to rewrite {source.name} \\({name}\\).*without --sidecar"):
        content_signer.sign_sidecar(source=source, sidecar=sidecar, request=REQUEST)
    assert source.read_bytes() == before
    assert not sidecar.exists()
    assert [p.name for p in tmp_path.iterdir()] == [source.name]


def test_a_sidecar_for_an_already_signed_file_is_refused(content_signer, make_jpeg, tmp_path):
    # The engine drops the old embedded manifest from what it hashes: the sidecar would not
    # match the file as it is.
    signed = tmp_path / "signed.jpg"
    content_signer.sign_file(source=make_jpeg(tmp_path / "a.jpg"), destination=signed, request=REQUEST)
    with pytest.raises(SidecarUnsupported):
        content_signer.sign_sidecar(source=signed, sidecar=tmp_path / "signed.c2pa", request=REQUEST)
    assert not (tmp_path / "signed.c2pa").exists()
