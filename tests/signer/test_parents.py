"""AI edits of third-party files from ../shared/corpus: the parent's credentials are kept, and an
edit that would not verify because of them is refused instead of published."""

from __future__ import annotations

import pytest

from signer.errors import ParentCredentialsUnusable
from signer.manifest import GenerationRequest

VALID_THIRD_PARTY = "public-testfiles/image/jpeg/adobe-20220124-C.jpg"  # Adobe, 2022: valid, untrusted here
TAMPERED = "c2pa-rs/sdk/tests/fixtures/XCA.jpg"  # pixels changed after signing: dataHash mismatch
CLAIM_MISSING = "c2pa-js-legacy/tools/testing/fixtures/images/E-clm-CAICAI.jpg"  # an ingredient's claim is gone
BROKEN_IDENTITY = "c2pa-rs/sdk/src/identity/tests/fixtures/claim_aggregation/ica_validation/missing_vc.jpg"


def _edit(content_signer, make_jpeg, tmp_path, parent):
    request = GenerationRequest(generator_name="Acme Inpaint", parent=parent)
    return content_signer.sign_file(
        source=make_jpeg(tmp_path / "edit.jpg"), destination=tmp_path / "out.jpg", request=request
    )


@pytest.mark.parametrize(
    ("parent", "parent_failure"),
    [(VALID_THIRD_PARTY, None), (TAMPERED, "assertion.dataHash.mismatch")],
    ids=["valid-third-party", "tampered"],
)
def test_an_edit_keeps_the_parent_credentials_with_their_own_state(
    content_signer, make_jpeg, read_back, shared_dir, tmp_path, parent, parent_failure
):
    result = _edit(content_signer, make_jpeg, tmp_path, shared_dir / "corpus" / parent)
    report = read_back(result.destination, mime="image/jpeg")
    assert report.state == "Trusted", report.failures
    ingredient = report.manifest["assertions"]["c2pa.ingredient.v3"]
    assert ingredient["relationship"] == "parentOf"
    assert "activeManifest" in ingredient
    parent_failures = [f["code"] for f in ingredient["validationResults"]["activeManifest"]["failure"]]
    if parent_failure is None:
        assert "assertion.dataHash.mismatch" not in parent_failures
    else:
        assert parent_failure in parent_failures  # the tampering is recorded, not hidden


@pytest.mark.parametrize(
    ("parent", "code"),
    [(CLAIM_MISSING, "ingredient.manifest.missing"), (BROKEN_IDENTITY, "cawg.ica.invalid_verifiable_credential")],
    ids=["claim-missing", "broken-identity"],
)
def test_an_edit_that_would_not_verify_is_refused_and_nothing_is_written(
    content_signer, make_jpeg, shared_dir, tmp_path, parent, code
):
    parent_path = shared_dir / "corpus" / parent
    with pytest.raises(ParentCredentialsUnusable) as caught:
        _edit(content_signer, make_jpeg, tmp_path, parent_path)
    message = str(caught.value)
    assert message.startswith(f"the parent {parent_path.name} carries Content Credentials that would make this edit")
    assert code in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit.jpg"]


def test_a_parent_we_signed_is_reported_trusted_only_by_a_verifier_that_trusts_us(
    content_signer, make_jpeg, ca_pem, tmp_path
):
    # The engine re-validates the parent's manifest under the verifier's trust settings and reports
    # only what differs from what was recorded at signing time.
    from verifier.reader import Verifier
    from verifier.trust import default_trust_policy
    from verifier.verdict import VerdictState

    captured = content_signer.sign_file(
        source=make_jpeg(tmp_path / "photo.jpg"),
        destination=tmp_path / "parent.jpg",
        request=GenerationRequest(generator_name="Acme Camera"),
    )
    edit = _edit(content_signer, make_jpeg, tmp_path, captured.destination)

    trusting = Verifier(policy=default_trust_policy(local_anchors_pem=ca_pem)).verify_file(edit.destination)
    assert trusting.state is VerdictState.TRUSTED
    [parent] = trusting.ingredients
    assert (parent.relationship, parent.state) == ("parentOf", VerdictState.TRUSTED)

    # Without our CA: the signer recorded "trusted", but that is not taken over.
    stranger = Verifier(policy=default_trust_policy()).verify_file(edit.destination)
    assert stranger.state is VerdictState.VALID
    [parent] = stranger.ingredients
    assert parent.state is VerdictState.VALID
    assert "signingCredential.untrusted" in parent.failure_codes
