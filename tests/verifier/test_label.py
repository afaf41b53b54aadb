"""`label_for`: the signals rubric and the UX rules, on hand-made verdicts."""

from __future__ import annotations

import dataclasses

import pytest

from verifier.label import (
    ERROR_TEXT,
    INVALID_TEXT,
    NONE_TEXT,
    Signal,
    label_for,
    manifest_signals,
    normalize_source_type,
)
from verifier.label_types import LabelEvidence, LabelKind
from verifier.verdict import (
    Action,
    ActionsForm,
    IngredientSummary,
    ManifestSummary,
    Signer,
    Verdict,
    VerdictState,
)

# The IPTC vocabulary's namespace, written out: it is the spec `verifier.label` must match, so
# taking it from the module under test would let a wrong namespace there pass every case here.
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
ADOBE = Signer(organisation="Adobe Inc.", common_name="cai-prod")


def act(action: str, dst: str | None = None, *, v1: bool = False, description: str | None = None) -> Action:
    return Action(
        action=action,
        form=ActionsForm.V1 if v1 else ActionsForm.V2,
        digital_source_type=(IPTC + dst if dst and "://" not in dst else dst),
        description=description,
    )


def manifest(label: str = "urn:c2pa:active", *actions: Action, assertions=(), ingredients=()) -> ManifestSummary:
    return ManifestSummary(
        label=label,
        claim_generator="test/1.0",
        signer=ADOBE,
        actions=tuple(actions),
        assertion_labels=tuple(assertions),
        ingredients=tuple(ingredients),
    )


def verdict(*manifests: ManifestSummary, state: VerdictState = VerdictState.TRUSTED, signer=ADOBE) -> Verdict:
    return Verdict(
        state=state,
        sha256="0" * 64,
        size=1,
        engine_version="c2pa-rs/0.91.3",
        signer=signer,
        manifests=tuple(manifests),
    )


def parent(
    label: str, *, state: VerdictState | None = VerdictState.VALID, relationship="parentOf"
) -> IngredientSummary:
    return IngredientSummary(title="parent.jpg", relationship=relationship, manifest_label=label, state=state)


# --- UX rules ---------------------------------------------------------------------


def test_no_credentials_is_kind_none_without_claims():
    label = label_for(verdict(state=VerdictState.NONE, signer=None))
    assert (label.kind, label.trusted, label.text, label.issuer, label.evidence) == (
        LabelKind.NONE,
        False,
        NONE_TEXT,
        None,
        LabelEvidence.NONE,
    )


def test_error_is_kind_none_and_shows_no_claims_even_with_manifest_data():
    ai = manifest("m", act("c2pa.created", "trainedAlgorithmicMedia"))
    label = label_for(verdict(ai, state=VerdictState.ERROR))
    assert (label.kind, label.text, label.issuer, label.trusted) == (LabelKind.NONE, ERROR_TEXT, None, False)


def test_invalid_hides_every_provenance_claim_including_the_signer():
    ai = manifest("m", act("c2pa.created", "trainedAlgorithmicMedia"))
    label = label_for(verdict(ai, state=VerdictState.INVALID))
    assert label.kind is LabelKind.INVALID
    assert label.text == INVALID_TEXT == "Content Credentials could not be verified"
    assert label.issuer is None
    assert label.trusted is False
    assert label.evidence is LabelEvidence.NONE
    assert "AI" not in label.text


def test_trusted_signer_shows_classification_and_issuer():
    label = label_for(verdict(manifest("m", act("c2pa.created", "trainedAlgorithmicMedia"))))
    assert (label.kind, label.trusted, label.text, label.issuer) == (
        LabelKind.AI_GENERATED,
        True,
        "AI-generated",
        "Adobe Inc.",
    )


@pytest.mark.parametrize(
    ("dst", "kind", "text"),
    [
        ("trainedAlgorithmicMedia", LabelKind.AI_GENERATED, "AI-generated · unrecognized signer"),
        ("compositeWithTrainedAlgorithmicMedia", LabelKind.AI_EDITED, "AI-edited · unrecognized signer"),
        ("digitalCapture", LabelKind.CAPTURED, "Captured · unrecognized signer"),
        ("digitalCreation", LabelKind.CREDENTIALS, "Content Credentials · unrecognized signer"),
    ],
)
def test_valid_but_unlisted_signer_is_unrecognized_never_verified(dst, kind, text):
    label = label_for(verdict(manifest("m", act("c2pa.created", dst)), state=VerdictState.VALID))
    assert (label.kind, label.trusted, label.text) == (kind, False, text)
    assert label.issuer == "Adobe Inc."


