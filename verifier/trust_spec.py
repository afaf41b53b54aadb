"""What a trust policy is built from: named lists of PEM certificates and the accepted signing EKUs.

A `TrustPolicySpec` is what crosses to a verifier worker, which builds the `TrustPolicy`
(verifier/trust.py) from it: that build parses every certificate, which only the worker needs
(the engine reads the PEM text and attribution compares the certificates' names). Everything
that can be checked without parsing a certificate is checked here, when the spec is made:
names, kinds, duplicates, the EKU OIDs, a PEM block in every list. A certificate that does not
parse is a `TrustPolicyError` when the policy is built, at the worker's start-up, never at the
first verification.

No cryptography or engine import here: `originmark verify` makes its spec before its worker is
ready and need not load either (issue 13).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from verifier.errors import TrustPolicyError

# The C2PA claim-signing EKU (C2PA 2.x). c2pa-rs accepts only emailProtection unless
# `trust.trust_config` lists the others (GUIDE.md), on the verifying side too.
C2PA_CLAIM_SIGNING_EKU = "1.3.6.1.4.1.62558.2.1"
EMAIL_PROTECTION_EKU = "1.3.6.1.5.5.7.3.4"
DOCUMENT_SIGNING_EKU = "1.3.6.1.5.5.7.3.36"
TIME_STAMPING_EKU = "1.3.6.1.5.5.7.3.8"
OCSP_SIGNING_EKU = "1.3.6.1.5.5.7.3.9"
MICROSOFT_C2PA_SIGNING_EKU = "1.3.6.1.4.1.311.76.59.1.9"  # Microsoft / Bing credentials (ITL)

LOCAL_LIST = "local"  # the operator's signer anchors
LOCAL_TSA_LIST = "local-tsa"  # the operator's time-stamping authority anchors

PEM_BEGIN = "-----BEGIN CERTIFICATE-----"
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_OID_PATTERN = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


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
class TrustPolicySpec:
    """The lists and EKUs of a trust policy, checked as far as can be without parsing a certificate.

    Make with `TrustPolicySpec.of(...)`; `TrustPolicy.from_spec` builds the policy.
    """

    lists: tuple[TrustList, ...]
    extended_key_usages: tuple[str, ...]

    @classmethod
    def of(cls, lists: Iterable[TrustList], *, extended_key_usages: Iterable[str] | None = None) -> TrustPolicySpec:
        """Raise `TrustPolicyError` naming the first mistake. EKUs: by default `default_extended_key_usages()`."""
        checked = tuple(lists)
        for each in checked:
            _check_list(each)
        if not checked:
            raise TrustPolicyError("a trust policy needs at least one trust list")
        if not any(each.kind is TrustKind.MANIFEST for each in checked):
            raise TrustPolicyError("a trust policy needs at least one list of kind 'manifest' (signer anchors)")
        names: set[str] = set()
        for each in checked:
            if each.name in names:
                raise TrustPolicyError(f"two trust lists are named {each.name!r}; names must be unique")
            names.add(each.name)
        ekus = tuple(dict.fromkeys(extended_key_usages or default_extended_key_usages()))
        for oid in ekus:
            if not _OID_PATTERN.match(oid):
                raise TrustPolicyError(f"extended key usage {oid!r} is not an OID")
        if not ekus:
            raise TrustPolicyError("a trust policy needs at least one accepted extended key usage")
        return cls(checked, ekus)


def _check_list(trust_list: TrustList) -> None:
    if not isinstance(trust_list, TrustList):
        raise TrustPolicyError(f"expected a TrustList, got {type(trust_list).__name__}")
    if not _NAME_PATTERN.match(trust_list.name or ""):
        raise TrustPolicyError(
            f"trust list name {trust_list.name!r} must be 1-64 characters of a-z, 0-9, '.', '_', '-'"
        )
    if not isinstance(trust_list.kind, TrustKind):
        raise TrustPolicyError(f"trust list {trust_list.name!r}: kind must be a TrustKind, got {trust_list.kind!r}")
    _check_pem(trust_list.anchors_pem, what=f"trust list {trust_list.name!r} anchors")
    if trust_list.allowed_pem is not None:
        _check_pem(trust_list.allowed_pem, what=f"trust list {trust_list.name!r} allowed list")


def _check_pem(pem: str, *, what: str) -> None:
    if not isinstance(pem, str) or PEM_BEGIN not in pem:
        raise TrustPolicyError(f"{what} holds no PEM certificate ({PEM_BEGIN} block)")


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


def default_trust_spec(*, local_anchors_pem: str | None = None, tsa_anchors_pem: str | None = None) -> TrustPolicySpec:
    """The shipped lists, plus the operator's own signer anchors as the list named "local"
    and the operator's own time-stamping authority anchors as the list named "local-tsa"."""
    operators = (
        (
            LOCAL_LIST,
            TrustKind.MANIFEST,
            local_anchors_pem,
            "operator-provided anchors (by default the development CA from `originmark keys init`)",
        ),
        (
            LOCAL_TSA_LIST,
            TrustKind.TSA,
            tsa_anchors_pem,
            "operator-provided time-stamping authority anchors (ORIGINMARK_TSA_TRUST_ANCHORS)",
        ),
    )
    own = [
        TrustList(name=name, kind=kind, anchors_pem=pem, source=source)
        for name, kind, pem, source in operators
        if pem is not None
    ]
    return TrustPolicySpec.of([*shipped_trust_lists(), *own])
