"""Which signers originmark recognises: named trust lists in one immutable policy.

A `TrustPolicy` is built once (`TrustPolicy.build`, `TrustPolicy.from_spec` or
`default_trust_policy`) from a `TrustPolicySpec` (verifier/trust_spec.py: the lists and
EKUs, which is what crosses to a verifier worker); every configuration mistake (no lists, a
PEM that does not parse, a duplicate or unusable name) fails there, not at the first
verification. It then gives the engine its settings (`engine_settings`) and answers which
list a trusted signer was found on (`attribute_signer`).

Why attribution is ours: c2pa-rs 0.91.3 names the matched list only inside the
free-text explanation of `signingCredential.trusted` ("found in [itl] trust
anchors"), says "[]" when the match came from an allowed list, and sometimes
names the TSA list for a root that is on both a signer list and the TSA list.
So the policy matches the signing certificate's facts (serial, issuer, as the
engine's crJSON reports them) against the certificates of each list itself and
uses the engine's words only as a fallback.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from verifier.errors import TrustPolicyError
from verifier.trust_spec import PEM_BEGIN, TrustKind, TrustList, TrustPolicySpec, default_trust_spec

_EXPLANATION_LIST = re.compile(r"found in \[([^\]]*)\] trust anchors")
_TIME_STAMP_EXPLANATION_LIST = re.compile(r", trust list: ([a-z0-9][a-z0-9._-]{0,63})\s*$")

# Distinguished-name attributes compared when matching a certificate reported by the
# engine (crJSON keys) with a certificate on a list. Others (emailAddress,
# organizationIdentifier, ...) are spelled differently on the two sides, so they are
# left out of the comparison rather than risk a false mismatch.
_COMPARED_NAME_ATTRIBUTES = {
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "ST",
    NameOID.LOCALITY_NAME: "L",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COMMON_NAME: "CN",
}
_COMPARED_KEYS = frozenset(_COMPARED_NAME_ATTRIBUTES.values())
_FINGERPRINT = hashes.SHA256()


@dataclass(frozen=True, slots=True)
class DistinguishedName:
    """The comparable part of an X.509 name: (attribute, value) pairs of C, ST, L, O, OU, CN."""

    pairs: frozenset[tuple[str, str]]

    @classmethod
    def from_mapping(cls, attributes: Mapping[str, object]) -> DistinguishedName:
        """From the engine's crJSON form, e.g. {"C": "US", "O": "Adobe Inc.", "CN": "cai-prod"}."""
        pairs = {
            (key, value.strip())
            for key, value in attributes.items()
            if key in _COMPARED_KEYS and isinstance(value, str)
        }
        return cls(frozenset(pairs))

    @classmethod
    def from_x509(cls, name: x509.Name) -> DistinguishedName:
        pairs = set()
        for attribute in name:
            key = _COMPARED_NAME_ATTRIBUTES.get(attribute.oid)
            if key is not None and isinstance(attribute.value, str):
                pairs.add((key, attribute.value.strip()))
        return cls(frozenset(pairs))

    def matches(self, other: DistinguishedName) -> bool:
        """Same attributes with the same values; a multi-valued attribute (two OUs) may
        appear once on the engine's side, so one side's values may be a subset."""
        if not self.pairs or not other.pairs:
            return False
        if {key for key, _ in self.pairs} != {key for key, _ in other.pairs}:
            return False
        return self.pairs <= other.pairs or other.pairs <= self.pairs


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateFacts:
    """What the engine reports about a signing certificate (crJSON `certificateInfo`)."""

    serial_number: int | None
    issuer: DistinguishedName
    subject: DistinguishedName


