"""POST /v1/sign under each key's signing policy, over real HTTP: 403 `signing_policy` signs nothing."""

from __future__ import annotations

import pytest

from app.store.interface import Scope
from signer.manifest import DigitalSourceType as D
from signer.policy import SigningPolicy

from .helpers import ApiKeys, assert_error, jpeg_bytes

SIGN = frozenset({Scope.SIGN})
AI_TYPES = [
    "compositeWithTrainedAlgorithmicMedia",
    "trainedAlgorithmicMedia",
]  # the default: GenAI in the signals rubric


def _sign(client, token, *, generator="Acme Diffusion", parent=None, file=None, **fields):
    files = {"file": file or ("gen.jpg", jpeg_bytes(), "image/jpeg")}
    if parent is not None:
        files["parent"] = parent
    return client.post("/v1/sign", headers=ApiKeys.header(token), files=files, data={"generator": generator, **fields})


def _key(store, policy: SigningPolicy | None = None, *, name="product") -> tuple[str, str]:
    key, token = store.create_key(name=name, scopes=SIGN, signing_policy=policy)
    return key.key_id, token


def _source_types_of(store, media_id: str) -> list[str]:
    stored = store.verdict_by_media_id("default", media_id)
    assert stored is not None
    return list(stored.verdict.digital_source_types)


def _assert_nothing_kept(store, media_id: str) -> None:
    assert store.entries() == []  # nothing in the audit log
    assert store.verdict_by_media_id("default", media_id) is None  # no verdict, no label


def test_an_ai_products_key_cannot_sign_digital_capture(client, store):
    _, token = _key(store)  # the default policy: what every new sign key gets
    for claim in ("digitalCapture", D.DIGITAL_CAPTURE.value, "DIGITALCAPTURE"):  # short term, full URI, any case
        response = _sign(client, token, generator="Acme Camera", digital_source_type=claim, media_id="fake-photo")
        error = assert_error(response, 403, "signing_policy")
        assert error["refused"] == {"digital_source_type": "digitalCapture"}
        assert error["allowed"] == {"generators": ["*"], "digital_source_types": AI_TYPES, "replace_credentials": False}
        assert "'digitalCapture'" in error["message"] and "trainedAlgorithmicMedia" in error["message"]
        assert "www-authenticate" not in response.headers  # the key is fine; the claim is not
    _assert_nothing_kept(store, "fake-photo")
    metrics = client.get("/metrics").text
    assert 'originmark_sign_outcomes_total{outcome="signing_policy"} 3.0' in metrics
    assert 'outcome="signed"' not in metrics


@pytest.mark.parametrize("claim", ["minorHumanEdits", "humanEdits", "digitalCreation", "computationalCapture"])
def test_other_non_generated_types_need_a_grant_too(client, store, claim):
    _, token = _key(store)
    assert_error(_sign(client, token, digital_source_type=claim, media_id="m"), 403, "signing_policy")
    _assert_nothing_kept(store, "m")


@pytest.mark.parametrize("claim", ["algorithmicMedia", "compositeSynthetic"])
def test_machine_made_types_that_no_rubric_labels_as_ai_need_a_grant(client, store, claim):
    """Credentials claiming them would be trusted yet never labelled AI by a rubric-driven validator."""
    key_id, token = _key(store)
    error = assert_error(_sign(client, token, digital_source_type=claim, media_id="m"), 403, "signing_policy")
    assert error["refused"] == {"digital_source_type": claim}
    _assert_nothing_kept(store, "m")
    granted = SigningPolicy.of(generators=["*"], source_types=[D.from_text(claim), D.TRAINED_ALGORITHMIC_MEDIA])
    store.set_signing_policy(key_id, granted)
    signed = _sign(client, token, digital_source_type=claim, media_id="m")
    assert signed.status_code == 200, signed.text
    assert _source_types_of(store, "m") == [D.from_text(claim).value]


def test_a_granted_source_type_signs_and_the_change_applies_on_the_next_request(client, store):
    key_id, token = _key(store, name="camera app")
    assert_error(_sign(client, token, digital_source_type="digitalCapture", media_id="p1"), 403, "signing_policy")
    store.set_signing_policy(key_id, SigningPolicy.of(generators=["*"], source_types=[D.DIGITAL_CAPTURE]))
    signed = _sign(client, token, generator="Demo Camera", digital_source_type="digitalCapture", media_id="p1")
    assert signed.status_code == 200, signed.text
    assert _source_types_of(store, "p1") == [D.DIGITAL_CAPTURE.value]
    [entry] = store.entries()
    assert entry.key_id == key_id and entry.generator == "Demo Camera"
    assert entry.digital_source_type == "digitalCapture" and entry.title is None
    # The narrowed key no longer has the AI default.
    assert_error(_sign(client, token, media_id="p2"), 403, "signing_policy")


