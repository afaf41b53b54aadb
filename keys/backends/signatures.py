"""Signature helpers shared by the backends: digests, raw ECDSA to DER, and checking a signature."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from keys.algorithms import SigningAlgorithm

ECDSA_ALGORITHMS = frozenset({SigningAlgorithm.ES256, SigningAlgorithm.ES384, SigningAlgorithm.ES512})


def digest(data: bytes, algorithm: SigningAlgorithm) -> bytes:
    """The digest an ECDSA algorithm signs: hashed here, so a remote key only ever sees a digest."""
    hash_algorithm = SigningAlgorithm(algorithm).hash_algorithm
    if hash_algorithm is None:
        raise ValueError(f"{algorithm} does not sign a separate digest")
    hasher = hashes.Hash(hash_algorithm)
    hasher.update(data)
    return hasher.finalize()


def raw_ecdsa_to_der(raw: bytes) -> bytes:
    """PKCS#11's r||s (two equal halves) as a DER ECDSA-Sig-Value."""
    if not raw or len(raw) % 2:
        raise ValueError(f"a raw ECDSA signature has two equal halves, got {len(raw)} bytes")
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def signature_verifies(
    public_key: CertificatePublicKeyTypes, signature: bytes, data: bytes, algorithm: SigningAlgorithm
) -> bool:
    """True when `signature` (in the form c2pa's callback takes) is `public_key`'s over `data`."""
    algorithm = SigningAlgorithm(algorithm)
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm.signing_hash()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            hash_algorithm = algorithm.signing_hash()
            pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
            public_key.verify(signature, data, pss, hash_algorithm)
        elif isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, data)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