@dataclass(frozen=True, slots=True)
class _ListIndex:
    """A list's certificates in the shapes attribution compares."""

    anchor_subjects: tuple[DistinguishedName, ...]
    anchor_fingerprints: frozenset[bytes]
    allowed: tuple[tuple[int, DistinguishedName, DistinguishedName], ...]  # serial, issuer, subject

    def allows(self, certificate: CertificateFacts) -> bool:
        if certificate.serial_number is None:
            return False
        return any(
            serial == certificate.serial_number and issuer.matches(certificate.issuer)
            for serial, issuer, _subject in self.allowed
        )

    def anchors_issuer_of(self, certificate: CertificateFacts) -> bool:
        return any(subject.matches(certificate.issuer) for subject in self.anchor_subjects)


def _load_certificates(pem: str, *, what: str) -> list[x509.Certificate]:
    # The spec checked that a PEM block is there (verifier/trust_spec.py).
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError as error:
        raise TrustPolicyError(f"{what} is not valid PEM: {error}") from error
    if len(certificates) != pem.count(PEM_BEGIN):
        raise TrustPolicyError(f"{what}: some certificate blocks could not be read")
    return certificates


def _as_pem(certificates: Iterable[x509.Certificate]) -> str:
    """Certificates only, re-encoded: the engine sees exactly what was parsed here."""
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates)


@dataclass(frozen=True, slots=True)
class _PreparedList:
    trust_list: TrustList
    anchors_pem: str
    allowed_pem: str | None
    index: _ListIndex


# A list's parsed form depends on the list alone (it is immutable), so a process parses each list
# once: a verifier worker parses the shipped lists while its owner reads its settings
# (`prepare_ahead`), and the policy it is then sent finds them parsed. Bounded: a server builds
# a handful of policies, tests a few dozen.
@functools.lru_cache(maxsize=64)
def _prepare(trust_list: TrustList) -> _PreparedList:
    anchors = _load_certificates(trust_list.anchors_pem, what=f"trust list {trust_list.name!r} anchors")
    allowed = (
        _load_certificates(trust_list.allowed_pem, what=f"trust list {trust_list.name!r} allowed list")
        if trust_list.allowed_pem is not None
        else []
    )
    index = _ListIndex(
        anchor_subjects=tuple(DistinguishedName.from_x509(c.subject) for c in anchors),
        anchor_fingerprints=frozenset(c.fingerprint(_FINGERPRINT) for c in anchors),
        allowed=tuple(
            (c.serial_number, DistinguishedName.from_x509(c.issuer), DistinguishedName.from_x509(c.subject))
            for c in allowed
        ),
    )
    return _PreparedList(
        trust_list=trust_list,
        anchors_pem=_as_pem(anchors),
        allowed_pem=_as_pem(allowed) if allowed else None,
        index=index,
    )


def prepare_ahead(lists: Iterable[TrustList]) -> None:
    """Parse `lists` now, so that a policy built later with any of them finds it parsed.

    A list that does not parse is left for that build to report (`TrustPolicyError`).
    """
    for each in lists:
        try:
            _prepare(each)
        except TrustPolicyError:
            continue


