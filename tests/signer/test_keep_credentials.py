"""Signing a file that already carries Content Credentials keeps them (issue 15, first slice).

Real third-party files from ../shared/corpus: the output's manifest records the file itself as its
parentOf ingredient (with the engine's validation results of its store), with `c2pa.opened` and
the caller's `c2pa.edited`; `replace_credentials` drops them; credentials that are broken are
recorded as broken, and ones that cannot be kept are refused, never dropped silently.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import c2pa
import pytest

from signer.errors import PriorCredentialsConflict, PriorCredentialsUnusable
from signer.manifest import PARENT_INGREDIENT_LABEL, GenerationRequest, PriorCredentials
from signer.policy import SigningNotPermitted, SigningPolicy
from verifier.label import Signal, classify, label_for, manifest_signals
from verifier.label_types import LabelKind
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import VerdictState

FIREFLY = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"  # Adobe Firefly 2023, trusted (ITL)
GENERATIVE_FILL = "c2pa-js-legacy/tools/testing/fixtures/images/gen-fill.jpg"  # Photoshop generative fill
CAMERA = "c2pa-rs/cli/tests/fixtures/C_with_CAWG_data.jpg"  # the corpus's one captured photo (digitalCapture)
TAMPERED = "c2pa-rs/sdk/tests/fixtures/XCA.jpg"  # pixels changed after signing: dataHash mismatch
CLAIM_MISSING = "c2pa-js-legacy/tools/testing/fixtures/images/E-clm-CAICAI.jpg"  # an ingredient's claim is gone
NO_CREDENTIALS = "c2pa-rs/cli/tests/fixtures/earth_apollo17.jpg"

REQUEST = GenerationRequest(generator_name="Acme Upscaler", generator_version="3.0")


def _plain_read(path: Path, mime: str = "image/jpeg") -> dict:
    """What an independent reader sees: the plain engine, no originmark settings but no fetching."""
    context = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}})
    try:
        with path.open("rb") as stream, c2pa.Reader(mime, stream, context=context) as reader:
            return json.loads(reader.json())
    finally:
        context.close()


@pytest.fixture(scope="module")
def verifier(ca_pem) -> Verifier:
    """The service's verifier with the shared trust lists (Firefly chains to the ITL) and our CA."""
    return Verifier(policy=default_trust_policy(local_anchors_pem=ca_pem))


def _sign(content_signer, shared_dir, tmp_path, relative: str, request: GenerationRequest = REQUEST):
    source = tmp_path / Path(relative).name
    shutil.copyfile(shared_dir / "corpus" / relative, source)
    return content_signer.sign_file(source=source, destination=tmp_path / "out" / source.name, request=request)


