"""Why the profile checks exist: what the engine does with credentials we refuse.

Each case builds a SigningKey directly (bypassing `load_signing_key`) and signs with real
c2pa. The engine either refuses with an unspecific error, or, worse, signs and produces
assets that do not verify as Trusted. `load_signing_key` refuses all of them up front.
"""

from __future__ import annotations

import c2pa
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from keys.algorithms import SigningAlgorithm
from keys.certificates import certificate_pem, generate_private_key
from keys.errors import KeyProblem
from keys.profile import check_signing_chain
from keys.signing_key import SigningKey

from .c2pa_roundtrip import sign_and_read
from .conftest import DAY, NOW


def _key(certificates, private_key):
    return SigningKey(algorithm=SigningAlgorithm.ES256, certificates=tuple(certificates), private_key=private_key)


def _unchecked(build):
    def make(ca, key):
        certificates, private_key = build(ca, key)
        with pytest.raises(KeyProblem):
            check_signing_chain(certificates=certificates, private_key=private_key, now=NOW)
        return _key(certificates, private_key)

    return make


REFUSED_BY_ENGINE = {
    "no AKI": lambda ca, key: (
        [ca.signing_certificate(key.public_key(), authority_key_identifier=False), ca.intermediate, ca.root],
        key,
    ),
    "serverAuth EKU": lambda ca, key: (
        [
            ca.signing_certificate(key.public_key(), extended_key_usages=(ExtendedKeyUsageOID.SERVER_AUTH,)),
            ca.intermediate,
            ca.root,
        ],
        key,
    ),
    "expired": lambda ca, key: (
        [
            ca.signing_certificate(key.public_key(), not_before=NOW - 9 * DAY, not_after=NOW - DAY),
            ca.intermediate,
            ca.root,
        ],
        key,
    ),
}

SIGNED_BUT_NOT_TRUSTED = {
    "key does not match": (
        lambda ca, key: (
            [ca.signing_certificate(key.public_key()), ca.intermediate, ca.root],
            generate_private_key(SigningAlgorithm.ES256),
        ),
        "Invalid",
        "claimSignature.mismatch",
    ),
    "issuers swapped": (
        lambda ca, key: ([ca.signing_certificate(key.public_key()), ca.root, ca.intermediate], key),
        "Valid",
        "signingCredential.untrusted",
    ),
    "intermediate missing": (
        lambda ca, key: ([ca.signing_certificate(key.public_key())], key),
        "Valid",
        "signingCredential.untrusted",
    ),
}


@pytest.mark.parametrize("case", REFUSED_BY_ENGINE)
def test_engine_refuses_to_sign_with_an_unspecific_error(case, test_ca, leaf_key, tmp_path):
    signing_key = _unchecked(REFUSED_BY_ENGINE[case])(test_ca, leaf_key)
    with pytest.raises(c2pa.C2paError) as caught:
        sign_and_read(signing_key, anchors_pem=certificate_pem(test_ca.root), workdir=tmp_path)
    # The engine's message does not say which extension or date is wrong; ours does.
    assert "certificate" in str(caught.value)


@pytest.mark.parametrize("case", SIGNED_BUT_NOT_TRUSTED)
def test_engine_signs_but_the_asset_does_not_verify_trusted(case, test_ca, leaf_key, tmp_path):
    build, expected_state, expected_code = SIGNED_BUT_NOT_TRUSTED[case]
    certificates, private_key = build(test_ca, leaf_key)
    signing_key = _key(certificates, private_key)
    if case != "intermediate missing":  # a leaf-only chain is legal when the verifier holds the issuer
        with pytest.raises(KeyProblem):
            check_signing_chain(certificates=certificates, private_key=private_key, now=NOW)

    read = sign_and_read(signing_key, anchors_pem=certificate_pem(test_ca.root), workdir=tmp_path)

    assert read.state == expected_state
    assert expected_code in read.failure_codes


def test_the_conformant_chain_is_trusted_by_the_engine(test_ca, leaf_key, tmp_path):
    certificates = [test_ca.signing_certificate(leaf_key.public_key()), test_ca.intermediate, test_ca.root]
    check_signing_chain(certificates=certificates, private_key=leaf_key, now=NOW)
    read = sign_and_read(_key(certificates, leaf_key), anchors_pem=certificate_pem(test_ca.root), workdir=tmp_path)
    assert read.state == "Trusted"
