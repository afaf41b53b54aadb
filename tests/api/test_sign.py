"""POST /v1/sign: formats, AI edits, manifest fields, and the failures the signer reports."""

from __future__ import annotations

import hashlib

import pytest

from signer.manifest import DigitalSourceType

from .helpers import ApiKeys, assert_error, jpeg_bytes, png_bytes, sign_form


def _sign(client, token, *, file=None, parent=None, **fields):
    files = {"file": file or ("gen.jpg", jpeg_bytes(), "image/jpeg")}
    if parent is not None:
        files["parent"] = parent
    return client.post("/v1/sign", headers=ApiKeys.header(token), files=files, data=sign_form(**fields))


def _verdict_for(client, api_keys, signed):
    sha = signed.headers["x-content-sha256"]
    response = client.get(f"/v1/verdicts/sha256/{sha}", headers=ApiKeys.header(api_keys.read))
    assert response.status_code == 200
    return response.json()


def test_png_is_signed_as_png_and_its_verdict_is_stored_without_a_media_id(client, api_keys):
    signed = _sign(client, api_keys.sign, file=("art.png", png_bytes(), "image/png"))
    assert signed.status_code == 200, signed.text
    assert signed.headers["content-type"] == "image/png"
    assert signed.content.startswith(b"\x89PNG")
    assert "x-media-id" not in signed.headers
    assert signed.headers["content-disposition"] == 'attachment; filename="art.png"'
    stored = _verdict_for(client, api_keys, signed)
    assert stored["media_ids"] == []  # signed without a media id: none points at the output
    assert stored["verdict"]["state"] == "trusted"
    assert stored["verdict"]["title"] == "art.png"  # the upload's name is the default title
    assert stored["verdict"]["format"] == "image/png"


def test_declared_fields_end_up_in_the_manifest(client, api_keys):
    signed = _sign(
        client,
        api_keys.sign,
        generator="Acme Diffusion",
        generator_version="2.1",
        digital_source_type="compositeWithTrainedAlgorithmicMedia",  # not the default without a parent
        title="Poster",
    )
    assert signed.status_code == 200, signed.text
    verdict = _verdict_for(client, api_keys, signed)["verdict"]
    assert verdict["title"] == "Poster"
    assert verdict["digital_source_types"] == [DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.value]
    created = verdict["actions"][0]
    assert created["action"] == "c2pa.created"
    assert created["software_agent"] == "Acme Diffusion 2.1"


def test_ai_edit_records_the_parent(client, api_keys):
    original = _sign(client, api_keys.sign, media_id="original")
    assert original.status_code == 200
    edit = _sign(
        client,
        api_keys.sign,
        parent=("original.jpg", original.content, "image/jpeg"),
        generator="Acme Inpaint",
        media_id="edit",
    )
    assert edit.status_code == 200, edit.text
    verdict = _verdict_for(client, api_keys, edit)["verdict"]
    assert verdict["state"] == "trusted"
    assert verdict["digital_source_types"] == [DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.value]
    [ingredient] = verdict["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["manifest_label"] == original.headers["x-manifest-label"]
    labels = client.get("/v1/labels?media_id=edit", headers=ApiKeys.header(api_keys.read)).json()["labels"]
    # The earliest ancestor's inception decides (verifier.label): the parent was generated.
    assert labels["edit"]["kind"] == "ai_generated"


def test_hostile_file_name_is_reduced_to_a_plain_name(client, api_keys):
    signed = _sign(client, api_keys.sign, file=('../../etc/"pass"\r\nwd.jpg', jpeg_bytes(), "image/jpeg"))
    assert signed.status_code == 200, signed.text
    disposition = signed.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and "/" not in disposition and "\r" not in disposition


def test_unsupported_parent(client, api_keys):
    response = _sign(client, api_keys.sign, parent=("notes.txt", b"plain text here", "text/plain"))
    error = assert_error(response, 415, "unsupported_media_type")
    assert "parent" in error["message"]
    assert "JPEG" in error["supported"]


def test_empty_parent(client, api_keys):
    response = _sign(client, api_keys.sign, parent=("p.jpg", b"", "image/jpeg"))
    error = assert_error(response, 422, "empty_file")
    assert error["field"] == "parent"


@pytest.mark.parametrize(
    "corrupted",
    [jpeg_bytes()[:200], b"\xff\xd8\xff" + b"\x00" * 400],
    ids=["truncated", "header-then-zeros"],
)
def test_corrupted_media(client, api_keys, store, corrupted):
    response = _sign(client, api_keys.sign, file=("broken.jpg", corrupted, "image/jpeg"))
    error = assert_error(response, 422, "media_rejected")
    assert "parse" in error["message"]
    assert store.entries() == []  # nothing signed, nothing audited


def test_missing_generator(client, api_keys):
    response = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("gen.jpg", jpeg_bytes(), "image/jpeg")},
        data={"title": "no generator"},
    )
    error = assert_error(response, 422, "missing_field")
    assert error["field"] == "generator"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"generator": "   "}, "generator name is empty"),
        ({"generator": "g" * 257}, "at most 256"),
        ({"digital_source_type": "handPainted"}, "unknown digital source type"),
        ({"title": "t" * 1025}, "at most 1024"),
    ],
    ids=["blank-generator", "long-generator", "unknown-source-type", "long-title"],
)
def test_invalid_generation_request(client, api_keys, fields, words):
    response = _sign(client, api_keys.sign, **fields)
    error = assert_error(response, 422, "invalid_request")
    assert words in error["message"]


def test_source_type_as_full_uri(client, api_keys):
    uri = DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.value  # allowed by the default policy
    response = _sign(client, api_keys.sign, digital_source_type=uri)
    assert response.status_code == 200, response.text
    assert _verdict_for(client, api_keys, response)["verdict"]["digital_source_types"] == [uri]


def test_output_hash_header_matches_the_streamed_body(client, api_keys):
    with client.stream(
        "POST",
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("gen.jpg", jpeg_bytes((512, 512)), "image/jpeg")},
        data=sign_form(),
    ) as response:
        assert response.status_code == 200
        digest = hashlib.sha256()
        for chunk in response.iter_bytes():
            digest.update(chunk)
        assert int(response.headers["content-length"]) == response.num_bytes_downloaded
    assert response.headers["x-content-sha256"] == digest.hexdigest()
