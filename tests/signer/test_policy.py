"""SigningPolicy (signer/policy.py): what a caller may claim, as a pure value — no store, no HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest

from signer.errors import SigningError
from signer.manifest import DigitalSourceType, GenerationRequest
from signer.policy import (
    GENERATED_SOURCE_TYPES,
    InvalidSigningPolicy,
    SigningNotPermitted,
    SigningPolicy,
)

D = DigitalSourceType


def _request(generator: str = "Acme Diffusion", source_type: D | None = None, parent: Path | None = None):
    return GenerationRequest(generator_name=generator, digital_source_type=source_type, parent=parent)


@pytest.mark.parametrize("source_type", list(D), ids=lambda member: member.term)
def test_the_default_allows_exactly_the_source_types_the_signals_rubric_counts_as_genai(source_type):
    """algorithmicMedia and compositeSynthetic give no GenAI inception signal in the C2PA signals
    rubric: a key may claim them only when an operator grants them."""
    policy = SigningPolicy.default()
    assert policy.any_generator
    expected = source_type.term in {"trainedAlgorithmicMedia", "compositeWithTrainedAlgorithmicMedia"}
    assert policy.allows_source_type(source_type) is expected
    if expected:
        policy.check(_request(source_type=source_type))
    else:
        with pytest.raises(SigningNotPermitted) as refused:
            policy.check(_request(source_type=source_type))
        assert refused.value.source_type is source_type and refused.value.generator is None


def test_digital_capture_and_human_types_are_never_in_the_default():
    for claim in (D.DIGITAL_CAPTURE, D.COMPUTATIONAL_CAPTURE, D.HUMAN_EDITS, D.MINOR_HUMAN_EDITS, D.DIGITAL_CREATION):
        assert claim not in GENERATED_SOURCE_TYPES


def test_unrestricted_says_so_and_allows_digital_capture():
    policy = SigningPolicy.unrestricted()
    assert policy.source_types == frozenset(D)
    policy.check(_request(generator="Any Camera", source_type=D.DIGITAL_CAPTURE))


@pytest.mark.parametrize(
    ("pattern", "name", "allowed"),
    [
        ("Acme Diffusion", "Acme Diffusion", True),
        ("Acme Diffusion", "Acme Diffusion 2", False),  # whole name, not a prefix
        ("Acme Diffusion", "acme diffusion", False),  # case-sensitive: written into the manifest as given
        ("Acme Diffusion", " Acme Diffusion", False),
        ("Acme *", "Acme Inpaint", True),
        ("Acme *", "Acme ", True),  # `*` may stand for nothing
        ("Acme *", "Acme", False),  # but the space is literal
        ("Acme *", "Evil Acme Inpaint", False),  # anchored at the start
        ("*Diffusion", "Stable Diffusion", True),
        ("Acme * v*", "Acme Inpaint v2", True),
        ("Model (v2.1)+", "Model (v2.1)+", True),  # regex characters are literal
        ("Model (v2.1)+", "Model (v2X1))", False),
        ("Model.v2", "ModelXv2", False),
        ("Model?", "ModelX", False),  # only `*` is special (not fnmatch's ? or [])
        ("[ab]", "a", False),
        ("*", "anything at all", True),
    ],
)
def test_generator_patterns(pattern, name, allowed):
    policy = SigningPolicy.of(generators=[pattern], source_types=GENERATED_SOURCE_TYPES)
    assert policy.allows_generator(name) is allowed


def test_generators_are_normalised_so_equal_grants_compare_equal():
    a = SigningPolicy.of(generators=[" Acme B", "Acme A", "Acme A"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA])
    b = SigningPolicy.of(generators=("Acme A", "Acme B"), source_types={D.TRAINED_ALGORITHMIC_MEDIA})
    assert a == b and a.generators == ("Acme A", "Acme B")
    wildcard = SigningPolicy.of(generators=["Acme A", "*"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA])
    assert wildcard.generators == ("*",) and wildcard.any_generator


@pytest.mark.parametrize(
    ("generators", "source_types", "problem"),
    [
        ((), GENERATED_SOURCE_TYPES, "at least one generator"),
        (("*",), (), "at least one digital source type"),
        (("  ",), GENERATED_SOURCE_TYPES, "blank"),
        (("x" * 257,), GENERATED_SOURCE_TYPES, "over 256 characters"),
        (("Acme\x00",), GENERATED_SOURCE_TYPES, "control character"),
        (("Acme\ud800",), GENERATED_SOURCE_TYPES, "control character"),
        ((f"g{n}" for n in range(51)), GENERATED_SOURCE_TYPES, "at most 50"),
        (("*",), ("trainedAlgorithmicMedia",), "DigitalSourceType members"),
    ],
)
def test_a_policy_that_makes_no_sense_fails_when_built(generators, source_types, problem):
    with pytest.raises(InvalidSigningPolicy, match=problem):
        SigningPolicy.of(generators=generators, source_types=source_types)


def test_an_edit_is_checked_against_the_default_source_type_it_would_get(tmp_path):
    policy = SigningPolicy.of(generators=["*"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA])
    policy.check(_request())  # new output: trainedAlgorithmicMedia
    with pytest.raises(SigningNotPermitted) as refused:
        policy.check(_request(parent=tmp_path / "original.jpg"))  # an edit: compositeWith...
    error = refused.value
    assert error.source_type is D.COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA and error.source_type_defaulted
    assert "the default digital source type 'compositeWithTrainedAlgorithmicMedia'" in error.message
    # Naming an allowed type for the edit is fine.
    policy.check(_request(parent=tmp_path / "original.jpg", source_type=D.TRAINED_ALGORITHMIC_MEDIA))


def test_a_refusal_names_every_refused_claim_and_what_is_allowed():
    policy = SigningPolicy.of(generators=["Acme *"], source_types=[D.TRAINED_ALGORITHMIC_MEDIA])
    with pytest.raises(SigningNotPermitted) as refused:
        policy.check(_request(generator="Camera App", source_type=D.DIGITAL_CAPTURE))
    error = refused.value
    assert isinstance(error, SigningError)  # handled wherever signer errors are
    assert error.generator == "Camera App" and error.source_type is D.DIGITAL_CAPTURE
    assert not error.source_type_defaulted
    assert error.message == (
        "the signing policy does not allow the generator 'Camera App' (allowed: 'Acme *') "
        "nor the digital source type 'digitalCapture' (allowed: trainedAlgorithmicMedia)"
    )


@pytest.mark.parametrize(
    ("policy", "allowed_labels"),
    [
        (SigningPolicy.default(), {"ai_generated", "ai_edited"}),
        (
            SigningPolicy.of(generators=["*"], source_types=[DigitalSourceType.DIGITAL_CREATION]),
            {"ai_generated", "ai_edited", "credentials", "invalid", "none"},
        ),
        (
            SigningPolicy.of(generators=["*"], source_types=[DigitalSourceType.COMPUTATIONAL_CAPTURE]),
            {"ai_generated", "ai_edited", "credentials", "invalid", "none", "captured"},
        ),
        (SigningPolicy.unrestricted(), {"ai_generated", "ai_edited", "credentials", "invalid", "none", "captured"}),
    ],
)
def test_renditions_show_only_labels_the_key_could_claim_on_sign(policy, allowed_labels):
    """A rendition shows its original's label on the caller's bytes: an AI label for any key, a
    captured one only with a capture type, any other only with a type that is not AI output."""
    from verifier.label_types import LabelKind

    for kind in LabelKind:
        if kind.value in allowed_labels:
            policy.check_rendition(kind)
        else:
            with pytest.raises(SigningNotPermitted) as refused:
                policy.check_rendition(kind)
            assert refused.value.rendition_label is kind
            assert "renditions labelled" in str(refused.value)
