"""What the verify page shows, from real and crafted verdicts (no server): trust wording, the
ingredient tree's bounds, and that an invalid credential leaves no claim in the view at all."""

from __future__ import annotations

import dataclasses

from app.web.pages import _templates
from app.web.view import MAX_INGREDIENT_NODES, verify_result
from verifier.label import label_for
from verifier.reader import Verifier
from verifier.trust import default_trust_policy
from verifier.verdict import IngredientSummary, ManifestSummary, Verdict, VerdictState


def _render(result) -> str:
    return _templates.get_template("result.html").render(result=result, error=None, root="")


def test_a_valid_signature_from_a_signer_on_no_list_is_unrecognized_not_trusted(media):
    verdict = Verifier(policy=default_trust_policy()).verify_file(media.ai)  # the dev CA on no list here
    assert verdict.state is VerdictState.VALID
    result = verify_result(verdict, label_for(verdict), file_name="ai.jpg", size=1)
    assert result.signer is not None and not result.signer.trusted
    html = _render(result)
    assert "AI-generated · unrecognized signer" in html
    assert "Unrecognized signer." in html and "no trust list" in html
    assert "trust--unrecognized" in html and "Trusted signer" not in html


def test_an_invalid_verdict_leaves_no_claim_in_the_view(media):
    verdict = Verifier(policy=default_trust_policy()).verify_file(media.tampered)
    assert verdict.state is VerdictState.INVALID and verdict.manifests  # the manifest was read...
    result = verify_result(verdict, label_for(verdict), file_name="t.jpg", size=1)
    # ...but nothing it claims reaches the view.
    assert (result.signer, result.tool, result.title, result.signed_at, result.raw_manifests) == (None,) * 5
    assert result.actions == () and result.ingredients == () and not result.show_claims
    assert "assertion.dataHash.mismatch" in result.failure_codes


def _manifest(label: str, *children: str, state=VerdictState.VALID) -> ManifestSummary:
    return ManifestSummary(
        label=label,
        claim_generator="g",
        ingredients=tuple(
            IngredientSummary(title=child, relationship="parentOf", manifest_label=child, state=state)
            for child in children
        ),
    )


def _verdict(manifests: tuple[ManifestSummary, ...]) -> Verdict:
    return Verdict(
        state=VerdictState.VALID,
        sha256="0" * 64,
        size=1,
        engine_version="test",
        ingredients=manifests[0].ingredients,
        manifests=manifests,
    )


def test_a_cycle_of_manifests_and_a_flood_of_ingredients_stay_bounded():
    cyclic = _verdict((_manifest("a", "b"), _manifest("b", "a")))
    result = verify_result(cyclic, label_for(cyclic), file_name="x", size=1)
    (b,) = result.ingredients
    (a,) = b.children
    assert a.title == "a" and a.children == ()  # "a" is on the path already: not entered again
    assert a.note is not None and "loop" in a.note

    flood = _verdict((_manifest("root", *[f"i{n}" for n in range(5000)]),))
    result = verify_result(flood, label_for(flood), file_name="x", size=1)
    assert len(result.ingredients) == MAX_INGREDIENT_NODES
    assert result.ingredients_not_shown == 5000 - MAX_INGREDIENT_NODES

    deep = _verdict(tuple(_manifest(f"m{n}", f"m{n + 1}") for n in range(50)) + (_manifest("m50"),))
    result = verify_result(deep, label_for(deep), file_name="x", size=1)
    depth, node = 1, result.ingredients[0]
    while node.children:
        depth, node = depth + 1, node.children[0]
    assert depth == 8 and node.note is not None and "nested too deeply" in node.note


def test_an_ingredient_with_invalid_credentials_shows_its_state_but_not_its_history():
    verdict = _verdict((_manifest("root", "bad", state=VerdictState.INVALID), _manifest("bad", "older")))
    verdict = dataclasses.replace(verdict, ingredients=verdict.manifests[0].ingredients)
    (bad,) = verify_result(verdict, label_for(verdict), file_name="x", size=1).ingredients
    assert (
        bad.state == "invalid" and bad.children == () and bad.note is not None and "could not be verified" in bad.note
    )


def test_the_signing_time_says_whether_its_time_stamp_authority_is_trusted(media):
    import datetime

    from verifier.verdict import TimeStamp

    verdict = Verifier(policy=default_trust_policy()).verify_file(media.ai)
    when = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
    shown = {}
    for trusted in (True, False):
        stamped = dataclasses.replace(
            verdict,
            signed_at=when,
            time_stamped=True,
            time_stamp=TimeStamp(
                time=when, authority="Example <b>TSA</b>", trusted=trusted, trust_list="local-tsa" if trusted else None
            ),
        )
        shown[trusted] = _render(verify_result(stamped, label_for(stamped), file_name="ai.jpg", size=1))
    assert "confirmed by a trusted time-stamping authority: Example &lt;b&gt;TSA&lt;/b&gt;" in shown[True]
    assert "authority on no trust list" in shown[False] and "confirmed by a trusted" not in shown[False]


def test_recovered_credentials_are_shown_as_found_by_content_and_their_text_escaped():
    from datetime import UTC, datetime

    from verifier.label_types import Label, LabelKind
    from verifier.verdict import Recovered, Signer

    hostile = "<script>alert(1)</script>"
    recovered = Recovered(
        manifest_id=f"urn:c2pa:{hostile}",
        similarity=0.987,
        alg="io.iscc.v0",
        matched_sha256="ab" * 32,
        signed_at=datetime(2026, 12, 1, tzinfo=UTC),
        distance=2,
        state=VerdictState.TRUSTED,
        trust_list="local",
        signer=Signer(organisation=hostile, common_name=None),
        reason="credentials found by content match",
    )
    verdict = Verdict(state=VerdictState.NONE, sha256="cd" * 32, size=10, engine_version="x", recovered=recovered)
    label = Label(
        kind=LabelKind.AI_GENERATED,
        trusted=True,
        text="AI-generated · credentials found by content match",
        issuer=hostile,
        recovered=True,
        recovered_manifest_id=recovered.manifest_id,
    )

    html = _render(verify_result(verdict, label, file_name="copy.jpg", size=10))

    assert 'id="recovered"' in html and "98.7 %" in html and "found by content match" in html
    assert hostile not in html and "&lt;script&gt;" in html