@dataclass(frozen=True, slots=True, eq=False)
class TrustPolicy:
    """An immutable set of named trust lists plus the accepted signing EKUs.

    Build with `TrustPolicy.build(...)` or `TrustPolicy.from_spec(...)`; the constructor is not
    for direct use.
    """

    _spec: TrustPolicySpec
    _prepared: tuple[_PreparedList, ...]
    _by_name: Mapping[str, _PreparedList] = field(repr=False)

    @classmethod
    def build(
        cls,
        lists: Iterable[TrustList],
        *,
        extended_key_usages: Iterable[str] | None = None,
    ) -> TrustPolicy:
        """Check every list now; raise `TrustPolicyError` naming the first mistake."""
        return cls.from_spec(TrustPolicySpec.of(lists, extended_key_usages=extended_key_usages))

    @classmethod
    def from_spec(cls, spec: TrustPolicySpec) -> TrustPolicy:
        """Parse every certificate of `spec` (checked when it was made); `TrustPolicyError` if one does not parse."""
        prepared = tuple(_prepare(each) for each in spec.lists)
        return cls(spec, prepared, MappingProxyType({each.trust_list.name: each for each in prepared}))

    def __reduce__(self) -> tuple[Callable[[TrustPolicySpec], TrustPolicy], tuple[TrustPolicySpec]]:
        # Picklable as its spec, so another process rebuilds (and re-checks) the same policy.
        return (_rebuild_policy, (self._spec,))

    @property
    def spec(self) -> TrustPolicySpec:
        return self._spec

    @property
    def lists(self) -> tuple[TrustList, ...]:
        return self._spec.lists

    @property
    def extended_key_usages(self) -> tuple[str, ...]:
        return self._spec.extended_key_usages

    def list_named(self, name: str) -> TrustList:
        try:
            return self._by_name[name].trust_list
        except KeyError:
            raise KeyError(f"no trust list named {name!r} (have: {', '.join(self._by_name)})") from None

    def engine_settings(self) -> dict[str, Any]:
        """The c2pa settings for trust and verification (a fresh dict on every call).

        Remote manifests and OCSP are never fetched by the engine: an upload must not make
        the verifier contact a URL of the uploader's choosing. (Remote manifests on hosts an
        operator allowlisted are fetched by originmark itself and handed to the engine as
        bytes: verifier/remote_manifest.py. OCSP stays off.)
        """
        anchors = []
        for each in self._prepared:
            entry = {
                "trust_anchors": each.anchors_pem,
                "trust_kind": each.trust_list.kind.value,
                "trust_uri": each.trust_list.name,
            }
            if each.allowed_pem is not None:
                entry["allowed_list"] = each.allowed_pem
            anchors.append(entry)
        return {
            "trust": {
                "trust_config": "\n".join(self.extended_key_usages) + "\n",
                "anchors": anchors,
            },
            "verify": {
                "verify_trust": True,
                "verify_timestamp_trust": True,
                "remote_manifest_fetch": False,
                "ocsp_fetch": False,
            },
        }

    def needs_certificate(self, engine_explanation: str | None) -> bool:
        """Whether `attribute_signer` needs the certificate's facts for this explanation.

        Not when the engine names one of this policy's signer lists: that is an anchor
        match on that list. Yes for an allowed-list match ("[]"), a TSA list (the quirk)
        or anything unexpected. (Fetching the facts costs a third of a read.)
        """
        named = _list_named_in(engine_explanation)
        listed = self._by_name.get(named) if named else None
        return listed is None or listed.trust_list.kind is not TrustKind.MANIFEST

    def attribute_signer(self, *, certificate: CertificateFacts | None, engine_explanation: str | None) -> str | None:
        """Name the signer list a trusted signing certificate was found on, or None if unknown.

        Order: an allowed-list entry with the certificate's serial and issuer; then a
        list holding an anchor whose subject is the certificate's issuer; then the list
        the engine's explanation names, with its TSA-list quirk corrected.
        """
        named = _list_named_in(engine_explanation)
        signer_lists = [p for p in self._prepared if p.trust_list.kind is TrustKind.MANIFEST]
        if certificate is not None:
            for matches in (
                [p for p in signer_lists if p.index.allows(certificate)],
                [p for p in signer_lists if p.index.anchors_issuer_of(certificate)],
            ):
                if matches:
                    return _prefer_named(matches, named)
        if named:
            listed = self._by_name.get(named)
            if listed is None:
                return None
            if listed.trust_list.kind is TrustKind.MANIFEST:
                return named
            # The engine named a TSA list: the root is on a signer list as well.
            sharing = [p for p in signer_lists if p.index.anchor_fingerprints & listed.index.anchor_fingerprints]
            return sharing[0].trust_list.name if sharing else named
        if named == "":
            # "[]": the engine matched an allowed list. If only one list has one, that is it.
            with_allowed = [p for p in signer_lists if p.index.allowed]
            if len(with_allowed) == 1:
                return with_allowed[0].trust_list.name
        return None

    def vouches_for_signers(self, name: str) -> bool:
        """Whether the list `name` holds signer anchors (kind manifest).

        c2pa-rs 0.91.3 ignores `trust_kind`: a root on a TSA list makes the engine report a
        *signer* under it as trusted too (measured: a signing CA given only as a `tsa` list
        came out `signingCredential.trusted`, "found in [local-tsa] trust anchors"). A TSA
        root vouches for time-stamps, not for who made content, so the verifier does not
        count such a signer as trusted (reader.py makes it `valid`, unrecognized).
        """
        listed = self._by_name.get(name)
        return listed is not None and listed.trust_list.kind is TrustKind.MANIFEST

    def needs_time_stamp_authority(self, engine_explanation: str | None) -> bool:
        """Whether `attribute_time_stamp` needs the TSA certificate's facts for this explanation.

        Not when the engine names a TSA list of this policy (the authority is on it); yes for a
        legacy time-stamp (the engine names no list), a signer list or anything unexpected.
        """
        named = _time_stamp_list_named_in(engine_explanation)
        listed = self._by_name.get(named) if named else None
        return listed is None or listed.trust_list.kind is not TrustKind.TSA

    def attribute_time_stamp(self, *, authority: CertificateFacts | None, engine_explanation: str | None) -> str | None:
        """Name the list a trusted time-stamping authority was found on, or None if unknown.

        Why ours: c2pa-rs 0.91.3 checks a TSA certificate against every anchor whatever its
        kind and names the first list that matched ("timestamp cert trusted: NAME, trust
        list: itl"), or no list at all for a legacy (`sigTst`) time-stamp. Order: a TSA list
        the engine named; a TSA list, then a signer list, holding an anchor whose subject is
        the authority certificate's issuer; then the list the engine named, if it is ours.
        (The Interim Trust List holds DigiCert's time-stamping CAs among its anchors: the
        time-stamps of most 2023-2025 credentials are trusted through it.)
        """
        named = _time_stamp_list_named_in(engine_explanation)
        listed = self._by_name.get(named) if named else None
        if listed is not None and listed.trust_list.kind is TrustKind.TSA:
            return named
        if authority is not None:
            for kind in (TrustKind.TSA, TrustKind.MANIFEST):
                matches = [
                    p for p in self._prepared if p.trust_list.kind is kind and p.index.anchors_issuer_of(authority)
                ]
                if matches:
                    return _prefer_named(matches, named)
        return named if listed is not None else None


