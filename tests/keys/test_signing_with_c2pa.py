"""Every algorithm, from `keys init` to a Trusted read-back with real c2pa."""

from __future__ import annotations

import pickle

import pytest

from keys.algorithms import SigningAlgorithm
from keys.certificates import certificate_pem
from keys.devca import create_development_credentials
from keys.loader import load_signing_key

from .c2pa_roundtrip import FULL_EKU_CONFIG, sign_and_read


@pytest.fixture(scope="module", params=list(SigningAlgorithm), ids=lambda algorithm: algorithm.value)
def credentials(request, tmp_path_factory):
    algorithm = request.param
    made = create_development_credentials(tmp_path_factory.mktemp(algorithm.value), algorithm=algorithm)
    assert made.key_path is not None  # create_development_credentials writes the key file
    return made, load_signing_key(chain_path=made.chain_path, key_path=made.key_path)


@pytest.mark.parametrize("trust_config", ["full EKU list", "engine default"])
def test_each_algorithm_signs_and_reads_back_trusted(credentials, trust_config, tmp_path):
    made, signing_key = credentials
    assert signing_key.algorithm is made.algorithm

    read = sign_and_read(
        signing_key,
        anchors_pem=made.ca_pem,
        workdir=tmp_path,
        # The development certificate also carries emailProtection, so it must pass the engine's default EKU rule.
        trust_config=None if trust_config == "engine default" else FULL_EKU_CONFIG,
    )

    assert read.state == "Trusted", read.failure_codes
    assert read.failure_codes == ()
    assert any("found in [local] trust anchors" in text for text in read.explanations)


def test_signature_sizes_match_the_algorithm(credentials):
    _, signing_key = credentials
    signature = signing_key.sign(b"claim bytes")
    # DER ECDSA is variable length (up to 72/104/139 bytes); PSS is the modulus size; Ed25519 is 64 bytes.
    limits = {
        SigningAlgorithm.ES256: range(8, 73),
        SigningAlgorithm.ES384: range(8, 105),
        SigningAlgorithm.ES512: range(8, 140),
        SigningAlgorithm.PS256: range(384, 385),
        SigningAlgorithm.ED25519: range(64, 65),
    }
    assert len(signature) in limits[signing_key.algorithm]


def test_repr_and_str_never_show_key_material(credentials):
    made, signing_key = credentials
    key_pem = made.key_path.read_text()
    key_body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    for text in (repr(signing_key), str(signing_key), f"{signing_key}"):
        assert "PRIVATE" not in text
        assert key_body[:16] not in text
        assert text.startswith(f"SigningKey(algorithm={made.algorithm.value}, subject=")
    public_names = [name for name in dir(signing_key) if not name.startswith("_")]
    assert public_names == [
        "algorithm",
        "certificate_fingerprint",
        "certificates",
        "chain_pem",
        "close",
        "expires_at",
        "key_description",
        "leaf",
        "sign",
    ]
    assert signing_key.expires_at == made.not_after  # the signing certificate expires before the root


def test_signing_key_is_immutable_and_not_picklable(credentials):
    _, signing_key = credentials
    with pytest.raises(AttributeError):
        signing_key.algorithm = SigningAlgorithm.ES256
    with pytest.raises(AttributeError):
        signing_key.extra = 1
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signing_key)


def test_chain_pem_is_signing_certificate_first(credentials):
    made, signing_key = credentials
    assert signing_key.chain_pem == made.chain_path.read_text()
    assert signing_key.chain_pem.endswith(made.ca_pem)
    assert certificate_pem(signing_key.leaf) == signing_key.chain_pem[: len(certificate_pem(signing_key.leaf))]
