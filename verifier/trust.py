"""Which signers originmark recognises: named trust lists in one immutable policy.

A `TrustPolicy` is built once (`TrustPolicy.build` or `default_trust_policy`);
every configuration mistake (no lists, a PEM that does not parse, a duplicate
or unusable name) fails there, not at the first verification. It then gives the
engine its settings (`engine_settings`) and answers which list a trusted signer
was found on (`attribute_signer`).

Why attribution is ours: c2pa-rs 0.91.3 names the matched list only inside the
free-text explanation of `signingCredential.trusted` ("found in [itl] trust
anchors"), says "[]" when the match came from an allowed list, and sometimes
names the TSA list for a root that is on both a signer list and the TSA list.
So the policy matches the signing certificate's facts (serial, issuer, as the
engine's crJSON reports them) against the certificates of each list itself and
uses the engine's words only as a fallback.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from verifier.errors import TrustPolicyError

# The C2PA claim-signing EKU (C2PA 2.x). c2pa-rs accepts only emailProtection unless
# `trust.trust_config` lists the others (GUIDE.md), on the verifying side too.
C2PA_CLAIM_SIGNING_EKU = "1.3.6.1.4.1.62558.2.1"
EMAIL_PROTECTION_EKU = "1.3.6.1.5.5.7.3.4"
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
TIME_STAMPING_EKU = "1.3.6.1.5.5.7.3.8"
OCSP_SIGNING_EKU = "1.3.6.1.5.5.7.3.9"
MICROSOFT_C2PA_SIGNING_EKU = "1.3.6.1.4.1.311.76.59.1.9"  # Microsoft / Bing credentials (ITL)

_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_OID_PATTERN = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_EXPLANATION_LIST = re.compile(r"found in \[([^\]]*)\] trust anchors")
_TIME_STAMP_EXPLANATION_LIST = re.compile(r", trust list: ([a-z0-9][a-z0-9._-]{0,63})\s*$")

LOCAL_LIST = "local"  # the operator's signer anchors
LOCAL_TSA_LIST = "local-tsa"  # the operator's time-stamping authority anchors

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


class TrustKind(str, enum.Enum):
    """What a list's anchors vouch for (the engine's `trust_kind`)."""

    MANIFEST = "manifest"  # signers of manifests
    TSA = "tsa"  # time-stamping authorities


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustList:
    """One named list of trust anchors, with an optional allowed list of end-entity certificates."""

    name: str  # short, stable: shown to users and stored with verdicts ("c2pa", "itl", "local")
    kind: TrustKind
    anchors_pem: str  # root / intermediate certificates, PEM
    allowed_pem: str | None = None  # end-entity certificates trusted as such, PEM
    source: str  # where the certificates came from, for operators and audits


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


def parse_extended_key_usages(config_text: str) -> tuple[str, ...]:
    """OIDs from a c2pa-rs `store.cfg` (one OID a line, `//` comments)."""
    oids = []
    for raw_line in config_text.splitlines():
        line = raw_line.strip()
        if not line or line.startswith("//") or line.startswith("#"):
            continue
        if not _OID_PATTERN.match(line):
            raise TrustPolicyError(f"EKU configuration line {line!r} is not an OID (expected e.g. 1.3.6.1.5.5.7.3.4)")
        oids.append(line)
    return tuple(oids)


def _load_certificates(pem: str, *, what: str) -> list[x509.Certificate]:
    if not isinstance(pem, str) or "-----BEGIN CERTIFICATE-----" not in pem:
        raise TrustPolicyError(f"{what} holds no PEM certificate (-----BEGIN CERTIFICATE----- block)")
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    except ValueError as error:
        raise TrustPolicyError(f"{what} is not valid PEM: {error}") from error
    if len(certificates) != pem.count("-----BEGIN CERTIFICATE-----"):
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


def _prepare(trust_list: TrustList) -> _PreparedList:
    if not isinstance(trust_list, TrustList):
        raise TrustPolicyError(f"expected a TrustList, got {type(trust_list).__name__}")
    if not _NAME_PATTERN.match(trust_list.name or ""):
        raise TrustPolicyError(
            f"trust list name {trust_list.name!r} must be 1-64 characters of a-z, 0-9, '.', '_', '-'"
        )
    if not isinstance(trust_list.kind, TrustKind):
        raise TrustPolicyError(f"trust list {trust_list.name!r}: kind must be a TrustKind, got {trust_list.kind!r}")
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


@dataclass(frozen=True, slots=True, eq=False)
class TrustPolicy:
    """An immutable set of named trust lists plus the accepted signing EKUs.

    Build with `TrustPolicy.build(...)`; the constructor is not for direct use.
    """

    _prepared: tuple[_PreparedList, ...]
    _extended_key_usages: tuple[str, ...]
    _by_name: Mapping[str, _PreparedList] = field(repr=False)

    @classmethod
    def build(
        cls,
        lists: Iterable[TrustList],
        *,
        extended_key_usages: Iterable[str] | None = None,
    ) -> TrustPolicy:
        """Check every list now; raise `TrustPolicyError` naming the first mistake."""
        prepared = tuple(_prepare(each) for each in lists)
        if not prepared:
            raise TrustPolicyError("a trust policy needs at least one trust list")
        if not any(p.trust_list.kind is TrustKind.MANIFEST for p in prepared):
            raise TrustPolicyError("a trust policy needs at least one list of kind 'manifest' (signer anchors)")
        by_name: dict[str, _PreparedList] = {}
        for each in prepared:
            if each.trust_list.name in by_name:
                raise TrustPolicyError(f"two trust lists are named {each.trust_list.name!r}; names must be unique")
            by_name[each.trust_list.name] = each
        ekus = tuple(dict.fromkeys(extended_key_usages or default_extended_key_usages()))
        for oid in ekus:
            if not _OID_PATTERN.match(oid):
                raise TrustPolicyError(f"extended key usage {oid!r} is not an OID")
        if not ekus:
            raise TrustPolicyError("a trust policy needs at least one accepted extended key usage")
        return cls(prepared, ekus, MappingProxyType(by_name))

    def __reduce__(self) -> tuple[Callable[[tuple[TrustList, ...], tuple[str, ...]], TrustPolicy], tuple[tuple[TrustList, ...], tuple[str, ...]]]:
        # Picklable as its inputs, so worker processes rebuild (and re-check) the same policy.
        return (_rebuild_policy, (self.lists, self._extended_key_usages))

    @property
    def lists(self) -> tuple[TrustList, ...]:
        return tuple(p.trust_list for p in self._prepared)

    @property
    def extended_key_usages(self) -> tuple[str, ...]:
        return self._extended_key_usages

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
                "trust_config": "\n".join(self._extended_key_usages) + "\n",
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

    def attribute_signer(
        self, *, certificate: CertificateFacts | None, engine_explanation: str | None
    ) -> str | None:
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
            sharing = [
                p for p in signer_lists if p.index.anchor_fingerprints & listed.index.anchor_fingerprints
            ]
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

    def attribute_time_stamp(
        self, *, authority: CertificateFacts | None, engine_explanation: str | None
    ) -> str | None:
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


def _rebuild_policy(lists: tuple[TrustList, ...], extended_key_usages: tuple[str, ...]) -> TrustPolicy:
    return TrustPolicy.build(lists, extended_key_usages=extended_key_usages)


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


# --- the lists originmark ships (verifier/trust_data, see SOURCES.md there) ---

_TRUST_DATA = "trust_data"


def _trust_data(filename: str) -> str:
    return resources.files("verifier").joinpath(_TRUST_DATA, filename).read_text(encoding="utf-8")


def default_extended_key_usages() -> tuple[str, ...]:
    """The ITL's EKU configuration (itl-store.cfg) plus the C2PA and common signing EKUs."""
    from_itl = parse_extended_key_usages(_trust_data("itl-store.cfg"))
    extra = (
        C2PA_CLAIM_SIGNING_EKU,
        EMAIL_PROTECTION_EKU,
        DOCUMENT_SIGNING_EKU,
        TIME_STAMPING_EKU,
        OCSP_SIGNING_EKU,
        MICROSOFT_C2PA_SIGNING_EKU,
    )
    return tuple(dict.fromkeys(from_itl + extra))