def _time_stamp_list_named_in(explanation: str | None) -> str | None:
    """'timestamp cert trusted: DigiCert Timestamp 2023, trust list: itl' -> 'itl'."""
    if not explanation:
        return None
    match = _TIME_STAMP_EXPLANATION_LIST.search(explanation)
    return match.group(1) if match else None


def _rebuild_policy(spec: TrustPolicySpec) -> TrustPolicy:
    return TrustPolicy.from_spec(spec)


def _list_named_in(explanation: str | None) -> str | None:
    """'signing certificate trusted, found in [itl] trust anchors' -> 'itl'; '[]' -> ''."""
    if not explanation:
        return None
    match = _EXPLANATION_LIST.search(explanation)
    return match.group(1).strip() if match else None


def _prefer_named(matches: list[_PreparedList], named: str | None) -> str:
    for each in matches:
        if each.trust_list.name == named:
            return each.trust_list.name
    return matches[0].trust_list.name


def default_trust_policy(*, local_anchors_pem: str | None = None, tsa_anchors_pem: str | None = None) -> TrustPolicy:
    """The shipped lists, plus the operator's own signer anchors as the list named "local"
    and the operator's own time-stamping authority anchors as the list named "local-tsa"
    (verifier.trust_spec.default_trust_spec)."""
    return TrustPolicy.from_spec(
        default_trust_spec(local_anchors_pem=local_anchors_pem, tsa_anchors_pem=tsa_anchors_pem)
    )