def test_issuer_falls_back_to_common_name_and_is_made_printable_and_short():
    signer = Signer(organisation="  ", common_name="Evil\x1b[31m\nCorp" + "A" * 500)
    issuer = label_for(verdict(manifest("m"), signer=signer)).issuer
    assert issuer is not None and issuer.startswith("Evil [31m Corp")
    assert "\x1b" not in issuer and "\n" not in issuer
    assert len(issuer) == 120 and issuer.endswith("…")


def test_issuer_is_none_without_a_signer():
    assert label_for(verdict(manifest("m"), signer=None)).issuer is None


# --- inception signals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("dst", "kind"),
    [
        ("trainedAlgorithmicMedia", LabelKind.AI_GENERATED),  # fullyGenAIMedia
        ("http://c2pa.org/digitalsourcetype/trainedAlgorithmicData", LabelKind.AI_GENERATED),  # our extension
        ("compositeWithTrainedAlgorithmicMedia", LabelKind.AI_EDITED),  # partlyGenAICreation
        ("compositeSynthetic", LabelKind.AI_EDITED),  # GenAI list, but a composite
        ("composite", LabelKind.AI_EDITED),  # compositionMayContainGenAI
        ("digitalCapture", LabelKind.CAPTURED),  # capturedMedia
        ("computationalCapture", LabelKind.CAPTURED),  # capturedMedia
        ("compositeCapture", LabelKind.CAPTURED),  # capturedMediaStitched
        ("algorithmicMedia", LabelKind.CREDENTIALS),  # not GenAI per the rubric
        ("digitalCreation", LabelKind.CREDENTIALS),  # nonGenAIDigitalCreation
        ("screenCapture", LabelKind.CREDENTIALS),  # "may contain" GenAI: no claim either way
        ("http://c2pa.org/digitalsourcetype/empty", LabelKind.CREDENTIALS),  # blankCanvas
        ("virtualRecording", LabelKind.CREDENTIALS),
        ("https://example.com/madeUpType", LabelKind.CREDENTIALS),
    ],
)
def test_inception_source_type_decides_the_kind(dst, kind):
    label = label_for(verdict(manifest("m", act("c2pa.created", dst))))
    assert label.kind is kind
    expected_evidence = LabelEvidence.NONE if kind is LabelKind.CREDENTIALS else LabelEvidence.DIGITAL_SOURCE_TYPE
    assert label.evidence is expected_evidence


def test_https_iptc_uri_is_read_like_the_http_one():
    https = "https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert normalize_source_type(https) == IPTC + "trainedAlgorithmicMedia"
    assert label_for(verdict(manifest("m", act("c2pa.created", https)))).kind is LabelKind.AI_GENERATED


def test_opened_with_source_type_is_an_inception_like_created():
    label = label_for(verdict(manifest("m", act("c2pa.opened", "trainedAlgorithmicMedia"))))
    assert label.kind is LabelKind.AI_GENERATED


def test_created_without_any_signal_is_plain_credentials():
    label = label_for(verdict(manifest("m", act("c2pa.created"))))
    assert (label.kind, label.evidence, label.text) == (
        LabelKind.CREDENTIALS,
        LabelEvidence.NONE,
        "Content Credentials",
    )


def test_no_manifests_but_active_actions_on_the_verdict_are_still_read():
    bare = dataclasses.replace(verdict(), actions=(act("c2pa.created", "trainedAlgorithmicMedia"),))
    assert label_for(bare).kind is LabelKind.AI_GENERATED


# --- transformation signals -----------------------------------------------------


def test_captured_with_only_non_editorial_actions_since_stays_captured():
    camera = manifest("cam", act("c2pa.created", "digitalCapture"))
    published = manifest(
        "pub",
        act("c2pa.opened"),
        act("c2pa.resized.proportional"),
        act("c2pa.transcoded"),
        act("c2pa.edited.metadata"),
        act("c2pa.watermarked"),
        ingredients=[parent("cam")],
    )
    label = label_for(verdict(published, camera))
    assert (label.kind, label.evidence) == (LabelKind.CAPTURED, LabelEvidence.DIGITAL_SOURCE_TYPE)


def test_perceptible_genai_edit_after_captured_inception_is_ai_edited():
    camera = manifest("cam", act("c2pa.created", "digitalCapture"))
    edited = manifest(
        "edit",
        act("c2pa.opened"),
        act("c2pa.edited", "compositeWithTrainedAlgorithmicMedia"),
        ingredients=[parent("cam")],
    )
    label = label_for(verdict(edited, camera))
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.DIGITAL_SOURCE_TYPE)