def test_allowed_generators_exact_and_wildcard(client, store):
    key_id, token = _key(
        store,
        SigningPolicy.of(generators=["Acme Diffusion", "Acme Labs *"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA]),
    )
    for generator, media_id in (("Acme Diffusion", "g1"), ("Acme Labs Inpaint 3", "g2")):
        signed = _sign(client, token, generator=generator, media_id=media_id)
        assert signed.status_code == 200, signed.text
    assert [entry.generator for entry in store.entries()] == ["Acme Labs Inpaint 3", "Acme Diffusion"]

    for refused in ("Other Model", "acme diffusion", "Acme Diffusion XL", "Acme Labs"):
        response = _sign(client, token, generator=refused, media_id="g3")
        error = assert_error(response, 403, "signing_policy")
        assert error["refused"] == {"generator": refused}
        assert error["allowed"]["generators"] == ["Acme Diffusion", "Acme Labs *"]
        assert repr(refused) in error["message"]
    assert len(store.entries()) == 2 and store.verdict_by_media_id("default", "g3") is None


def test_both_refused_claims_are_named(client, store):
    _, token = _key(store, SigningPolicy.of(generators=["Acme *"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA]))
    error = assert_error(
        _sign(client, token, generator="Camera", digital_source_type="digitalCapture", media_id="m"),
        403,
        "signing_policy",
    )
    assert error["refused"] == {"generator": "Camera", "digital_source_type": "digitalCapture"}
    assert "'Camera'" in error["message"] and "'digitalCapture'" in error["message"]
    _assert_nothing_kept(store, "m")


def test_an_edit_is_checked_against_its_default_source_type(client, store):
    """With a parent and no source type, the claim is compositeWithTrainedAlgorithmicMedia: that is checked."""
    _, token = _key(store, SigningPolicy.of(generators=["*"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA]))
    original = _sign(client, token, media_id="original")
    assert original.status_code == 200, original.text  # new output: trainedAlgorithmicMedia, allowed
    parent = ("original.jpg", original.content, "image/jpeg")

    refused = _sign(client, token, parent=parent, generator="Acme Inpaint", media_id="edit")
    error = assert_error(refused, 403, "signing_policy")
    assert error["refused"] == {"digital_source_type": "compositeWithTrainedAlgorithmicMedia"}
    assert "the default digital source type 'compositeWithTrainedAlgorithmicMedia'" in error["message"]
    assert store.verdict_by_media_id("default", "edit") is None and len(store.entries()) == 1

    # The default policy allows an edit's default type.
    _, ai_token = _key(store, name="ai product")
    edit = _sign(client, ai_token, parent=parent, generator="Acme Inpaint", media_id="edit")
    assert edit.status_code == 200, edit.text
    assert _source_types_of(store, "edit") == [D.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.value]


def test_the_policy_is_checked_before_the_file_is_looked_at(client, store):
    """A refused claim is refused whatever the upload is (no engine work for it)."""
    _, token = _key(store)
    junk = ("notes.txt", b"not media at all", "text/plain")
    assert_error(_sign(client, token, file=junk, digital_source_type="digitalCapture"), 403, "signing_policy")
    # With an allowed claim the same file gets the usual 415.
    assert_error(_sign(client, token, file=junk), 415, "unsupported_media_type")
    assert store.entries() == []


def test_the_403_is_in_the_sign_routes_documented_answers(client):
    responses = client.get("/openapi.json").json()["paths"]["/v1/sign"]["post"]["responses"]
    assert "403" in responses


def test_a_refused_hostile_generator_name_comes_back_cleaned(client, store):
    _, token = _key(store, SigningPolicy.of(generators=["Acme *"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA]))
    hostile = "Acme\u202e Evil\x07 Cam"  # a bidi override and a control character: not "Acme " + anything
    error = assert_error(_sign(client, token, generator=hostile, media_id="m"), 403, "signing_policy")
    assert error["refused"]["generator"].startswith("Acme") and "Cam" in error["refused"]["generator"]
    for text in (error["refused"]["generator"], error["message"]):
        assert "\u202e" not in text and "\x07" not in text
    _assert_nothing_kept(store, "m")
