"""The C2PA signing-certificate profile, checked before a credential is first used.

Mirrors what the engine (c2pa-rs 0.91.3, `check_certificate_profile` and
`check_end_entity_certificate_profile`) enforces when it reads a signature, so that a
credential the engine would reject fails here, at startup, with a message naming the
certificate, the problem and the fix, instead of producing assets that verify Invalid.

`find_chain_problems` lists every problem found; `check_signing_chain` raises the first.
"""

from __future__ import annotations

import datetime
import shlex
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, ObjectIdentifier, SignatureAlgorithmOID

from keys.algorithms import SupportedPublicKey, algorithm_for_key
from keys.certificates import (
    C2PA_CLAIM_SIGNING_EKU,
    DOCUMENT_SIGNING_EKU,
    EMAIL_PROTECTION_EKU,
    MICROSOFT_C2PA_EKU,
)
from keys.chain_order import order_problems
from keys.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    ChainOutOfOrder,
    DisallowedCertificateSignature,
    EmptyCertificateChain,
    KeyDoesNotMatchCertificate,
    KeyProblem,
    MissingAuthorityKeyIdentifier,
    MissingDigitalSignatureKeyUsage,
    SelfSignedSigningCertificate,
    SigningCertificateIsCA,
    UnsupportedCertificate,
    UnsupportedKeyType,
    WrongExtendedKeyUsage,
)
from keys.names import describe_certificate

# EKUs that make a certificate usable for C2PA claim signing, with the names users know them by.
ALLOWED_SIGNING_EKUS: dict[ObjectIdentifier, str] = {
    C2PA_CLAIM_SIGNING_EKU: "C2PA claim signing (1.3.6.1.4.1.62558.2.1)",
    DOCUMENT_SIGNING_EKU: "documentSigning (1.3.6.1.5.5.7.3.36)",
    EMAIL_PROTECTION_EKU: "emailProtection (1.3.6.1.5.5.7.3.4)",
    MICROSOFT_C2PA_EKU: "Microsoft C2PA signing (1.3.6.1.4.1.311.76.59.1.9)",
}

_KNOWN_EKU_NAMES: dict[ObjectIdentifier, str] = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
    **{oid: name.split(" (")[0] for oid, name in ALLOWED_SIGNING_EKUS.items()},
}

# Certificate signature algorithms the engine accepts (anything else: "algorithm not supported").
ALLOWED_CERTIFICATE_SIGNATURES: frozenset[ObjectIdentifier] = frozenset(
    {
        SignatureAlgorithmOID.RSA_WITH_SHA256,
        SignatureAlgorithmOID.RSA_WITH_SHA384,
        SignatureAlgorithmOID.RSA_WITH_SHA512,
        SignatureAlgorithmOID.ECDSA_WITH_SHA256,
        SignatureAlgorithmOID.ECDSA_WITH_SHA384,
        SignatureAlgorithmOID.ECDSA_WITH_SHA512,
        SignatureAlgorithmOID.RSASSA_PSS,
        SignatureAlgorithmOID.ED25519,
    }
)

# Critical extensions the engine understands; any other critical extension makes it reject the certificate.
_ENGINE_HANDLED_EXTENSIONS: frozenset[ObjectIdentifier] = frozenset(
    {
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.CERTIFICATE_POLICIES,
        ExtensionOID.POLICY_MAPPINGS,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.POLICY_CONSTRAINTS,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.CRL_DISTRIBUTION_POINTS,
        ExtensionOID.INHIBIT_ANY_POLICY,
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.CRL_NUMBER,
        ObjectIdentifier("2.16.840.1.113730.1.1"),  # Netscape certificate type
    }
)


def _reissue(requirement: str) -> str:
    """The fix for a signing certificate that has to be issued again, with what must be different."""
    return (
        f"have your CA issue a new signing certificate {requirement}. For development, "
        "`originmark keys init --force --dir DIR` makes a conforming one"
    )


_OPENSSL_EXTENSIONS_HINT = (
    "when issuing with openssl, put these lines in the extension section passed with "
    "`openssl x509 -req ... -extfile ext.cnf`: `basicConstraints=critical,CA:FALSE`, "
    "`keyUsage=critical,digitalSignature`, `extendedKeyUsage=1.3.6.1.4.1.62558.2.1,emailProtection`, "
    "`subjectKeyIdentifier=hash`, `authorityKeyIdentifier=keyid`"
)


