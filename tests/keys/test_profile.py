"""Each way a chain + key can break the C2PA signing profile gives its own KeyProblem,
naming the file or certificate involved and the concrete fix."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys.algorithms import SigningAlgorithm
from keys.certificates import (
    EMAIL_PROTECTION_EKU,
    SIGNING_KEY_USAGE,
    Issuer,
    KeyUsageFlags,
    create_root_ca,
    generate_private_key,
    issue_certificate,
    make_name,
)
from keys.errors import (
    CertificateExpired,
    CertificateNotYetValid,
    ChainMissingIssuer,
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
from keys.loader import load_signing_key
from keys.profile import check_signing_chain, find_chain_problems

from .conftest import DAY, NOW


def _chain(ca, leaf):
    return [leaf, ca.intermediate, ca.root]


# Each case: (build(ca, key) -> (certificates, private_key), error class, text in problem, text in fix)
CASES = {
    "key does not match": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate(key.public_key())),
            generate_private_key(SigningAlgorithm.ES256),
        ),
        KeyDoesNotMatchCertificate,
        "does not belong to the signing certificate (CN=test signer, O=originmark tests)",
        "-pubout | openssl sha256",
    ),
    "expired": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate(key.public_key(), not_before=NOW - 40 * DAY, not_after=NOW - DAY)),
            key,
        ),
        CertificateExpired,
        "the signing certificate (CN=test signer, O=originmark tests)",
        "issue a new signing certificate",
    ),
    "not yet valid": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate(key.public_key(), not_before=NOW + DAY, not_after=NOW + 40 * DAY)),
            key,
        ),
        CertificateNotYetValid,
        "is not valid until",
        "`date -u`",
    ),
    "server-auth EKU only": (
        lambda ca, key: (
            _chain(
                ca, ca.signing_certificate(key.public_key(), extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,))
            ),
            key,
        ),
        WrongExtendedKeyUsage,
        "has EKUs serverAuth, none of which C2PA accepts",
        "extendedKeyUsage=1.3.6.1.4.1.62558.2.1,emailProtection",
    ),
    "no EKU extension": (
        lambda ca, key: (_chain(ca, ca.signing_certificate(key.public_key(), extended_key_usages=None)), key),
        WrongExtendedKeyUsage,
        "has no extendedKeyUsage extension",
        "documentSigning (1.3.6.1.5.5.7.3.36)",
    ),
    "anyExtendedKeyUsage": (
        lambda ca, key: (
            _chain(
                ca,
                ca.signing_certificate(
                    key.public_key(),
                    extended_key_usages=(EMAIL_PROTECTION_EKU, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE),
                ),
            ),
            key,
        ),
        WrongExtendedKeyUsage,
        "allows anyExtendedKeyUsage",
        "without anyExtendedKeyUsage",
    ),
    "timeStamping mixed with signing EKU": (
        lambda ca, key: (
            _chain(
                ca,
                ca.signing_certificate(
                    key.public_key(), extended_key_usages=(EMAIL_PROTECTION_EKU, ExtendedKeyUsageOID.TIME_STAMPING)
                ),
            ),
            key,
        ),
        WrongExtendedKeyUsage,
        "combines timeStamping with other EKUs",
        "dedicated time-stamping",
    ),
    "no keyUsage extension": (
        lambda ca, key: (_chain(ca, ca.signing_certificate(key.public_key(), key_usage=None)), key),
        MissingDigitalSignatureKeyUsage,
        "has no keyUsage extension",
        "keyUsage=critical,digitalSignature",
    ),
    "keyUsage without digitalSignature": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate(key.public_key(), key_usage=KeyUsageFlags(content_commitment=True))),
            key,
        ),
        MissingDigitalSignatureKeyUsage,
        "has a keyUsage without digitalSignature",
        "keyUsage=critical,digitalSignature",
    ),
    "keyCertSign on an end-entity": (
        lambda ca, key: (
            _chain(
                ca,
                ca.signing_certificate(
                    key.public_key(), key_usage=KeyUsageFlags(digital_signature=True, key_cert_sign=True)
                ),
            ),
            key,
        ),
        MissingDigitalSignatureKeyUsage,
        "has keyUsage keyCertSign but is not a CA",
        "keyCertSign is for CA certificates only",
    ),
    "no authority key identifier": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate(key.public_key(), authority_key_identifier=False)),
            key,
        ),
        MissingAuthorityKeyIdentifier,
        "has no Authority Key Identifier",
        "authorityKeyIdentifier=keyid",
    ),
    "self-signed leaf": (
        lambda ca, key: (
            [
                issue_certificate(
                    subject=make_name(common_name="self signer"),
                    public_key=key.public_key(),
                    issuer=Issuer(certificate=None, private_key=key),
                    not_before=NOW - DAY,
                    not_after=NOW + DAY,
                    is_ca=False,
                    key_usage=SIGNING_KEY_USAGE,
                    extended_key_usages=(EMAIL_PROTECTION_EKU,),
                )
            ],
            key,
        ),
        SelfSignedSigningCertificate,
        "(CN=self signer) in the chain file",
        "`originmark keys init --dir DIR`",
    ),
    "leaf is a CA": (
        lambda ca, key: (_chain(ca, ca.signing_certificate(key.public_key(), is_ca=True)), key),
        SigningCertificateIsCA,
        "is a CA certificate (basicConstraints CA:TRUE)",
        "basicConstraints=critical,CA:FALSE",
    ),
    "issuers swapped": (
        lambda ca, key: ([ca.signing_certificate(key.public_key()), ca.root, ca.intermediate], key),
        ChainOutOfOrder,
        "certificate #2 (CN=originmark test root, O=originmark tests) did not issue certificate #1",
        (
            "1. CN=test signer, O=originmark tests; 2. CN=originmark test intermediate, O=originmark tests; "
            "3. CN=originmark test root"
        ),
    ),
    "signing certificate not first": (
        lambda ca, key: ([ca.intermediate, ca.signing_certificate(key.public_key()), ca.root], key),
        ChainOutOfOrder,
        "belongs to certificate #2 in the chain file",
        "so the certificate for this key is first",
    ),
    "issuer missing from the middle": (
        lambda ca, key: ([ca.signing_certificate(key.public_key()), ca.root], key),
        ChainMissingIssuer,
        "is missing the certificate that issued certificate #1 (CN=test signer, O=originmark tests)",
        "put the CA certificate that issued it (subject `CN=originmark test intermediate, O=originmark tests`",
    ),
    "unrelated certificate between signer and issuer": (
        lambda ca, key: (
            [ca.signing_certificate(key.public_key()), _unrelated_root(), ca.intermediate, ca.root],
            key,
        ),
        ChainOutOfOrder,
        "certificate #2 (CN=unrelated root) did not issue certificate #1",
        "move certificate #3 directly after certificate #1 (CN=test signer, O=originmark tests)",
    ),
    "duplicate certificate": (
        lambda ca, key: ([(leaf := ca.signing_certificate(key.public_key())), leaf, ca.intermediate], key),
        ChainOutOfOrder,
        "contains certificate #1 (CN=test signer, O=originmark tests) twice (again as #2)",
        "remove the second copy (#2)",
    ),
    "re-keyed issuer certificate": (
        lambda ca, key: (
            [ca.signing_certificate(key.public_key()), _same_name_other_key(ca.intermediate), ca.root],
            key,
        ),
        ChainMissingIssuer,
        "has the name of the CA that issued certificate #1 (CN=test signer, O=originmark tests) but not its key",
        "Subject Key Identifier equals the Authority Key Identifier",
    ),
    "expired intermediate": (
        lambda ca, key: (
            [
                ca.signing_certificate(key.public_key()),
                issue_certificate(
                    subject=ca.intermediate.subject,
                    public_key=ca.intermediate_key.public_key(),
                    issuer=Issuer(certificate=ca.root, private_key=ca.root_key),
                    not_before=NOW - 40 * DAY,
                    not_after=NOW - DAY,
                    is_ca=True,
                    path_length=0,
                    key_usage=KeyUsageFlags(digital_signature=True, key_cert_sign=True, crl_sign=True),
                ),
                ca.root,
            ],
            key,
        ),
        CertificateExpired,
        "certificate #2 (CN=originmark test intermediate, O=originmark tests)",
        "get the current certificate for this CA",
    ),
    "SHA-224 signed leaf": (
        lambda ca, key: (
            [
                issue_certificate(
                    subject=make_name(common_name="sha224 signer"),
                    public_key=key.public_key(),
                    issuer=ca.issuer,
                    not_before=NOW - DAY,
                    not_after=NOW + DAY,
                    is_ca=False,
                    key_usage=SIGNING_KEY_USAGE,
                    extended_key_usages=(EMAIL_PROTECTION_EKU,),
                    signature_hash=hashes.SHA224(),
                ),
                ca.intermediate,
                ca.root,
            ],
            key,
        ),
        DisallowedCertificateSignature,
        "is signed with",
        "SHA-256/384/512",
    ),
    "secp256k1 key": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate((k := ec.generate_private_key(ec.SECP256K1())).public_key())),
            k,
        ),
        UnsupportedKeyType,
        "curve secp256k1",
        "openssl ecparam -name prime256v1",
    ),
    "1024-bit RSA key": (
        lambda ca, key: (
            _chain(ca, ca.signing_certificate((k := rsa.generate_private_key(65537, 1024)).public_key())),
            k,
        ),
        UnsupportedKeyType,
        "1024-bit RSA key",
        "rsa_keygen_bits:3072",
    ),
    "unknown critical extension": (
        lambda ca, key: (
            [_with_unknown_critical_extension(ca, key), ca.intermediate, ca.root],
            key,
        ),
        UnsupportedCertificate,
        "critical extension 1.3.6.1.4.1.55555.1",
        "marked non-critical",
    ),
}


def _unrelated_root() -> x509.Certificate:
    key = generate_private_key(SigningAlgorithm.ES256)
    return create_root_ca(
        private_key=key, subject=make_name(common_name="unrelated root"), not_before=NOW - DAY, not_after=NOW + DAY
    )


def _same_name_other_key(certificate: x509.Certificate) -> x509.Certificate:
    key = generate_private_key(SigningAlgorithm.ES256)
    return create_root_ca(private_key=key, subject=certificate.subject, not_before=NOW - DAY, not_after=NOW + DAY)


def _with_unknown_critical_extension(ca, key) -> x509.Certificate:
    certificate = ca.signing_certificate(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(certificate.subject)
        .issuer_name(certificate.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(certificate.not_valid_before_utc)
        .not_valid_after(certificate.not_valid_after_utc)
    )
    for extension in certificate.extensions:
        builder = builder.add_extension(extension.value, critical=extension.critical)
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    return builder.add_extension(unknown, critical=True).sign(ca.intermediate_key, hashes.SHA256())


@pytest.mark.parametrize("case", CASES.keys())
def test_each_problem_has_its_own_error_naming_file_and_fix(case, test_ca, leaf_key, write_credentials):
    build, error_class, problem_text, fix_text = CASES[case]
    certificates, private_key = build(test_ca, leaf_key)
    files = write_credentials(certificates, private_key)

    with pytest.raises(error_class) as caught:
        load_signing_key(chain_path=files.chain_path, key_path=files.key_path, now=NOW)

    error = caught.value
    assert problem_text in error.problem
    assert fix_text in error.fix
    # The message names the file the user has to act on, and reads as "<problem>. Fix: <fix>."
    assert str(files.chain_path) in error.problem or str(files.key_path) in error.problem
    assert str(error).lower() == f"{error.problem}. Fix: {error.fix}.".lower()


def test_conformant_chain_with_intermediate_loads(test_ca, leaf_key, write_credentials):
    files = write_credentials(_chain(test_ca, test_ca.signing_certificate(leaf_key.public_key())), leaf_key)

    signing_key = load_signing_key(chain_path=files.chain_path, key_path=files.key_path, now=NOW)

    assert signing_key.algorithm is SigningAlgorithm.ES256
    assert [c.subject for c in signing_key.certificates] == [
        make_name(common_name="test signer", organisation="originmark tests"),
        test_ca.intermediate.subject,
        test_ca.root.subject,
    ]


# The EKUs that make a certificate a C2PA claim signer (GUIDE.md; the Microsoft one signs the
# Interim Trust List's Bing credentials), written out rather than taken from keys.certificates:
# a wrong OID there must fail here, not be checked against itself.
C2PA_SIGNING_EKUS = {
    "c2pa-claim-signing": "1.3.6.1.4.1.62558.2.1",
    "documentSigning": "1.3.6.1.5.5.7.3.36",
    "emailProtection": "1.3.6.1.5.5.7.3.4",
    "microsoft-c2pa": "1.3.6.1.4.1.311.76.59.1.9",
}


@pytest.mark.parametrize("eku", C2PA_SIGNING_EKUS.values(), ids=C2PA_SIGNING_EKUS.keys())
def test_each_c2pa_signing_eku_alone_is_accepted(eku, test_ca, leaf_key):
    leaf = test_ca.signing_certificate(leaf_key.public_key(), extended_key_usages=(x509.ObjectIdentifier(eku),))
    check_signing_chain(certificates=_chain(test_ca, leaf), private_key=leaf_key, now=NOW)


def test_chain_without_root_is_accepted(test_ca, leaf_key):
    # The root is the verifier's trust anchor; leaving it out of x5chain is normal.
    leaf = test_ca.signing_certificate(leaf_key.public_key())
    check_signing_chain(certificates=[leaf, test_ca.intermediate], private_key=leaf_key, now=NOW)


def test_empty_chain_is_rejected(leaf_key):
    with pytest.raises(EmptyCertificateChain) as caught:
        check_signing_chain(certificates=(), private_key=leaf_key, now=NOW)
    assert "contains no certificate" in caught.value.problem
    assert "cat signer.pem intermediate.pem > chain.pem" in caught.value.fix


def test_validity_is_judged_at_the_given_time(test_ca, leaf_key):
    leaf = test_ca.signing_certificate(leaf_key.public_key())  # valid NOW-1d .. NOW+30d
    later = NOW + 31 * DAY
    with pytest.raises(CertificateExpired) as caught:
        check_signing_chain(certificates=_chain(test_ca, leaf), private_key=leaf_key, now=later)
    assert f"expired on {leaf.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC" in caught.value.problem


def test_naive_time_is_refused(test_ca, leaf_key):
    leaf = test_ca.signing_certificate(leaf_key.public_key())
    with pytest.raises(ValueError, match="timezone-aware"):
        check_signing_chain(certificates=[leaf], private_key=leaf_key, now=datetime.datetime.now())


def test_all_problems_are_listed_for_one_certificate(test_ca, leaf_key):
    leaf = test_ca.signing_certificate(
        leaf_key.public_key(),
        authority_key_identifier=False,
        extended_key_usages=(ExtendedKeyUsageOID.CODE_SIGNING,),
        not_before=NOW - 40 * DAY,
        not_after=NOW - DAY,
    )
    problems = find_chain_problems(certificates=_chain(test_ca, leaf), private_key=leaf_key, now=NOW)
    assert [type(problem) for problem in problems] == [
        WrongExtendedKeyUsage,
        MissingAuthorityKeyIdentifier,
        CertificateExpired,
    ]
    assert all(isinstance(problem, KeyProblem) for problem in problems)


def test_key_problems_survive_pickling():
    # Errors cross process boundaries (verifier/signer pools); they must round-trip intact.
    import pickle

    original = WrongExtendedKeyUsage("the cert has EKUs serverAuth", "issue a new one")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is WrongExtendedKeyUsage
    assert str(copy) == "The cert has EKUs serverAuth. Fix: issue a new one."
