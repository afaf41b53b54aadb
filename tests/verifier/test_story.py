"""`story_of`: the manifest history `inspect` shows, as data."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from verifier.label import Signal
from verifier.label_types import LabelKind
from verifier.story import ManifestRole, story_of, story_record
from verifier.verdict import (
    Action,
    ActionsForm,
    IngredientSummary,
    ManifestSummary,
    Signer,
    Verdict,
    VerdictState,
)

SIGNED_AT = datetime(2024, 3, 27, 23, 35, 39, tzinfo=UTC)


def _verdict(state: VerdictState = VerdictState.VALID) -> Verdict:
    original = ManifestSummary(
        label="urn:c2pa:original",
        claim_generator="Adobe_Firefly",
        title="Generated image",
        signer=Signer(organisation="Adobe Inc.", common_name="firefly-prod", algorithm="Ps256"),
        signed_at=SIGNED_AT,
        time_stamped=True,
        actions=(
            Action(
                action="c2pa.created",
                form=ActionsForm.V2,
                digital_source_type="https://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
                software_agent="Adobe Firefly 3.0",
            ),
        ),
        assertion_labels=("c2pa.actions.v2", "c2pa.hash.data"),
        ingredients=(IngredientSummary(title="Reference Image", relationship="inputTo", format="image/jpeg"),),
    )
    edit = ManifestSummary(
        label="urn:c2pa:edit",
        claim_generator="Photoshop",
        title="edit.jpg",
        signer=Signer(organisation="Adobe Inc.", common_name="Adobe C2PA"),
        actions=(
            Action(action="c2pa.opened", form=ActionsForm.V2),
            Action(action="c2pa.cropped", form=ActionsForm.V2, description="Cropped"),
        ),
        assertion_labels=("c2pa.actions.v2",),
        ingredients=(
            IngredientSummary(
                title="firefly.jpg",
                relationship="parentOf",
                format="image/jpeg",
                manifest_label="urn:c2pa:original",
                state=VerdictState.VALID,
                failure_codes=("assertion.dataHash.mismatch",),
            ),
        ),
    )
    stray = ManifestSummary(label="urn:c2pa:stray", claim_generator=None)
    return Verdict(
        state=state,
        sha256="ab" * 32,
        size=1234,
        engine_version="c2pa-rs/0.91.3",
        format="image/jpeg",
        signer=edit.signer,
        failure_codes=("signingCredential.untrusted",),
        manifests=(edit, stray, original),
    )


def test_chapters_follow_the_history_active_first_then_ingredients_then_strays():
    story = story_of(_verdict())
    assert [(c.label, c.role, c.depth) for c in story.chapters] == [
        ("urn:c2pa:edit", ManifestRole.ACTIVE, 0),
        ("urn:c2pa:original", ManifestRole.INGREDIENT, 1),
        ("urn:c2pa:stray", ManifestRole.UNREFERENCED, 0),
    ]


def test_story_carries_label_state_and_file_facts():
    story = story_of(_verdict())
    assert story.label.kind is LabelKind.AI_GENERATED and story.label.trusted is False
    assert (story.state, story.format, story.size, story.engine_version) == (
        VerdictState.VALID,
        "image/jpeg",
        1234,
        "c2pa-rs/0.91.3",
    )


def test_chapter_details_actions_ingredients_signer_and_codes():
    active, original, _ = story_of(_verdict()).chapters
    assert active.validation_codes == ("signingCredential.untrusted",)
    assert original.validation_codes == ("assertion.dataHash.mismatch",)  # as its ingredient reported
    created = original.actions[0]
    assert (created.action, created.source_type_term, created.software_agent) == (
        "c2pa.created",
        "trainedAlgorithmicMedia",
        "Adobe Firefly 3.0",
    )
    assert (original.signer_organisation, original.signer_common_name, original.signing_algorithm) == (
        "Adobe Inc.",
        "firefly-prod",
        "Ps256",
    )
    assert original.signed_at == SIGNED_AT and original.time_stamped is True
    ingredient = active.ingredients[0]
    assert (ingredient.relationship, ingredient.manifest_label, ingredient.state) == (
        "parentOf",
        "urn:c2pa:original",
        VerdictState.VALID,
    )
    assert original.assertion_labels == ("c2pa.actions.v2", "c2pa.hash.data")


def test_chapters_name_the_rubric_signals_of_each_manifest():
    active, original, stray = story_of(_verdict()).chapters
    # The reference image came without credentials: the rubric's "media of unknown provenance".
    assert [line.signal for line in original.inception_signals] == [
        Signal.FULLY_GENAI_MEDIA,
        Signal.MEDIA_UNKNOWN_PROVENANCE,
    ]
    assert original.inception_signals[0].evidence == "digital_source_type"
    assert {line.signal for line in active.transformation_signals} == {Signal.PERCEPTIBLE_UNDECLARED}
    assert [line.signal for line in stray.transformation_signals] == [Signal.AMBIGUOUS_ACTIONS]  # no actions at all


def test_no_credentials_story_has_no_chapters():
    story = story_of(Verdict(state=VerdictState.NONE, sha256="0" * 64, size=3, engine_version="x"))
    assert story.chapters == () and story.label.kind is LabelKind.NONE


def test_invalid_story_still_lists_the_manifests_but_the_label_claims_nothing():
    story = story_of(_verdict(VerdictState.INVALID))
    assert story.label.kind is LabelKind.INVALID and story.label.issuer is None
    assert len(story.chapters) == 3  # inspect is a forensic view: what the file says, marked invalid


def test_story_record_is_plain_json():
    record = story_record(story_of(_verdict()))
    text = json.dumps(record)
    assert record["label"]["kind"] == "ai_generated"
    assert record["chapters"][1]["signed_at"] == "2024-03-27T23:35:39+00:00"
    assert record["chapters"][0]["role"] == "active"
    assert record["chapters"][1]["inception_signals"][0]["signal"] == "inception:signal_fullyGenAIMedia"
    assert json.loads(text) == record


def test_deeply_nested_store_orders_without_recursion():
    manifests = [ManifestSummary(label="m0", claim_generator=None)]
    for index in range(1, 3000):
        manifests.append(
            ManifestSummary(
                label=f"m{index}",
                claim_generator=None,
                ingredients=(IngredientSummary(title=None, relationship="parentOf", manifest_label=f"m{index - 1}"),),
            )
        )
    verdict = Verdict(
        state=VerdictState.VALID, sha256="0" * 64, size=1, engine_version="x", manifests=tuple(reversed(manifests))
    )
    chapters = story_of(verdict).chapters
    assert len(chapters) == 3000 and chapters[-1].depth == 2999
