"""A rendition signed from its original's kept manifest store (no original file): the engine records
the store as the parentOf ingredient with the store's validation results, and any reader sees the
two-manifest chain."""

from __future__ import annotations

import pytest
from PIL import Image

from signer.errors import PriorCredentialsConflict
from signer.manifest import GenerationRequest, InvalidRequest, Upstream

ORIGINAL = GenerationRequest(generator_name="Acme Diffusion", generator_version="2.1")


def _rendition_request(store: bytes | None, *actions: str) -> GenerationRequest:
    upstream = Upstream(title="original.jpg", format="image/jpeg", actions=actions, manifest_store=store)
    return GenerationRequest(generator_name="Acme CDN", rendition_of=upstream)


@pytest.fixture
def signed_original(content_signer, make_jpeg, tmp_path):
    source = make_jpeg(tmp_path / "original.jpg", size=(96, 64))
    return content_signer.sign_file(source=source, destination=tmp_path / "signed.jpg", request=ORIGINAL)


def _resized(path, tmp_path):
    small = tmp_path / "small.jpg"
    with Image.open(path) as image:
        image.resize((48, 32)).save(small, "JPEG", quality=80)
    return small


def test_a_rendition_carries_its_original_as_parent(content_signer, signed_original, read_back, tmp_path):
    small = _resized(signed_original.destination, tmp_path)
    request = _rendition_request(signed_original.manifest_store, "c2pa.resized.proportional", "c2pa.transcoded")
    result = content_signer.sign_file(source=small, destination=tmp_path / "rendition.jpg", request=request)
    report = read_back(result.destination, mime="image/jpeg")
    assert report.state == "Trusted", report.failures
    assert len(report.crjson["manifests"]) == 2
    actions = [a["action"] for a in report.manifest["assertions"]["c2pa.actions.v2"]["actions"]]
    assert actions == ["c2pa.opened", "c2pa.resized.proportional", "c2pa.transcoded"]
    [ingredient] = [v for k, v in report.manifest["assertions"].items() if k.startswith("c2pa.ingredient")]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["activeManifest"]["url"].endswith(signed_original.manifest_label)
    codes = [entry["code"] for entry in ingredient["validationResults"]["activeManifest"]["failure"]]
    assert codes == []  # the detached store's hard-binding mismatch is left out, nothing else


def test_without_credentials_upstream_the_original_is_named_without_a_manifest(
    content_signer, make_jpeg, read_back, tmp_path
):
    small = make_jpeg(tmp_path / "small.jpg")
    result = content_signer.sign_file(
        source=small, destination=tmp_path / "rendition.jpg", request=_rendition_request(None, "c2pa.converted")
    )
    report = read_back(result.destination, mime="image/jpeg")
    assert report.state == "Trusted", report.failures
    assert len(report.crjson["manifests"]) == 1


@pytest.mark.parametrize("action", ["c2pa.edited", "c2pa.resized", "c2pa.created", ""])
def test_only_non_editorial_actions(action):
    with pytest.raises(InvalidRequest):
        _rendition_request(None, action)


def test_a_rendition_that_carries_credentials_is_refused(content_signer, signed_original, tmp_path):
    request = _rendition_request(signed_original.manifest_store, "c2pa.converted")
    with pytest.raises(PriorCredentialsConflict):
        content_signer.sign_file(source=signed_original.destination, destination=tmp_path / "r.jpg", request=request)
