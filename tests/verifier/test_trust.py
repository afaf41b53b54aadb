"""The trust policy: built once, checked at build time, named lists, engine settings, attribution."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from verifier.errors import TrustPolicyError
from verifier.trust import CertificateFacts, DistinguishedName, TrustPolicy, default_trust_policy, prepare_ahead
from verifier.trust_spec import C2PA_CLAIM_SIGNING_EKU, TrustKind, TrustList, parse_extended_key_usages

TRUST_DATA = Path(__file__).resolve().parents[2] / "verifier" / "trust_data"


def _certificates(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _facts_signed_by(issuer: x509.Certificate, *, serial: int = 4242) -> CertificateFacts:
    """What the engine would report for a certificate `issuer` issued."""
    return CertificateFacts(
        serial_number=serial,
        issuer=DistinguishedName.from_x509(issuer.subject),
        subject=DistinguishedName.from_mapping({"CN": "some signer", "O": "Some Org"}),
    )


@pytest.fixture(scope="module")
def policy() -> TrustPolicy:
    return default_trust_policy()


def test_default_policy_has_the_named_lists(policy):
    assert [(each.name, each.kind) for each in policy.lists] == [
        ("c2pa", TrustKind.MANIFEST),
        ("c2pa-tsa", TrustKind.TSA),
        ("itl", TrustKind.MANIFEST),
    ]
    assert policy.list_named("itl").allowed_pem is not None
    assert policy.list_named("c2pa").allowed_pem is None
    assert all(each.source for each in policy.lists)


def test_local_anchors_become_the_list_named_local(dev_credentials):
    policy = default_trust_policy(local_anchors_pem=dev_credentials.ca_pem)
    local = policy.list_named("local")
    assert local.kind is TrustKind.MANIFEST
    assert local.anchors_pem == dev_credentials.ca_pem
    assert [each.name for each in policy.lists][-1] == "local"


def test_engine_settings_name_every_list_and_turn_fetching_off(policy):
    settings = policy.engine_settings()
    anchors = settings["trust"]["anchors"]
    assert [(a["trust_uri"], a["trust_kind"], "allowed_list" in a) for a in anchors] == [
        ("c2pa", "manifest", False),
        ("c2pa-tsa", "tsa", False),
        ("itl", "manifest", True),
    ]
    assert "trust_anchors" not in settings["trust"]  # a top-level list would be ignored by the engine
    assert "allowed_list" not in settings["trust"]
    assert settings["verify"]["remote_manifest_fetch"] is False
    assert settings["verify"]["ocsp_fetch"] is False
    # The PEM handed over is exactly the parsed certificates.
    assert len(_certificates(anchors[0]["trust_anchors"])) == 30
    assert len(_certificates(anchors[2]["allowed_list"])) == 86
    assert settings is not policy.engine_settings()  # a fresh dict: callers cannot alter the policy


def test_trust_config_holds_the_itl_ekus_and_the_c2pa_claim_signing_eku(policy):
    configured = policy.engine_settings()["trust"]["trust_config"].split()
    itl = parse_extended_key_usages((TRUST_DATA / "itl-store.cfg").read_text())
    assert set(itl) <= set(configured)
    assert C2PA_CLAIM_SIGNING_EKU in configured
    assert "1.3.6.1.4.1.311.76.59.1.9" in configured  # Microsoft's C2PA signing EKU (Bing, ITL)
    assert "1.3.6.1.5.5.7.3.36" in configured  # documentSigning
    assert len(configured) == len(set(configured))


def test_shipped_trust_data_is_the_reference_copy(shared_dir):
    for name in (
        "c2pa-trust-list.pem",
        "c2pa-tsa-trust-list.pem",
        "itl-anchors.pem",
        "itl-allowed.pem",
        "itl-store.cfg",
    ):
        assert (TRUST_DATA / name).read_bytes() == (shared_dir / "trust" / name).read_bytes(), name
    sources = (TRUST_DATA / "SOURCES.md").read_text()
    for expected in (
        "CC BY 4.0",
        "Apache-2.0",
        "2026-08-13",
        "2026-01-01",
        "c2pa-org/conformance-public",
        "contentauth/verify-site",
    ):
        assert expected in sources


def test_policy_is_immutable(policy):
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy._prepared = ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.lists[0].name = "other"
    assert isinstance(policy.lists, tuple)


def test_policy_pickles_as_its_lists_for_worker_processes(policy):
    copy = pickle.loads(pickle.dumps(policy))
    assert copy.lists == policy.lists
    assert copy.extended_key_usages == policy.extended_key_usages
    assert copy.engine_settings() == policy.engine_settings()


# --- configuration mistakes fail at build time ---


def _list(name="mine", *, kind=TrustKind.MANIFEST, anchors=None, allowed=None) -> TrustList:
    anchors = anchors if anchors is not None else (TRUST_DATA / "itl-anchors.pem").read_text()
    return TrustList(name=name, kind=kind, anchors_pem=anchors, allowed_pem=allowed, source="test")


def test_a_policy_without_lists_is_refused():
    with pytest.raises(TrustPolicyError, match="at least one trust list"):
        TrustPolicy.build([])


def test_duplicate_list_names_are_refused():
    with pytest.raises(TrustPolicyError, match="two trust lists are named 'mine'"):
        TrustPolicy.build([_list(), _list()])


@pytest.mark.parametrize(
    "pem, message",
    [
        ("", "no PEM certificate"),
        ("just some text", "no PEM certificate"),
        ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "not valid PEM"),
    ],
)
def test_unparseable_anchors_are_refused(pem, message):
    with pytest.raises(TrustPolicyError, match=message):
        TrustPolicy.build([_list(anchors=pem)])


def test_a_list_parsed_ahead_builds_the_same_policy_and_a_bad_one_still_fails_at_build():
    bad = _list(anchors="-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    good = _list(name="good")
    prepare_ahead([bad, good])  # what a worker does before its setup: never raises
    assert TrustPolicy.build([good]).engine_settings() == TrustPolicy.build([_list(name="good")]).engine_settings()
    with pytest.raises(TrustPolicyError, match="not valid PEM"):
        TrustPolicy.build([bad])


def test_an_unparseable_allowed_list_is_refused():
    with pytest.raises(TrustPolicyError, match="'mine' allowed list"):
        TrustPolicy.build([_list(allowed="-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")])


@pytest.mark.parametrize("name", ["", "Has Space", "a]b", "UPPER", "x" * 65])
def test_unusable_list_names_are_refused(name):
    with pytest.raises(TrustPolicyError, match="trust list name"):
        TrustPolicy.build([_list(name=name)])


def test_a_policy_of_only_tsa_lists_is_refused():
    with pytest.raises(TrustPolicyError, match="kind 'manifest'"):
        TrustPolicy.build([_list(kind=TrustKind.TSA)])


def test_a_bad_eku_is_refused():
    with pytest.raises(TrustPolicyError, match="not an OID"):
        TrustPolicy.build([_list()], extended_key_usages=["emailProtection"])
    with pytest.raises(TrustPolicyError, match="not an OID"):
        parse_extended_key_usages("// comment\n1.2.3\nnot-an-oid\n")


def test_unknown_list_name_lookup_says_what_exists(policy):
    with pytest.raises(KeyError, match="have: c2pa, c2pa-tsa, itl"):
        policy.list_named("nope")


# --- attribution: which list a trusted signer was found on ---


def test_allowed_list_entry_is_attributed_by_serial_and_issuer(policy):
    titan = next(
        c for c in _certificates(policy.list_named("itl").allowed_pem) if "Amazon" in c.subject.rfc4514_string()
    )
    facts = CertificateFacts(
        serial_number=titan.serial_number,
        issuer=DistinguishedName.from_x509(titan.issuer),
        subject=DistinguishedName.from_x509(titan.subject),
    )
    # The engine says "[]" for an allowed-list match.
    explanation = "signing certificate trusted, found in [] trust anchors"
    assert policy.attribute_signer(certificate=facts, engine_explanation=explanation) == "itl"


def test_same_serial_from_another_issuer_is_not_an_allowed_list_match(policy):
    titan = next(
        c for c in _certificates(policy.list_named("itl").allowed_pem) if "Amazon" in c.subject.rfc4514_string()
    )
    facts = CertificateFacts(
        serial_number=titan.serial_number,
        issuer=DistinguishedName.from_mapping({"CN": "Someone Else CA", "O": "Else"}),
        subject=DistinguishedName.from_x509(titan.subject),
    )
    assert policy.attribute_signer(certificate=facts, engine_explanation=None) is None


def test_anchor_that_issued_the_certificate_names_its_list(policy):
    c2pa_anchor = _certificates(policy.list_named("c2pa").anchors_pem)[0]
    itl_anchor = _certificates(policy.list_named("itl").anchors_pem)[0]
    assert policy.attribute_signer(certificate=_facts_signed_by(c2pa_anchor), engine_explanation=None) == "c2pa"
    assert policy.attribute_signer(certificate=_facts_signed_by(itl_anchor), engine_explanation=None) == "itl"


def test_engine_naming_the_tsa_list_is_corrected_to_the_signer_list(policy):
    # A root on both the C2PA list and the TSA list: the engine sometimes names the TSA list.
    explanation = "signing certificate trusted, found in [c2pa-tsa] trust anchors"
    assert policy.attribute_signer(certificate=None, engine_explanation=explanation) == "c2pa"


def test_engine_explanation_is_the_fallback(policy):
    explanation = "signing certificate trusted, found in [itl] trust anchors"
    unknown_issuer = CertificateFacts(
        serial_number=1,
        issuer=DistinguishedName.from_mapping({"CN": "Intermediate not on any list", "O": "X"}),
        subject=DistinguishedName.from_mapping({"CN": "leaf"}),
    )
    assert policy.attribute_signer(certificate=unknown_issuer, engine_explanation=explanation) == "itl"
    assert policy.attribute_signer(certificate=None, engine_explanation="found in [nonexistent] trust anchors") is None
    assert policy.attribute_signer(certificate=None, engine_explanation=None) is None


def test_allowed_list_match_without_certificate_facts_uses_the_only_list_with_one(policy):
    explanation = "signing certificate trusted, found in [] trust anchors"
    assert policy.attribute_signer(certificate=None, engine_explanation=explanation) == "itl"


def test_local_list_is_attributed(dev_credentials):
    policy = default_trust_policy(local_anchors_pem=dev_credentials.ca_pem)
    ca = _certificates(dev_credentials.ca_pem)[0]
    assert policy.attribute_signer(certificate=_facts_signed_by(ca), engine_explanation=None) == "local"


def test_distinguished_names_compare_on_the_common_attributes():
    engine_side = DistinguishedName.from_mapping({"C": "US", "O": "Adobe Inc.", "CN": "cai-prod", "E": "x@y"})
    same = DistinguishedName.from_mapping({"CN": "cai-prod", "O": "Adobe Inc.", "C": "US"})
    other = DistinguishedName.from_mapping({"CN": "cai-prod", "O": "Adobe Inc."})
    assert engine_side.matches(same)
    assert not engine_side.matches(other)
    assert not DistinguishedName.from_mapping({}).matches(DistinguishedName.from_mapping({}))


def test_pem_with_comments_between_blocks_is_accepted(dev_credentials):
    commented = "# operator's root\nSubject\tCN=whatever\n" + dev_credentials.ca_pem + "\n# end\n"
    policy = TrustPolicy.build([_list(name="local", anchors=commented)])
    assert (
        _certificates(policy.engine_settings()["trust"]["anchors"][0]["trust_anchors"])[0]
        == _certificates(dev_credentials.ca_pem)[0]
    )
    assert (
        _pem(_certificates(dev_credentials.ca_pem)[0])
        in policy.engine_settings()["trust"]["anchors"][0]["trust_anchors"]
    )


def test_certificate_facts_are_needed_only_when_the_engine_is_unclear(policy):
    assert not policy.needs_certificate("signing certificate trusted, found in [itl] trust anchors")
    assert not policy.needs_certificate("signing certificate trusted, found in [c2pa] trust anchors")
    assert policy.needs_certificate("signing certificate trusted, found in [] trust anchors")  # allowed list
    assert policy.needs_certificate("signing certificate trusted, found in [c2pa-tsa] trust anchors")  # quirk
    assert policy.needs_certificate("signing certificate trusted")
    assert policy.needs_certificate(None)
