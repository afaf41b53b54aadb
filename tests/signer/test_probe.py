"""The start-up probe: a signer whose output would not verify refuses to start, saying why."""

from __future__ import annotations

import datetime
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from keys.algorithms import SigningAlgorithm
from keys.signing_key import SigningKey
from signer.engine import ContentSigner, SignerOptions
from signer.errors import SignerProbeFailed, SigningError, TimeStampUnavailable

C2PA_CLAIM_SIGNING = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
NOW = datetime.datetime.now(datetime.timezone.utc)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "originmark probe tests"),
        ]
    )


def _root() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("Probe Test Root"))
        .issuer_name(_name("Probe Test Root"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def _leaf(root: x509.Certificate, root_key, *, ekus: list[ObjectIdentifier]):
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("Probe Test Signer"))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return certificate, key


def _signing_key(certificates, private_key) -> SigningKey:
    # Built directly, bypassing keys.loader's checks: the probe is the last line of defence.
    return SigningKey(algorithm=SigningAlgorithm.ES256, certificates=tuple(certificates), private_key=private_key)


def test_a_good_key_passes_the_probe_as_trusted(content_signer):
    assert content_signer.probe.state == "Trusted"
    assert content_signer.probe.elapsed_seconds < 2


def test_a_key_that_does_not_match_the_certificate_is_refused(signing_key):
    stranger = ec.generate_private_key(ec.SECP256R1())
    broken = _signing_key(signing_key.certificates, stranger)
    with pytest.raises(SignerProbeFailed) as caught:
        ContentSigner(signing_key=broken, options=SignerOptions())
    message = str(caught.value)
    assert "claimSignature.mismatch" in message
    assert "the private key does not belong to the signing certificate" in message
    assert "originmark keys init" in message


def test_a_certificate_without_a_c2pa_usage_is_refused():
    root, root_key = _root()
    leaf, key = _leaf(root, root_key, ekus=[ExtendedKeyUsageOID.SERVER_AUTH])
    with pytest.raises(SignerProbeFailed) as caught:
        ContentSigner(signing_key=_signing_key([leaf, root], key), options=SignerOptions())
    message = str(caught.value)
    assert message.startswith("signing the start-up probe image failed: Signature: the certificate is invalid")
    assert "the engine rejects the signing certificate" in message and "a C2PA signing EKU" in message


def test_a_chain_that_does_not_lead_to_its_last_certificate_is_refused():
    root, root_key = _root()
    other_root, _ = _root()
    leaf, key = _leaf(root, root_key, ekus=[C2PA_CLAIM_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION])
    with pytest.raises(SignerProbeFailed, match="does not lead to its last certificate"):
        ContentSigner(signing_key=_signing_key([leaf, other_root], key), options=SignerOptions())


def test_a_certificate_from_another_ca_signs_and_verifies_under_its_own_root():
    root, root_key = _root()
    leaf, key = _leaf(root, root_key, ekus=[C2PA_CLAIM_SIGNING])
    signer = ContentSigner(signing_key=_signing_key([leaf, root], key), options=SignerOptions())
    assert signer.probe.state == "Trusted"
    signer.close()


def _closed_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return probe_socket.getsockname()[1]


def test_an_unreachable_time_stamping_authority_stops_the_signer(signing_key):
    url = f"http://127.0.0.1:{_closed_port()}/tsa"
    with pytest.raises(TimeStampUnavailable) as caught:
        ContentSigner(signing_key=signing_key, options=SignerOptions(time_stamp_url=url))
    assert url in str(caught.value)
    assert "ORIGINMARK_TIME_STAMP_URL" in str(caught.value)


def test_thumbnails_on_passes_the_probe_settings_check(signing_key):
    signer = ContentSigner(signing_key=signing_key, options=SignerOptions(thumbnails=True))
    assert signer.options.thumbnails is True
    assert signer.probe.state == "Trusted"
    signer.close()


def test_a_time_stamping_url_must_be_http():
    with pytest.raises(SigningError, match="'ftp://tsa.example' is not an http:// or https:// URL"):
        SignerOptions(time_stamp_url="ftp://tsa.example")
