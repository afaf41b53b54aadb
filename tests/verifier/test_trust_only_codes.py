"""A CAWG X.509 identity credential on no configured list is a matter of trust, not of integrity: a
kept store or an ingredient failing only that is valid (unrecognized), as the engine calls the asset."""

from __future__ import annotations

from verifier.engine_report import StatusEntry, detached_store_state, ingredients_of
from verifier.verdict import VerdictState

CAWG = "cawg.x509.credential.untrusted"


def _entry(code: str, outcome: str = "failure") -> StatusEntry:
    return StatusEntry(code=code, url="", raw_explanation=None, outcome=outcome)


def test_a_detached_store_failing_only_trust_checks_is_valid():
    mismatch = _entry("assertion.dataHash.mismatch")
    assert detached_store_state(VerdictState.INVALID, [mismatch, _entry(CAWG)]) is VerdictState.VALID
    assert (
        detached_store_state(
            VerdictState.INVALID, [mismatch, _entry(CAWG), _entry("signingCredential.trusted", "success")]
        )
        is VerdictState.VALID
    )
    assert (
        detached_store_state(VerdictState.INVALID, [mismatch, _entry("claimSignature.mismatch")])
        is VerdictState.INVALID
    )


def _ingredient(*codes: str) -> dict:
    return {
        "title": "photo.jpg",
        "relationship": "parentOf",
        "active_manifest": "urn:c2pa:1",
        "label": "c2pa.ingredient.v3",
        "validation_results": {"activeManifest": {"failure": [{"code": code, "url": ""} for code in codes]}},
    }


def test_an_ingredient_failing_only_an_identity_trust_check_is_valid():
    for codes, state in (((CAWG,), VerdictState.VALID), ((CAWG, "claimSignature.mismatch"), VerdictState.INVALID)):
        [summary] = ingredients_of({"ingredients": [_ingredient(*codes)]}, manifest_label="urn:c2pa:2", deltas={})
        assert summary.state is state