@pytest.mark.parametrize(
    "edit",
    [
        act("c2pa.cropped"),  # perceptible, no source type
        act("c2pa.color_adjustments", "digitalCreation"),  # perceptibleNonGenAI
        act("c2pa.edited", "digitalArt"),  # perceptiblePossiblyGenAI: not GenAI, but not non-editorial
        act("com.example.filter"),  # custom action: ambiguous, and perceptible
    ],
)
def test_perceptible_non_genai_edit_after_capture_ends_captured_without_claiming_ai(edit):
    camera = manifest("cam", act("c2pa.created", "digitalCapture"))
    edited = manifest("edit", act("c2pa.opened"), edit, ingredients=[parent("cam")])
    assert label_for(verdict(edited, camera)).kind is LabelKind.CREDENTIALS


def test_perceptible_edit_inside_the_capturing_manifest_also_ends_captured():
    label = label_for(verdict(manifest("m", act("c2pa.created", "digitalCapture"), act("c2pa.cropped"))))
    assert label.kind is LabelKind.CREDENTIALS


def test_genai_edit_without_any_inception_is_ai_edited():
    label = label_for(
        verdict(
            manifest(
                "m",
                act(
                    "c2pa.edited",
                    "https://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia",
                ),
            )
        )
    )
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.DIGITAL_SOURCE_TYPE)


@pytest.mark.parametrize("non_editorial", ["c2pa.converted", "c2pa.published", "c2pa.redacted"])
def test_genai_source_type_on_a_non_editorial_action_is_not_a_genai_edit(non_editorial):
    camera = manifest("m", act("c2pa.created", "digitalCapture"), act(non_editorial, "trainedAlgorithmicMedia"))
    assert label_for(verdict(camera)).kind is LabelKind.CAPTURED


def test_fully_genai_inception_stays_ai_generated_after_any_edit():
    generated = manifest("gen", act("c2pa.created", "trainedAlgorithmicMedia"))
    edited = manifest(
        "edit",
        act("c2pa.opened"),
        act("c2pa.cropped"),
        act("c2pa.edited", "compositeWithTrainedAlgorithmicMedia"),
        ingredients=[parent("gen")],
    )
    assert label_for(verdict(edited, generated)).kind is LabelKind.AI_GENERATED


def test_earliest_known_inception_wins_over_a_later_opened_declaration():
    # Photoshop 2025 writes c2pa.opened + compositeWithTrainedAlgorithmicMedia over a Firefly original.
    generated = manifest("gen", act("c2pa.created", "trainedAlgorithmicMedia"))
    edited = manifest(
        "edit",
        act("c2pa.opened", "compositeWithTrainedAlgorithmicMedia"),
        ingredients=[parent("gen", relationship="componentOf")],
    )
    assert label_for(verdict(edited, generated)).kind is LabelKind.AI_GENERATED


def test_later_declaration_fills_in_when_the_earliest_inception_is_unknown():
    old = manifest("old", act("c2pa.created"))
    newer = manifest("new", act("c2pa.opened", "digitalCapture"), ingredients=[parent("old")])
    assert label_for(verdict(newer, old)).kind is LabelKind.CAPTURED


def test_invalid_parent_credentials_are_not_followed():
    camera = manifest("cam", act("c2pa.created", "digitalCapture"))
    published = manifest("pub", act("c2pa.opened"), ingredients=[parent("cam", state=VerdictState.INVALID)])
    assert label_for(verdict(published, camera)).kind is LabelKind.CREDENTIALS


def test_ai_generated_component_makes_the_composite_ai_edited():
    generated = manifest("gen", act("c2pa.created", "trainedAlgorithmicMedia"))
    composite = manifest(
        "doc",
        act("c2pa.created", "digitalCreation"),
        act("c2pa.placed", "digitalCreation"),
        ingredients=[parent("gen", relationship="componentOf")],
    )
    label = label_for(verdict(composite, generated))
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.DIGITAL_SOURCE_TYPE)


def test_input_to_ingredients_do_not_classify_the_output():
    generated = manifest("gen", act("c2pa.created", "trainedAlgorithmicMedia"))
    photo = manifest("out", act("c2pa.created", "digitalCapture"), ingredients=[parent("gen", relationship="inputTo")])
    assert label_for(verdict(photo, generated)).kind is LabelKind.CAPTURED


def test_ingredient_cycles_terminate():
    a = manifest("a", act("c2pa.opened"), ingredients=[parent("b")])
    b = manifest("b", act("c2pa.opened"), ingredients=[parent("a")])
    assert label_for(verdict(a, b)).kind is LabelKind.CREDENTIALS


