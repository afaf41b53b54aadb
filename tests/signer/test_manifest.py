"""The manifest definition: a pure function of the request (no engine involved)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from signer.manifest import (
    C2PA_SPEC_VERSION,
    PARENT_INGREDIENT_LABEL,
    SOFT_BINDING_LABEL,
    DigitalSourceType,
    GenerationRequest,
    InvalidRequest,
    build_manifest_definition,
    parent_ingredient_definition,
    soft_binding_assertion,
)
from verifier.fingerprint import ImageFingerprint

# Written out, not taken from signer.manifest: the namespace is the spec the output must follow.
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def _definition(**request_fields):
    request = GenerationRequest(generator_name="Acme Diffusion", **request_fields)
    return build_manifest_definition(request, default_title="gen.png", originmark_version="9.8.7")


def test_new_output_is_created_by_the_generator_as_trained_algorithmic_media():
    definition = _definition(generator_version="2.1")
    assert definition == {
        "claim_version": 2,
        "claim_generator_info": [{"name": "originmark", "version": "9.8.7", "specVersion": C2PA_SPEC_VERSION}],
        "title": "gen.png",
        "assertions": [
            {
                "label": "c2pa.actions.v2",
                "created": True,
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": IPTC + "trainedAlgorithmicMedia",
                            "softwareAgent": {"name": "Acme Diffusion", "version": "2.1"},
                        }
                    ],
                    "allActionsIncluded": True,
                },
            }
        ],
    }


def test_spec_version_is_a_2_4_semver():
    assert C2PA_SPEC_VERSION.split(".")[:2] == ["2", "4"]


def test_a_generator_without_version_has_no_version_key():
    action = _definition()["assertions"][0]["data"]["actions"][0]
    assert action["softwareAgent"] == {"name": "Acme Diffusion"}


def test_title_and_source_type_come_from_the_request():
    definition = _definition(title="A cat", digital_source_type=DigitalSourceType.ALGORITHMIC_MEDIA)
    assert definition["title"] == "A cat"
    assert definition["assertions"][0]["data"]["actions"][0]["digitalSourceType"] == IPTC + "algorithmicMedia"


def test_an_edit_opens_the_parent_then_edits_it_as_a_composite_with_ai():
    actions = _definition(parent=Path("/in/photo.jpg"))["assertions"][0]["data"]["actions"]
    assert actions == [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_INGREDIENT_LABEL]}},
        {
            "action": "c2pa.edited",
            "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia",
            "softwareAgent": {"name": "Acme Diffusion"},
        },
    ]


def test_an_explicit_source_type_wins_over_the_edit_default():
    request = GenerationRequest(
        generator_name="g", parent=Path("p.jpg"), digital_source_type=DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA
    )
    assert request.effective_source_type is DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA


def test_the_parent_ingredient_is_a_labelled_parent_of():
    assert parent_ingredient_definition(Path("/in/photo.jpg")) == {
        "title": "photo.jpg",
        "relationship": "parentOf",
        "label": PARENT_INGREDIENT_LABEL,
    }


@pytest.mark.parametrize(
    "text", ["trainedAlgorithmicMedia", "TRAINEDALGORITHMICMEDIA", " " + IPTC + "trainedAlgorithmicMedia "]
)
def test_source_types_parse_from_term_or_uri(text):
    assert DigitalSourceType.from_text(text) is DigitalSourceType.TRAINED_ALGORITHMIC_MEDIA


def test_an_unknown_source_type_lists_the_known_terms():
    with pytest.raises(
        InvalidRequest, match="unknown digital source type 'aiMagic'.*compositeWithTrainedAlgorithmicMedia"
    ):
        DigitalSourceType.from_text("aiMagic")


def test_every_source_type_is_an_iptc_uri():
    assert all(member.value == IPTC + member.term for member in DigitalSourceType)
    assert DigitalSourceType.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA.term == "compositeWithTrainedAlgorithmicMedia"


def test_a_source_type_given_as_text_is_normalised():
    # Callers without types (JSON fields, CLI text) pass the IPTC term as text: it is accepted.
    request = GenerationRequest(generator_name="g", digital_source_type="algorithmicMedia")  # type: ignore[arg-type]
    assert request.digital_source_type is DigitalSourceType.ALGORITHMIC_MEDIA


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"generator_name": "  "}, "generator name is empty"),
        ({"generator_name": "x" * 257}, "generator name is 257 characters long"),
        ({"generator_name": "g", "generator_version": "v" * 300}, "generator version is 300 characters"),
        ({"generator_name": "g", "title": "t" * 2000}, "title is 2000 characters"),
    ],
)
def test_unusable_requests_are_refused(fields, message):
    with pytest.raises(InvalidRequest, match=message):
        GenerationRequest(**fields)


def test_requests_are_frozen_and_keyword_only():
    request = GenerationRequest(generator_name="g")
    with pytest.raises(AttributeError):
        request.title = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        GenerationRequest("g")  # type: ignore[call-arg]


def test_without_a_fingerprint_there_is_no_soft_binding():
    assert [a["label"] for a in _definition()["assertions"]] == ["c2pa.actions.v2"]


def test_a_fingerprint_becomes_a_created_soft_binding_for_the_whole_image():
    fingerprint = ImageFingerprint(code64=0x0123456789ABCDEF, iscc="ISCC:EEAQCI2FM6E2XTPP", descriptor=bytes(256))
    request = GenerationRequest(generator_name="Acme Diffusion")
    built = build_manifest_definition(request, default_title="gen.png", originmark_version="1", fingerprint=fingerprint)
    actions, binding = built["assertions"]
    assert actions["label"] == "c2pa.actions.v2"
    assert binding == soft_binding_assertion(fingerprint)
    assert binding["label"] == SOFT_BINDING_LABEL == "c2pa.soft-binding"
    assert binding["created"] is True
    assert binding["data"]["alg"] == "io.iscc.v0"
    (block,) = binding["data"]["blocks"]
    assert block["scope"] == {}
    # The ISCC-UNIT in binary: header 0x2101 (Content, Image, v0, 64 bits), then the body.
    assert base64.b64decode(block["value"], validate=True) == bytes.fromhex("21010123456789abcdef")
