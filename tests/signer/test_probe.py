"""The start-up probe: a signer whose output would not verify refuses to start, saying why."""

from __future__ import annotations

import socket

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys.algorithms import SigningAlgorithm
from keys.signing_key import SigningKey
from signer.engine import ContentSigner, SignerOptions
from signer.errors import SignerProbeFailed, SigningError, TimeStampUnavailable


def test_a_good_key_passes_the_probe_as_trusted(content_signer):
    assert content_signer.probe.state == "Trusted"
    assert content_signer.probe.elapsed_seconds < 2


def test_a_key_that_does_not_match_the_certificate_is_refused(signing_key):
    stranger = ec.generate_private_key(ec.SECP256R1())
    # Built directly, bypassing keys.loader's checks: the probe is the last line of defence.
    broken = SigningKey(algorithm=SigningAlgorithm.ES256, certificates=signing_key.certificates, private_key=stranger)
    with pytest.raises(SignerProbeFailed) as caught:
        ContentSigner(signing_key=broken, options=SignerOptions())
    message = str(caught.value)
    assert "claimSignature.mismatch" in message
    assert "the private key does not belong to the signing certificate" in message
    assert "originmark keys init" in message


def test_a_certificate_without_a_c2pa_usage_is_refused(make_signing_key):
    with pytest.raises(SignerProbeFailed) as caught:
        ContentSigner(signing_key=make_signing_key(ekus=[ExtendedKeyUsageOID.SERVER_AUTH]), options=SignerOptions())
    message = str(caught.value)
    assert message.startswith("signing the start-up probe image failed: Signature: the certificate is invalid")
    assert "the engine rejects the signing certificate" in message and "a C2PA signing EKU" in message


def test_a_chain_that_does_not_lead_to_its_last_certificate_is_refused(make_signing_key):
    with pytest.raises(SignerProbeFailed, match="does not lead to its last certificate"):
        ContentSigner(signing_key=make_signing_key(wrong_root=True), options=SignerOptions())


def test_a_certificate_from_another_ca_signs_and_verifies_under_its_own_root(make_signing_key):
    signer = ContentSigner(signing_key=make_signing_key(), options=SignerOptions())
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
