"""Signature algorithms originmark signs with, and how each is chosen from a key.

The algorithm is never configured separately from the key: a configured algorithm
that disagrees with the key is a failure nobody needs.
"""

from __future__ import annotations

import enum

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from keys.errors import UnsupportedKeyType

# Below 2048 bits an RSA key is considered broken by every current signing profile.
MINIMUM_RSA_BITS = 2048

SupportedPrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
SupportedPublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey


class SigningAlgorithm(str, enum.Enum):
    """A C2PA signature algorithm (the names c2pa uses, lower case)."""

    ES256 = "es256"
    ES384 = "es384"
    ES512 = "es512"
    PS256 = "ps256"
    ED25519 = "ed25519"

    @property
    def hash_algorithm(self) -> hashes.HashAlgorithm | None:
        """The digest this algorithm signs over (None: Ed25519 hashes internally)."""
        return _HASHES[self]

    def signing_hash(self) -> hashes.HashAlgorithm:
        """The digest of an ECDSA or RSA-PSS algorithm; TypeError for Ed25519 (as cryptography raises for None)."""
        hash_algorithm = _HASHES[self]
        if hash_algorithm is None:
            raise TypeError(f"{self.value} signs without a separate digest")
        return hash_algorithm

    def __str__(self) -> str:
        return self.value


_HASHES: dict[SigningAlgorithm, hashes.HashAlgorithm | None] = {
    SigningAlgorithm.ES256: hashes.SHA256(),
    SigningAlgorithm.ES384: hashes.SHA384(),
    SigningAlgorithm.ES512: hashes.SHA512(),
    SigningAlgorithm.PS256: hashes.SHA256(),
    SigningAlgorithm.ED25519: None,
}

_CURVE_ALGORITHMS: dict[type[ec.EllipticCurve], SigningAlgorithm] = {
    ec.SECP256R1: SigningAlgorithm.ES256,
    ec.SECP384R1: SigningAlgorithm.ES384,
    ec.SECP521R1: SigningAlgorithm.ES512,
}

_SUPPORTED_TEXT = "EC P-256 (es256), EC P-384 (es384), EC P-521 (es512), RSA >= 2048 bits (ps256) or Ed25519"


def algorithm_for_key(key: object, *, source: str = "the key") -> SigningAlgorithm:
    """The algorithm a private or public key signs with; UnsupportedKeyType otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        algorithm = _CURVE_ALGORITHMS.get(type(key.curve))
        if algorithm is None:
            raise UnsupportedKeyType(
                f"{source} is an EC key on curve {key.curve.name}, which C2PA does not allow "
                f"(C2PA allows {_SUPPORTED_TEXT})",
                "make a new key on an allowed curve, e.g. `openssl ecparam -name prime256v1 -genkey -noout "
                "-out key.pem`, and have a certificate issued for it (or run `originmark keys init` for "
                "development credentials)",
            )
        return algorithm
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        if key.key_size < MINIMUM_RSA_BITS:
            raise UnsupportedKeyType(
                f"{source} is a {key.key_size}-bit RSA key; C2PA signing needs at least {MINIMUM_RSA_BITS} bits",
                "make a new key with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key.pem` "
                "and have a certificate issued for it",
            )
        return SigningAlgorithm.PS256
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return SigningAlgorithm.ED25519
    raise UnsupportedKeyType(
        f"{source} is a {_describe_key_type(key)} key, which C2PA cannot sign with (C2PA allows {_SUPPORTED_TEXT})",
        "use an allowed key type, e.g. `openssl ecparam -name prime256v1 -genkey -noout -out key.pem`, "
        "or run `originmark keys init` for development credentials",
    )


def supported_private_key(key: PrivateKeyTypes, *, source: str = "the key") -> SupportedPrivateKey:
    """`key` itself when C2PA signs with it (type, curve, size); algorithm_for_key's UnsupportedKeyType otherwise."""
    algorithm_for_key(key, source=source)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise AssertionError(f"algorithm_for_key accepted a {type(key).__name__}")
    return key


def _describe_key_type(key: object) -> str:
    name = type(key).__name__.lstrip("_")
    for suffix in ("PrivateKey", "PublicKey"):
        if name.endswith(suffix):
            return name[: -len(suffix)] or name
    return name