def test_deep_history_is_followed_to_its_origin():
    chain = [manifest("m0", act("c2pa.created", "digitalCapture"))]
    for index in range(1, 60):
        chain.append(
            manifest(f"m{index}", act("c2pa.opened"), act("c2pa.transcoded"), ingredients=[parent(f"m{index - 1}")])
        )
    assert label_for(verdict(*reversed(chain))).kind is LabelKind.CAPTURED


# --- weaker evidence --------------------------------------------------------------


def test_legacy_v1_actions_are_read_with_legacy_evidence():
    dalle = manifest("m", act("c2pa.created", "trainedAlgorithmicMedia", v1=True))
    label = label_for(verdict(dalle))
    assert (label.kind, label.evidence) == (LabelKind.AI_GENERATED, LabelEvidence.LEGACY_ACTIONS)


def test_legacy_v1_genai_edit_is_ai_edited():
    edit = manifest("m", act("c2pa.opened", v1=True), act("c2pa.edited", "trainedAlgorithmicMedia", v1=True))
    label = label_for(verdict(edit))
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.LEGACY_ACTIONS)


def test_parent_ingredient_source_type_is_read_when_actions_declare_none():
    titan = manifest(
        "m",
        act("c2pa.opened"),
        ingredients=[
            IngredientSummary(
                title="gen", relationship="parentOf", digital_source_type=IPTC + "trainedAlgorithmicMedia"
            )
        ],
    )
    label = label_for(verdict(titan))
    assert (label.kind, label.evidence) == (LabelKind.AI_GENERATED, LabelEvidence.INGREDIENT_SOURCE_TYPE)


def test_component_ingredient_genai_source_type_makes_ai_edited():
    doc = manifest(
        "m",
        act("c2pa.created", "digitalCreation"),
        ingredients=[
            IngredientSummary(
                title="x", relationship="componentOf", digital_source_type=IPTC + "trainedAlgorithmicMedia"
            )
        ],
    )
    label = label_for(verdict(doc))
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.INGREDIENT_SOURCE_TYPE)


def test_firefly_2023_generative_ai_assertion_on_created_is_ai_generated():
    firefly = manifest("m", act("c2pa.created", v1=True), assertions=["c2pa.actions", "com.adobe.generative-ai"])
    label = label_for(verdict(firefly))
    assert (label.kind, label.evidence) == (LabelKind.AI_GENERATED, LabelEvidence.GENERATIVE_AI_ASSERTION)


def test_generative_ai_assertion_instance_suffix_is_recognised():
    firefly = manifest("m", act("c2pa.created"), assertions=["com.adobe.generative-ai__1"])
    assert label_for(verdict(firefly)).kind is LabelKind.AI_GENERATED


def test_generative_ai_assertion_on_an_edit_manifest_is_ai_edited():
    camera = manifest("cam", act("c2pa.created", "digitalCapture"))
    fill = manifest(
        "fill",
        act("c2pa.opened"),
        act("c2pa.edited"),
        assertions=["com.adobe.generative-ai"],
        ingredients=[parent("cam")],
    )
    label = label_for(verdict(fill, camera))
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.GENERATIVE_AI_ASSERTION)


def test_microsoft_ai_description_without_source_type_is_ai_generated():
    bing = manifest("m", act("c2pa.created", v1=True, description="AI Generated Image"))
    label = label_for(verdict(bing))
    assert (label.kind, label.evidence) == (LabelKind.AI_GENERATED, LabelEvidence.AI_DESCRIPTION)


def test_ai_description_only_counts_on_created():
    edit = manifest("m", act("c2pa.edited", description="AI Generated Image"))
    assert label_for(verdict(edit)).kind is LabelKind.CREDENTIALS


def test_generative_ai_assertion_outranks_the_description():
    both = manifest("m", act("c2pa.created", description="AI Generated Image"), assertions=["com.adobe.generative-ai"])
    assert label_for(verdict(both)).evidence is LabelEvidence.GENERATIVE_AI_ASSERTION


def test_v2_source_type_beats_weaker_evidence_in_the_same_manifest():
    # A declared capture wins over a description and an assertion that would say AI.
    declared = manifest(
        "m",
        act("c2pa.created", "digitalCapture", description="AI Generated Image"),
        assertions=["com.adobe.generative-ai"],
        ingredients=[
            IngredientSummary(title="p", relationship="parentOf", digital_source_type=IPTC + "trainedAlgorithmicMedia")
        ],
    )
    label = label_for(verdict(declared))
    assert (label.kind, label.evidence) == (LabelKind.CAPTURED, LabelEvidence.DIGITAL_SOURCE_TYPE)


