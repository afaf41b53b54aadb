"""The whole `../shared/corpus`: each file's verdict state and label, pinned.

Every entry of `corpus/index.json` is verified with the production trust policy
(the shipped C2PA, C2PA TSA and Interim Trust lists, plus a development CA as
`local`) in the isolated verifier, and compared with
`corpus_expectations.json`. A change of any state, label kind or label evidence
fails here; where our state differs from the outcome the file's authors
documented, the table says why.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.label import label_for
from verifier.label_types import LabelEvidence, LabelKind
from verifier.trust import default_trust_policy
from verifier.verdict import Verdict, VerdictState

EXPECTATIONS = Path(__file__).with_name("corpus_expectations.json")
WORKERS = 2

# Which of our states meet an outcome the authors documented; other outcomes
# ("remote", "sidecar", "unspecified") never match and always need a "why".
COMPATIBLE_STATES = {
    "valid": {"valid", "trusted"},  # "valid" documents the signature; trust depends on the lists
    "trusted": {"trusted"},
    "invalid": {"invalid"},
    "no_manifest": {"none"},
    "error": {"error"},
    "unsupported": {"error"},
}

FIREFLY_2023 = "c2pa-js-legacy/tools/testing/fixtures/images/firefly-1.jpg"
COMPOSITE_DST = "c2pa-js-legacy/tools/testing/fixtures/images/composite-dst.jpg"
CAPTURED = "c2pa-rs/cli/tests/fixtures/C_with_CAWG_data.jpg"
ALGORITHMIC = "c2pa-rs/sdk/tests/fixtures/C.jpg"
OPENED_FIREFLY = "c2pa-rs/sdk/tests/fixtures/ocsp.jpg"
TAMPERED = "c2pa-rs/sdk/tests/fixtures/XCA.jpg"


@pytest.fixture(scope="module")
def corpus_index(shared_dir: Path) -> list[dict]:
    return json.loads((shared_dir / "corpus" / "index.json").read_text())["files"]


@pytest.fixture(scope="module")
def pinned() -> dict[str, dict]:
    return json.loads(EXPECTATIONS.read_text())["files"]


@pytest.fixture(scope="module")
def verdicts(shared_dir: Path, corpus_index: list[dict], dev_credentials) -> dict[str, Verdict]:
    policy = default_trust_policy(local_anchors_pem=dev_credentials.ca_path.read_text())
    # The Settings defaults: the bounds production applies to a hostile upload.
    limits = VerifyLimits(timeout_seconds=30.0, memory_bytes=2048 * 1024 * 1024, max_asset_bytes=2 * 1024**3)
    paths = [entry["path"] for entry in corpus_index]
    with IsolatedVerifier(policy=policy, limits=limits, workers=WORKERS) as verifier:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = pool.map(lambda relative: verifier.verify_file(shared_dir / "corpus" / relative), paths)
            return dict(zip(paths, results, strict=True))


def observed(verdict: Verdict) -> dict[str, str]:
    label = label_for(verdict)
    return {"state": verdict.state.value, "label": label.kind.value, "evidence": label.evidence.value}


def test_the_table_pins_exactly_the_files_of_the_index(corpus_index, pinned):
    assert [entry["path"] for entry in corpus_index] == list(pinned)


def test_every_file_keeps_its_pinned_state_label_and_evidence(verdicts, pinned):
    changed = {}
    for path, verdict in verdicts.items():
        now = observed(verdict)
        before = {key: pinned[path][key] for key in ("state", "label", "evidence")}
        if now != before:
            changed[path] = {"pinned": before, "now": now, "reason": verdict.reason}
    assert not changed, "corpus verdicts changed (update corpus_expectations.json if intended):\n" + json.dumps(
        changed, indent=1
    )


def test_every_difference_from_the_documented_outcome_says_why(corpus_index, pinned):
    unexplained = []
    for entry in corpus_index:
        ours = pinned[entry["path"]]
        documented = entry["expected"]["outcome"]
        if ours["state"] not in COMPATIBLE_STATES.get(documented, set()) and not ours.get("why", "").strip():
            unexplained.append(f"{entry['path']}: documented {documented}, ours {ours['state']}")
    assert not unexplained, "\n".join(unexplained)


def test_verified_bytes_are_the_indexed_bytes(verdicts, corpus_index):
    for entry in corpus_index:
        verdict = verdicts[entry["path"]]
        if verdict.sha256:  # empty only when the bytes were not read
            assert verdict.sha256 == entry["sha256"], entry["path"]


def test_no_file_crashes_or_hangs_the_verifier(verdicts):
    # The malformed and "bomb" files become verdicts with reasons, not worker deaths or timeouts.
    for path, verdict in verdicts.items():
        if verdict.state is VerdictState.ERROR:
            assert verdict.reason, path
            assert "time limit" not in verdict.reason and "worker" not in verdict.reason, (path, verdict.reason)


def test_invalid_credentials_never_show_a_claim_or_an_issuer(verdicts):
    for path, verdict in verdicts.items():
        label = label_for(verdict)
        assert (label.kind is LabelKind.INVALID) == (verdict.state is VerdictState.INVALID), path
        if verdict.state in (VerdictState.INVALID, VerdictState.NONE, VerdictState.ERROR):
            assert label.issuer is None and label.evidence is LabelEvidence.NONE and not label.trusted, path


def test_label_counts_over_the_corpus(verdicts):
    counts = {kind.value: 0 for kind in LabelKind}
    for verdict in verdicts.values():
        counts[label_for(verdict).kind.value] += 1
    assert counts == {
        "ai_generated": 4,
        "ai_edited": 5,
        "captured": 1,
        "credentials": 44,
        "invalid": 49,
        "none": 58,
    }


# --- labels of named real files ------------------------------------------------------


def test_firefly_2023_generative_ai_assertion_is_ai_generated_and_trusted_via_the_itl(verdicts):
    verdict = verdicts[FIREFLY_2023]
    label = label_for(verdict)
    assert (verdict.state, verdict.trust_list) == (VerdictState.TRUSTED, "itl")
    assert (label.kind, label.evidence, label.trusted, label.text, label.issuer) == (
        LabelKind.AI_GENERATED,
        LabelEvidence.GENERATIVE_AI_ASSERTION,
        True,
        "AI-generated",
        "Adobe Inc.",
    )


def test_composite_source_type_edit_is_ai_edited_from_an_unrecognized_signer(verdicts):
    label = label_for(verdicts[COMPOSITE_DST])
    assert (label.kind, label.trusted, label.text, label.issuer) == (
        LabelKind.AI_EDITED,
        False,
        "AI-edited · unrecognized signer",
        "C2PA Test Signing Cert",
    )


def test_camera_capture_is_captured(verdicts):
    label = label_for(verdicts[CAPTURED])
    assert (label.kind, label.evidence, label.text) == (
        LabelKind.CAPTURED,
        LabelEvidence.DIGITAL_SOURCE_TYPE,
        "Captured · unrecognized signer",
    )


def test_algorithmic_media_is_not_labelled_ai(verdicts):
    verdict = verdicts[ALGORITHMIC]
    assert verdict.digital_source_types == ("http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia",)
    assert label_for(verdict).kind is LabelKind.CREDENTIALS


def test_an_opened_firefly_original_keeps_its_ai_generated_inception(verdicts):
    verdict = verdicts[OPENED_FIREFLY]
    assert [action.action for action in verdict.actions][:1] == ["c2pa.opened"]
    assert label_for(verdict).kind is LabelKind.AI_GENERATED


def test_tampered_file_is_invalid_with_no_claims(verdicts):
    label = label_for(verdicts[TAMPERED])
    assert (label.kind, label.text, label.issuer) == (
        LabelKind.INVALID,
        "Content Credentials could not be verified",
        None,
    )