@pytest.fixture
def out_folder(tmp_path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path


def test_a_re_signed_firefly_image_keeps_its_history_and_stays_ai_generated(
    content_signer, shared_dir, out_folder, verifier
):
    original = _plain_read(shared_dir / "corpus" / FIREFLY)
    result = _sign(content_signer, shared_dir, out_folder, FIREFLY)
    assert result.prior_credentials is PriorCredentials.KEPT

    seen = _plain_read(result.destination)
    assert len(seen["manifests"]) == 2
    active = seen["manifests"][seen["active_manifest"]]
    [ingredient] = active["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == original["active_manifest"]  # the original's manifest, unchanged
    assert seen["manifests"][ingredient["active_manifest"]] == original["manifests"][original["active_manifest"]]
    actions = next(a["data"]["actions"] for a in active["assertions"] if a["label"] == "c2pa.actions.v2")
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.edited"]
    assert PARENT_INGREDIENT_LABEL not in json.dumps(actions)  # the engine replaced our placeholder
    assert actions[1]["softwareAgent"]["name"] == "Acme Upscaler"

    verdict = verifier.verify_file(result.destination)
    assert verdict.state is VerdictState.TRUSTED
    [parent] = verdict.ingredients
    assert (parent.relationship, parent.state) == ("parentOf", VerdictState.TRUSTED)
    label = label_for(verdict)
    assert label.kind is LabelKind.AI_GENERATED  # the AI original's inception decides (signals rubric)
    assert label.issuer == "originmark development"  # who signed this file; Adobe's manifest is its parent


def test_a_re_signed_generative_fill_keeps_its_ai_edited_history(content_signer, shared_dir, out_folder, verifier):
    original = verifier.verify_file(shared_dir / "corpus" / GENERATIVE_FILL)
    result = _sign(content_signer, shared_dir, out_folder, GENERATIVE_FILL)
    verdict = verifier.verify_file(result.destination)
    assert label_for(original).kind is LabelKind.AI_EDITED
    assert label_for(verdict).kind is LabelKind.AI_EDITED
    assert [m.label for m in verdict.manifests[1:]] == [m.label for m in original.manifests]


def test_a_re_signed_camera_photo_keeps_its_captured_history_and_is_labelled_by_the_new_claim(
    content_signer, shared_dir, out_folder, verifier
):
    original = verifier.verify_file(shared_dir / "corpus" / CAMERA)
    assert label_for(original).kind is LabelKind.CAPTURED
    result = _sign(content_signer, shared_dir, out_folder, CAMERA)
    assert result.prior_credentials is PriorCredentials.KEPT

    verdict = verifier.verify_file(result.destination)
    # Valid, not trusted: the photo's CAWG X.509 identity chains to no list we trust, and the engine
    # reports that among the new manifest's failures (signer.engine.TRUST_ONLY_FAILURE_CODES).
    assert verdict.state is VerdictState.VALID
    assert verdict.failure_codes == ("cawg.x509.credential.untrusted",)
    camera = verdict.manifests[1]
    assert camera.label == original.manifests[0].label
    assert manifest_signals(camera).inceptions[0].signal is Signal.CAPTURED_MEDIA  # the history is kept
    # Signing declares a GenAI step (trainedAlgorithmicMedia on c2pa.edited): captured, then AI-edited.
    assert manifest_signals(verdict.manifests[0]).transformations[0].signal is Signal.PERCEPTIBLE_GENAI
    assert label_for(verdict).kind is LabelKind.AI_EDITED


def test_replace_credentials_drops_them(content_signer, shared_dir, out_folder, verifier):
    request = GenerationRequest(generator_name="Acme Upscaler", replace_credentials=True)
    result = _sign(content_signer, shared_dir, out_folder, FIREFLY, request)
    assert result.prior_credentials is PriorCredentials.REPLACED
    # For the audit log: the active manifest dropped, as any reader names it.
    assert result.replaced_manifest_label == "adobe:5468a4d3-0dc5-4550-8248-590eb7c520ec"
    seen = _plain_read(result.destination)
    assert len(seen["manifests"]) == 1
    active = seen["manifests"][seen["active_manifest"]]
    assert active.get("ingredients", []) == []
    verdict = verifier.verify_file(result.destination)
    assert [a.action for a in verdict.actions] == ["c2pa.created"]
    assert classify(verdict)[0] is LabelKind.AI_GENERATED  # only because we declared it


def test_replacing_needs_a_policy_that_allows_it():
    request = GenerationRequest(generator_name="Acme", replace_credentials=True)
    with pytest.raises(SigningNotPermitted) as refused:
        SigningPolicy.default().check(request)
    assert refused.value.replace_credentials and refused.value.generator is None
    assert "replacing the Content Credentials" in str(refused.value)
    with pytest.raises(SigningNotPermitted):
        SigningPolicy.unrestricted().check(request)  # any claim, but never that without an explicit grant
    granted = SigningPolicy.of(
        generators=["*"], source_types=SigningPolicy.default().source_types, may_replace_credentials=True
    )
    granted.check(request)
    SigningPolicy.default().check(GenerationRequest(generator_name="Acme"))  # keeping needs no grant


def test_invalid_credentials_are_recorded_as_invalid_not_laundered(content_signer, shared_dir, out_folder, verifier):
    result = _sign(content_signer, shared_dir, out_folder, TAMPERED)
    assert result.prior_credentials is PriorCredentials.KEPT
    seen = _plain_read(result.destination)
    active = seen["manifests"][seen["active_manifest"]]
    [ingredient] = active["ingredients"]
    recorded = [f["code"] for f in ingredient["validation_results"]["activeManifest"]["failure"]]
    assert "assertion.dataHash.mismatch" in recorded  # the C2PA way: in the ingredient's validation results

    verdict = verifier.verify_file(result.destination)
    assert verdict.state is VerdictState.TRUSTED  # our own signature on what we signed is sound
    [parent] = verdict.ingredients
    assert parent.state is VerdictState.INVALID
    assert "assertion.dataHash.mismatch" in parent.failure_codes
    assert verdict.reason is not None
    assert verdict.reason.startswith("the credentials of an ingredient (parentOf) are invalid (")
    # The broken history makes no claim: the label rests on our own declaration only.
    label = label_for(verdict)
    assert label.kind is LabelKind.AI_EDITED


def test_credentials_that_cannot_be_kept_are_refused_and_nothing_is_written(content_signer, shared_dir, out_folder):
    with pytest.raises(PriorCredentialsUnusable) as refused:
        _sign(content_signer, shared_dir, out_folder, CLAIM_MISSING)
    message = str(refused.value)
    assert "ingredient.manifest.missing" in message and "replace_credentials" in message
    assert list((out_folder / "out").iterdir()) == []


def test_a_separate_parent_with_a_source_that_carries_credentials_is_refused(
    content_signer, shared_dir, out_folder, make_jpeg
):
    request = GenerationRequest(generator_name="Acme Inpaint", parent=make_jpeg(out_folder / "parent.jpg"))
    with pytest.raises(PriorCredentialsConflict):
        _sign(content_signer, shared_dir, out_folder, FIREFLY, request)
    assert list((out_folder / "out").iterdir()) == []


def test_a_file_without_credentials_is_signed_as_before(content_signer, shared_dir, out_folder):
    result = _sign(content_signer, shared_dir, out_folder, NO_CREDENTIALS)
    assert result.prior_credentials is PriorCredentials.NONE
    seen = _plain_read(result.destination)
    assert len(seen["manifests"]) == 1


def test_a_webp_with_credentials_keeps_them(content_signer, media_samples, tmp_path):
    """The issue's DALL-E case: a WebP carrying a generator's credentials (made here: the corpus
    holds no credentialed WebP) is re-signed with them as its parent."""
    generated = content_signer.sign_file(
        source=media_samples["WebP"],
        destination=tmp_path / "dalle.webp",
        request=GenerationRequest(generator_name="DALL-E 3"),
    )
    assert generated.prior_credentials is PriorCredentials.NONE
    resigned = content_signer.sign_file(
        source=generated.destination, destination=tmp_path / "out.webp", request=REQUEST
    )
    assert resigned.prior_credentials is PriorCredentials.KEPT
    seen = _plain_read(resigned.destination, "image/webp")
    active = seen["manifests"][seen["active_manifest"]]
    assert [i["active_manifest"] for i in active["ingredients"]] == [generated.manifest_label]
