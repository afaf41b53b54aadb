"""The local PEM backend: an unencrypted private key file, signed with in this process."""

from __future__ import annotations

from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from keys.algorithms import SigningAlgorithm, SupportedPrivateKey, SupportedPublicKey


class LocalKeyHandle:
    """A private key object in this process's memory (never pickled, printed or logged)."""

    __slots__ = ("_description", "_private_key")

    def __init__(self, private_key: SupportedPrivateKey, *, description: str = "the private key") -> None:
        self._private_key = private_key
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    def public_key(self) -> SupportedPublicKey:
        return self._private_key.public_key()

    def sign(self, data: bytes, algorithm: SigningAlgorithm) -> bytes:
        key = self._private_key
        algorithm = SigningAlgorithm(algorithm)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(algorithm.signing_hash()))  # DER
        if isinstance(key, rsa.RSAPrivateKey):
            hash_algorithm = algorithm.signing_hash()
            pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
            return key.sign(data, pss, hash_algorithm)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise TypeError(f"unsupported private key type {type(key).__name__}")

    def close(self) -> None:
        return None

    def __reduce__(self) -> NoReturn:
        raise TypeError("a LocalKeyHandle cannot be pickled: it holds a private key")

    def __repr__(self) -> str:
        return f"LocalKeyHandle({self._description})"