def check_signing_chain(
    *,
    certificates: tuple[x509.Certificate, ...] | list[x509.Certificate],
    private_key: PrivateKeyTypes | SupportedPublicKey,
    now: datetime.datetime,
    chain_path: Path | None = None,
    key_path: Path | None = None,
    key_description: str | None = None,
) -> None:
    """Raise the first KeyProblem with this chain and key; return None when they meet the profile."""
    problems = find_chain_problems(
        certificates=certificates,
        private_key=private_key,
        now=now,
        chain_path=chain_path,
        key_path=key_path,
        key_description=key_description,
    )
    if problems:
        raise problems[0]


def find_chain_problems(
    *,
    certificates: tuple[x509.Certificate, ...] | list[x509.Certificate],
    private_key: PrivateKeyTypes | SupportedPublicKey,
    now: datetime.datetime,
    chain_path: Path | None = None,
    key_path: Path | None = None,
    key_description: str | None = None,
) -> tuple[KeyProblem, ...]:
    """Every problem with this chain and key, most fundamental first.

    Order matters for the first one: a key that does not match, or a chain whose signing
    certificate is not first, makes every later finding about the wrong certificate.
    `private_key` may be the public half of a key kept in an HSM or KMS (keys/backends), which
    `key_description` then names. `chain_path`/`key_path` only name the files in the messages.
    """
    chain_name = f"the chain file {chain_path}" if chain_path is not None else "the certificate chain"
    if key_description is not None:
        key_name = key_description
    else:
        key_name = f"the key file {key_path}" if key_path is not None else "the private key"
    certificates = tuple(certificates)
    if not certificates:
        return (
            EmptyCertificateChain(
                f"{chain_name} contains no certificate",
                "put the signing certificate, then each issuing CA certificate, as PEM blocks "
                "(-----BEGIN CERTIFICATE-----) in that file, e.g. `cat signer.pem intermediate.pem > chain.pem`",
            ),
        )
    if now.tzinfo is None:
        raise ValueError("`now` must be timezone-aware")

    try:
        algorithm_for_key(private_key, source=key_name)
    except UnsupportedKeyType as problem:
        return (problem,)

    key_problem = _key_match_problem(
        certificates,
        private_key,
        chain_name=chain_name,
        key_name=key_name,
        chain_file=str(chain_path or "chain.pem"),
        key_file=str(key_path or "key.pem") if key_description is None else None,
    )
    if key_problem is not None:
        # Everything else would be reported about a certificate that is not ours.
        return (key_problem,)

    problems: list[KeyProblem] = []
    problems.extend(_leaf_profile_problems(certificates[0], chain_name=chain_name))
    problems.extend(_validity_problems(certificates, now=now, chain_name=chain_name))
    problems.extend(order_problems(certificates, chain_name=chain_name))
    problems.extend(_signature_algorithm_problems(certificates, chain_name=chain_name))
    return tuple(problems)


