"""Plain-data descriptions of certificates, for people reading `originmark keys check/show`."""

from __future__ import annotations

import dataclasses
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtensionOID

from keys.algorithms import SigningAlgorithm, algorithm_for_key
from keys.errors import UnsupportedKeyType
from keys.names import describe_certificate, describe_name
from keys.profile import eku_name


@dataclasses.dataclass(frozen=True, kw_only=True)
class CertificateSummary:
    subject: str
    issuer: str
    serial_number: str  # hex
    not_before: datetime.datetime
    not_after: datetime.datetime
    is_ca: bool
    self_issued: bool  # issuer name == subject name (a root, when it is also a CA)
    key_algorithm: SigningAlgorithm | None  # None: a key C2PA cannot sign with
    key_usages: tuple[str, ...]
    extended_key_usages: tuple[str, ...]
    sha256_fingerprint: str  # colon-separated hex, as openssl prints it

    def days_left(self, *, now: datetime.datetime) -> int:
        return (self.not_after - now).days


_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def summarize_certificate(certificate: x509.Certificate) -> CertificateSummary:
    extensions = {extension.oid: extension.value for extension in certificate.extensions}
    basic_constraints = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    key_usage = extensions.get(ExtensionOID.KEY_USAGE)
    eku = extensions.get(ExtensionOID.EXTENDED_KEY_USAGE)
    try:
        key_algorithm = algorithm_for_key(certificate.public_key())
    except (UnsupportedKeyType, ValueError):
        key_algorithm = None
    return CertificateSummary(
        subject=describe_certificate(certificate),
        issuer=describe_name(certificate.issuer),
        serial_number=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        is_ca=bool(basic_constraints and basic_constraints.ca),
        self_issued=certificate.issuer == certificate.subject,
        key_algorithm=key_algorithm,
        key_usages=tuple(_camel(name) for name in _KEY_USAGE_NAMES if key_usage and getattr(key_usage, name)),
        extended_key_usages=tuple(eku_name(oid) for oid in eku) if eku else (),
        sha256_fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
    )


def _camel(snake: str) -> str:
    first, *rest = snake.split("_")
    return first + "".join(word.capitalize() for word in rest)