def shipped_trust_lists() -> tuple[TrustList, ...]:
    """The C2PA trust list, the C2PA TSA list and the Interim Trust List, as shipped."""
    return (
        TrustList(
            name="c2pa",
            kind=TrustKind.MANIFEST,
            anchors_pem=_trust_data("c2pa-trust-list.pem"),
            source="C2PA Trust List, c2pa-org/conformance-public trust-list/ (CC BY 4.0), published 2026-08-13",
        ),
        TrustList(
            name="c2pa-tsa",
            kind=TrustKind.TSA,
            anchors_pem=_trust_data("c2pa-tsa-trust-list.pem"),
            source="C2PA TSA Trust List, c2pa-org/conformance-public trust-list/ (CC BY 4.0), published 2026-08-13",
        ),
        TrustList(
            name="itl",
            kind=TrustKind.MANIFEST,
            anchors_pem=_trust_data("itl-anchors.pem"),
            allowed_pem=_trust_data("itl-allowed.pem"),
            source="Interim Trust List (frozen 2026-01-01), contentauth/verify-site static/trust/ (Apache-2.0)",
        ),
    )


def default_trust_policy(*, local_anchors_pem: str | None = None, tsa_anchors_pem: str | None = None) -> TrustPolicy:
    """The shipped lists, plus the operator's own signer anchors as the list named "local"
    and the operator's own time-stamping authority anchors as the list named "local-tsa"."""
    lists = list(shipped_trust_lists())
    if local_anchors_pem is not None:
        lists.append(
            TrustList(
                name=LOCAL_LIST,
                kind=TrustKind.MANIFEST,
                anchors_pem=local_anchors_pem,
                source="operator-provided anchors (by default the development CA from `originmark keys init`)",
            )
        )
    if tsa_anchors_pem is not None:
        lists.append(
            TrustList(
                name=LOCAL_TSA_LIST,
                kind=TrustKind.TSA,
                anchors_pem=tsa_anchors_pem,
                source="operator-provided time-stamping authority anchors (ORIGINMARK_TSA_TRUST_ANCHORS)",
            )
        )
    return TrustPolicy.build(lists)