def test_v2_non_genai_declaration_beats_the_generative_ai_assertion():
    declared = manifest("m", act("c2pa.created", "digitalCreation"), assertions=["com.adobe.generative-ai"])
    assert label_for(verdict(declared)).kind is LabelKind.CREDENTIALS


def test_v2_evidence_is_reported_when_v2_and_v1_agree():
    both = manifest(
        "m",
        act("c2pa.created", "trainedAlgorithmicMedia", v1=True),
        act("c2pa.created", "trainedAlgorithmicMedia"),
        assertions=["com.adobe.generative-ai"],
    )
    assert label_for(verdict(both)).evidence is LabelEvidence.DIGITAL_SOURCE_TYPE


def test_v2_beats_v1_when_they_disagree():
    both = manifest("m", act("c2pa.created", "digitalCapture", v1=True), act("c2pa.created", "trainedAlgorithmicMedia"))
    label = label_for(verdict(both))
    assert (label.kind, label.evidence) == (LabelKind.AI_GENERATED, LabelEvidence.DIGITAL_SOURCE_TYPE)


def test_ai_edited_reports_its_strongest_evidence():
    weak_parent = manifest("p", act("c2pa.created"), assertions=["com.adobe.generative-ai"])  # -> ai_generated (weak)
    composite = manifest(
        "c",
        act("c2pa.created", "digitalCreation"),
        act("c2pa.edited", "trainedAlgorithmicMedia", v1=True),
        ingredients=[parent("p", relationship="componentOf")],
    )
    label = label_for(verdict(composite, weak_parent))
    assert (label.kind, label.evidence) == (LabelKind.AI_EDITED, LabelEvidence.LEGACY_ACTIONS)


# --- the per-manifest signals -------------------------------------------------------


def test_manifest_signals_name_the_rubric_signals():
    m = manifest(
        "m",
        act("c2pa.created", "digitalCapture"),
        act("c2pa.resized.proportional"),
        act("c2pa.edited", "compositeWithTrainedAlgorithmicMedia"),
        act("c2pa.color_adjustments", "digitalCreation"),
        act("c2pa.filtered", "digitalArt"),
        act("acme"),
        ingredients=[IngredientSummary(title="no creds", relationship="componentOf")],
    )
    signals = manifest_signals(m)
    assert {hit.signal for hit in signals.inceptions} == {Signal.CAPTURED_MEDIA, Signal.MEDIA_UNKNOWN_PROVENANCE}
    assert {hit.signal for hit in signals.transformations} == {
        Signal.NON_EDITORIAL,
        Signal.PERCEPTIBLE_GENAI,
        Signal.PERCEPTIBLE_NON_GENAI,
        Signal.PERCEPTIBLE_POSSIBLY_GENAI,
        Signal.PERCEPTIBLE_UNDECLARED,
        Signal.AMBIGUOUS_ACTIONS,
    }


def test_label_for_is_pure_and_deterministic():
    v = verdict(manifest("m", act("c2pa.created", "trainedAlgorithmicMedia")))
    assert label_for(v) == label_for(v)


# --- hostile stores ----------------------------------------------------------------


def test_a_very_deep_history_neither_recurses_out_nor_claims_what_it_cannot_see():
    chain = [manifest("m0", act("c2pa.created", "digitalCapture"))]
    for index in range(1, 5000):
        chain.append(manifest(f"m{index}", act("c2pa.opened"), ingredients=[parent(f"m{index - 1}")]))
    label = label_for(verdict(*reversed(chain)))
    # The origin is past the followed depth: the label stays classification-free.
    assert label.kind is LabelKind.CREDENTIALS


def test_shared_ingredients_are_read_once_not_once_per_path():
    # 40 levels, each manifest using both manifests of the level below: 2**40 paths.
    levels = 40
    store = [manifest(f"L{levels}-{side}", act("c2pa.created", "trainedAlgorithmicMedia")) for side in "ab"]
    for level in range(levels - 1, -1, -1):
        below = [parent(f"L{level + 1}-{side}", relationship="componentOf") for side in "ab"]
        store += [
            manifest(f"L{level}-{side}", act("c2pa.created", "digitalCreation"), ingredients=below) for side in "ab"
        ]
    active = next(m for m in store if m.label == "L0-a")
    label = label_for(verdict(active, *[m for m in store if m is not active]))
    assert label.kind is LabelKind.AI_EDITED
