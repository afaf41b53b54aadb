"""Building blocks to issue X.509 certificates: used by the development CA and by tests
that need deliberately broken credentials (wrong EKU, no AKI, expired, self-signed, ...).

Each knob is explicit; the defaults describe a certificate that meets the C2PA signing
profile, so a test changes exactly the one thing it is about.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from keys.algorithms import SigningAlgorithm, SupportedPrivateKey, SupportedPublicKey

# EKUs the C2PA engine accepts on a signing certificate (when listed in trust_config).
C2PA_CLAIM_SIGNING_EKU = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
DOCUMENT_SIGNING_EKU = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
MICROSOFT_C2PA_EKU = ObjectIdentifier("1.3.6.1.4.1.311.76.59.1.9")
EMAIL_PROTECTION_EKU = ExtendedKeyUsageOID.EMAIL_PROTECTION

# The development signing certificate carries both: the claim-signing EKU says what it is
# for, emailProtection is the one the engine accepts with its default settings.
DEVELOPMENT_SIGNING_EKUS: tuple[ObjectIdentifier, ...] = (C2PA_CLAIM_SIGNING_EKU, EMAIL_PROTECTION_EKU)

# RSA size for generated keys: 3072 bits is the current recommendation for new keys.
GENERATED_RSA_BITS = 3072


@dataclasses.dataclass(frozen=True, kw_only=True)
class KeyUsageFlags:
    """The keyUsage bits originmark sets (the others are always off)."""

    digital_signature: bool = False
    content_commitment: bool = False
    key_cert_sign: bool = False
    crl_sign: bool = False

    def to_extension(self) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=self.digital_signature,
            content_commitment=self.content_commitment,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=self.key_cert_sign,
            crl_sign=self.crl_sign,
            encipher_only=False,
            decipher_only=False,
        )


SIGNING_KEY_USAGE = KeyUsageFlags(digital_signature=True)
CA_KEY_USAGE = KeyUsageFlags(digital_signature=True, key_cert_sign=True, crl_sign=True)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Issuer:
    """Who signs a new certificate: its certificate (None when self-signing) and private key."""

    certificate: x509.Certificate | None
    private_key: SupportedPrivateKey


def generate_private_key(algorithm: SigningAlgorithm) -> SupportedPrivateKey:
    """A fresh private key for `algorithm`."""
    match SigningAlgorithm(algorithm):
        case SigningAlgorithm.ES256:
            return ec.generate_private_key(ec.SECP256R1())
        case SigningAlgorithm.ES384:
            return ec.generate_private_key(ec.SECP384R1())
        case SigningAlgorithm.ES512:
            return ec.generate_private_key(ec.SECP521R1())
        case SigningAlgorithm.PS256:
            return rsa.generate_private_key(public_exponent=65537, key_size=GENERATED_RSA_BITS)
        case SigningAlgorithm.ED25519:
            return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"no key generator for {algorithm}")


def make_name(*, common_name: str, organisation: str | None = None, country: str | None = None) -> x509.Name:
    attributes = []
    if country:
        attributes.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


# The digests cryptography's CertificateBuilder.sign accepts.
CertificateHash = (
    hashes.SHA224
    | hashes.SHA256
    | hashes.SHA384
    | hashes.SHA512
    | hashes.SHA3_224
    | hashes.SHA3_256
    | hashes.SHA3_384
    | hashes.SHA3_512
)


def certificate_signature_hash(issuer_key: SupportedPrivateKey) -> CertificateHash | None:
    """The digest an issuer signs certificates with: matched to its curve, SHA-256 for RSA."""
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        by_size: dict[int, CertificateHash] = {256: hashes.SHA256(), 384: hashes.SHA384()}
        return by_size.get(issuer_key.curve.key_size, hashes.SHA512())
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        return hashes.SHA256()
    return None  # Ed25519 signs without a separate digest


def issue_certificate(
    *,
    subject: x509.Name,
    public_key: SupportedPublicKey,
    issuer: Issuer,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    is_ca: bool,
    path_length: int | None = None,
    key_usage: KeyUsageFlags | None,
    key_usage_critical: bool = True,
    extended_key_usages: tuple[ObjectIdentifier, ...] | None = None,
    authority_key_identifier: bool = True,
    subject_key_identifier: bool = True,
    basic_constraints: bool = True,
    signature_hash: CertificateHash | Literal["matched"] | None = "matched",
) -> x509.Certificate:
    """Issue one certificate. `issuer.certificate` None means self-signed (issuer name = subject).

    `signature_hash="matched"` picks the digest from the issuer's key; pass a hash to force one
    (tests use SHA-224 to make a certificate C2PA rejects).
    """
    issuer_name = subject if issuer.certificate is None else issuer.certificate.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None), critical=True
        )
    if key_usage is not None:
        builder = builder.add_extension(key_usage.to_extension(), critical=key_usage_critical)
    if extended_key_usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_key_usages)), critical=False)
    if subject_key_identifier:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if authority_key_identifier:
        issuer_public_key = issuer.private_key.public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False
        )
    digest = certificate_signature_hash(issuer.private_key) if signature_hash == "matched" else signature_hash
    return builder.sign(private_key=issuer.private_key, algorithm=digest)


def create_root_ca(
    *,
    private_key: SupportedPrivateKey,
    subject: x509.Name,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    """A self-signed root CA (path length 1: it may issue one intermediate level)."""
    return issue_certificate(
        subject=subject,
        public_key=private_key.public_key(),
        issuer=Issuer(certificate=None, private_key=private_key),
        not_before=not_before,
        not_after=not_after,
        is_ca=True,
        path_length=1,
        key_usage=CA_KEY_USAGE,
        # A root's AKI would point at itself; RFC 5280 allows omitting it.
        authority_key_identifier=False,
    )


def create_intermediate_ca(
    *,
    public_key: SupportedPublicKey,
    subject: x509.Name,
    issuer: Issuer,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    return issue_certificate(
        subject=subject,
        public_key=public_key,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        is_ca=True,
        path_length=0,
        key_usage=CA_KEY_USAGE,
    )


def create_signing_certificate(
    *,
    public_key: SupportedPublicKey,
    subject: x509.Name,
    issuer: Issuer,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    extended_key_usages: tuple[ObjectIdentifier, ...] | None = DEVELOPMENT_SIGNING_EKUS,
    key_usage: KeyUsageFlags | None = SIGNING_KEY_USAGE,
    authority_key_identifier: bool = True,
    is_ca: bool = False,
) -> x509.Certificate:
    """An end-entity certificate that meets the C2PA signing profile unless told otherwise."""
    return issue_certificate(
        subject=subject,
        public_key=public_key,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        is_ca=is_ca,
        key_usage=key_usage,
        extended_key_usages=extended_key_usages,
        authority_key_identifier=authority_key_identifier,
    )


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def chain_pem(certificates: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> str:
    return "".join(certificate_pem(c) for c in certificates)


def private_key_pem(private_key: SupportedPrivateKey, *, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, unencrypted unless `password` is given."""
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