def _public_key_bytes(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_match_problem(
    certificates: tuple[x509.Certificate, ...],
    private_key: PrivateKeyTypes | SupportedPublicKey,
    *,
    chain_name: str,
    key_name: str,
    chain_file: str,
    key_file: str | None,
) -> KeyProblem | None:
    public_key = private_key if isinstance(private_key, SupportedPublicKey) else private_key.public_key()
    key_bytes = _public_key_bytes(public_key)
    leaf = certificates[0]
    if _public_key_bytes(leaf.public_key()) == key_bytes:
        return None
    for position, certificate in enumerate(certificates[1:], start=2):
        if _public_key_bytes(certificate.public_key()) == key_bytes:
            return ChainOutOfOrder(
                f"{key_name} belongs to certificate #{position} in {chain_name} "
                f"({describe_certificate(certificate)}), but the signing certificate must come first; "
                f"certificate #1 is {describe_certificate(leaf)}",
                "reorder the file so the certificate for this key is first, followed by the certificate that "
                "issued it, and so on up to the root, e.g. `cat signer.pem intermediate.pem root.pem > chain.pem`",
            )
    leaf_is_ca = _is_ca(leaf)
    hint = (
        " (it is a CA certificate: is this the CA file, e.g. ca.pem, instead of the signing chain, chain.pem?)"
        if leaf_is_ca
        else ""
    )
    if key_file is None:  # a key in an HSM or KMS: there is no key file to compare
        fix = (
            "point the backend at the key this certificate was issued for, or have a certificate issued for this "
            "key's public key (`originmark keys init --identity NAME --backend ...` issues a development one); "
            f"`openssl x509 -in {shlex.quote(chain_file)} -noout -pubkey` shows the certificate's public key"
        )
    else:
        fix = (
            "use the key this certificate was issued for, or the certificate issued for this key; these two commands "
            f"must print the same digest: `openssl x509 -in {shlex.quote(chain_file)} -noout -pubkey | openssl sha256` "
            f"and `openssl pkey -in {shlex.quote(key_file)} -pubout | openssl sha256`"
        )
    return KeyDoesNotMatchCertificate(
        f"{key_name} does not belong to the signing certificate ({describe_certificate(leaf)}), the first "
        f"certificate in {chain_name}{hint}",
        fix,
    )


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _leaf_profile_problems(leaf: x509.Certificate, *, chain_name: str) -> list[KeyProblem]:
    name = f"the signing certificate ({describe_certificate(leaf)}) in {chain_name}"
    problems: list[KeyProblem] = []
    extensions = {extension.oid: extension for extension in leaf.extensions}

    if leaf.version != x509.Version.v3:
        problems.append(
            UnsupportedCertificate(
                f"{name} is an X.509 {leaf.version.name} certificate; C2PA requires v3",
                _reissue("as an X.509 v3 certificate"),
            )
        )

    basic_constraints = extensions.get(ExtensionOID.BASIC_CONSTRAINTS)
    is_ca = basic_constraints is not None and basic_constraints.value.ca

    if leaf.issuer == leaf.subject:
        problems.append(
            SelfSignedSigningCertificate(
                f"{name} is self-signed (its issuer is itself); the C2PA specification forbids self-signed "
                "signing certificates and other validators show them as untrusted",
                "sign with a certificate issued by a CA: for development, `originmark keys init --dir DIR` makes a "
                "development CA (ca.pem) and a signing certificate it issued (chain.pem, key.pem); for production, "
                "get a C2PA signing certificate from a CA on the C2PA trust list",
            )
        )
    if is_ca:
        problems.append(
            SigningCertificateIsCA(
                f"{name} is a CA certificate (basicConstraints CA:TRUE); C2PA signs only with end-entity certificates",
                "do not sign with a CA certificate: issue an end-entity signing certificate from this CA "
                "(basicConstraints=critical,CA:FALSE) and put it first in the chain, followed by this CA",
            )
        )

    key_usage = extensions.get(ExtensionOID.KEY_USAGE)
    if key_usage is None or not key_usage.value.digital_signature:
        what = "has no keyUsage extension" if key_usage is None else "has a keyUsage without digitalSignature"
        problems.append(
            MissingDigitalSignatureKeyUsage(
                f"{name} {what}; C2PA requires keyUsage digitalSignature on the signing certificate",
                _reissue("with `keyUsage=critical,digitalSignature`"),
            )
        )
    elif key_usage.value.key_cert_sign and not is_ca:
        problems.append(
            MissingDigitalSignatureKeyUsage(
                f"{name} has keyUsage keyCertSign but is not a CA; the engine rejects that combination",
                _reissue("with `keyUsage=critical,digitalSignature` (keyCertSign is for CA certificates only)"),
            )
        )

    eku_problem = _eku_problem(extensions.get(ExtensionOID.EXTENDED_KEY_USAGE), name=name)
    if eku_problem is not None:
        problems.append(eku_problem)

    if ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in extensions:
        problems.append(
            MissingAuthorityKeyIdentifier(
                f"{name} has no Authority Key Identifier extension; the engine rejects signing certificates without it",
                _reissue("that includes `authorityKeyIdentifier=keyid`") + f"; {_OPENSSL_EXTENSIONS_HINT}",
            )
        )

    for oid, extension in extensions.items():
        if extension.critical and oid not in _ENGINE_HANDLED_EXTENSIONS:
            problems.append(
                UnsupportedCertificate(
                    f"{name} has a critical extension {oid.dotted_string} that the C2PA engine does not "
                    "understand, so it rejects the certificate",
                    _reissue("without that extension, or with it marked non-critical"),
                )
            )
    return problems


def eku_name(oid: ObjectIdentifier) -> str:
    return _KNOWN_EKU_NAMES.get(oid, oid.dotted_string)


def _eku_problem(extension: x509.Extension[x509.ExtendedKeyUsage] | None, *, name: str) -> KeyProblem | None:
    allowed_text = ", ".join(ALLOWED_SIGNING_EKUS.values())
    fix = _reissue(
        f"whose extendedKeyUsage includes one of: {allowed_text}; with openssl: "
        "`extendedKeyUsage=1.3.6.1.4.1.62558.2.1,emailProtection` (keep emailProtection: C2PA tools with "
        "default settings accept only that one)"
    )
    if extension is None:
        return WrongExtendedKeyUsage(f"{name} has no extendedKeyUsage extension; C2PA requires one", fix)
    usages = list(extension.value)
    present = ", ".join(eku_name(oid) for oid in usages) or "none"
    if ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return WrongExtendedKeyUsage(
            f"{name} allows anyExtendedKeyUsage (EKUs: {present}); C2PA forbids it on signing certificates",
            fix.replace(
                "whose extendedKeyUsage includes", "without anyExtendedKeyUsage and whose extendedKeyUsage includes"
            ),
        )
    if not any(oid in ALLOWED_SIGNING_EKUS for oid in usages):
        return WrongExtendedKeyUsage(f"{name} has EKUs {present}, none of which C2PA accepts for signing", fix)
    time_stamping = ExtendedKeyUsageOID.TIME_STAMPING in usages
    ocsp_signing = ExtendedKeyUsageOID.OCSP_SIGNING in usages
    if time_stamping or ocsp_signing:
        return WrongExtendedKeyUsage(
            f"{name} combines {'timeStamping' if time_stamping else 'OCSPSigning'} with other EKUs "
            f"({present}); C2PA rejects that combination",
            _reissue("without timeStamping/OCSPSigning (those belong on dedicated time-stamping or OCSP certificates)"),
        )
    return None


def _format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _validity_problems(
    certificates: tuple[x509.Certificate, ...], *, now: datetime.datetime, chain_name: str
) -> list[KeyProblem]:
    problems: list[KeyProblem] = []
    for position, certificate in enumerate(certificates, start=1):
        role = "the signing certificate" if position == 1 else f"certificate #{position}"
        name = f"{role} ({describe_certificate(certificate)}) in {chain_name}"
        not_before = certificate.not_valid_before_utc
        not_after = certificate.not_valid_after_utc
        renew = (
            _reissue("(a new validity period, for this key or a new one)")
            if position == 1
            else "get the current certificate for this CA from its issuer and replace it in the chain"
        )
        if now > not_after:
            problems.append(
                CertificateExpired(
                    f"{name} expired on {_format_time(not_after)} (it is now {_format_time(now)})", renew
                )
            )
        elif now < not_before:
            problems.append(
                CertificateNotYetValid(
                    f"{name} is not valid until {_format_time(not_before)} (it is now {_format_time(now)})",
                    "check that this machine's clock is correct (`date -u`); if it is, wait until the certificate "
                    "becomes valid or have it reissued with an earlier notBefore",
                )
            )
    return problems


def _signature_algorithm_problems(certificates: tuple[x509.Certificate, ...], *, chain_name: str) -> list[KeyProblem]:
    problems: list[KeyProblem] = []
    for position, certificate in enumerate(certificates, start=1):
        oid = certificate.signature_algorithm_oid
        if oid in ALLOWED_CERTIFICATE_SIGNATURES or (position > 1 and certificate.issuer == certificate.subject):
            # A root's own signature is never checked (trust in it is by configuration), so SHA-1 there is harmless.
            continue
        role = "the signing certificate" if position == 1 else f"certificate #{position}"
        problems.append(
            DisallowedCertificateSignature(
                f"{role} ({describe_certificate(certificate)}) in {chain_name} is signed with "
                f"{getattr(oid, '_name', oid.dotted_string)} ({oid.dotted_string}), which C2PA does not allow",
                "have it reissued with SHA-256/384/512 (RSA, RSA-PSS or ECDSA) or Ed25519",
            )
        )
    return problems
