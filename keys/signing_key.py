"""`SigningKey`: a checked certificate chain plus the private key that signs with it.

The only object in originmark that holds a private key. It exposes what a signer needs
(algorithm, chain PEM, `sign`) and nothing that would let the key leave: no attribute,
repr or str shows key material.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from keys.algorithms import SigningAlgorithm, SupportedPrivateKey


class SigningKey:
    """An immutable signing credential.

    `sign(data)` returns the signature in the form c2pa's `Signer.from_callback` expects:
    DER-encoded ECDSA for ES256/ES384/ES512 (c2pa converts it to the COSE form), RSASSA-PSS
    with MGF1 over the same hash and a salt as long as the digest for PS256, and the raw
    64-byte signature for Ed25519 (each verified end to end with c2pa 0.38.1 in tests/keys).

    Build one with `keys.loader.load_signing_key`, which checks the chain and key first;
    the constructor itself does not check them (tests use that to make bad signers).
    """

    __slots__ = ("_algorithm", "_certificates", "_chain_pem", "_private_key")

    def __init__(
        self,
        *,
        algorithm: SigningAlgorithm,
        certificates: tuple[x509.Certificate, ...],
        private_key: SupportedPrivateKey,
    ) -> None:
        if not certificates:
            raise ValueError("a SigningKey needs at least the signing certificate")
        object.__setattr__(self, "_algorithm", SigningAlgorithm(algorithm))
        object.__setattr__(self, "_certificates", tuple(certificates))
        object.__setattr__(
            self,
            "_chain_pem",
            "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates),
        )
        object.__setattr__(self, "_private_key", private_key)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SigningKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SigningKey is immutable")

    def __reduce__(self):
        # Pickling would copy the private key into whatever reads the pickle.
        raise TypeError("a SigningKey cannot be pickled: it holds a private key")

    @property
    def algorithm(self) -> SigningAlgorithm:
        return self._algorithm

    @property
    def certificates(self) -> tuple[x509.Certificate, ...]:
        """Signing certificate first, then each issuer in turn."""
        return self._certificates

    @property
    def chain_pem(self) -> str:
        """The chain as PEM certificates only (anything else in the source file is dropped)."""
        return self._chain_pem

    @property
    def leaf(self) -> x509.Certificate:
        """The signing (end-entity) certificate."""
        return self._certificates[0]

    @property
    def expires_at(self) -> datetime.datetime:
        """When the first certificate in the chain expires (after that, signing must stop)."""
        return min(certificate.not_valid_after_utc for certificate in self._certificates)

    def sign(self, data: bytes) -> bytes:
        key = self._private_key
        hash_algorithm = self._algorithm.hash_algorithm
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(hash_algorithm))
        if isinstance(key, rsa.RSAPrivateKey):
            pss = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)
            return key.sign(data, pss, hash_algorithm)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        raise TypeError(f"unsupported private key type {type(key).__name__}")

    def __repr__(self) -> str:
        return (
            f"SigningKey(algorithm={self._algorithm.value}, subject={self.leaf.subject.rfc4514_string()!r}, "
            f"certificates={len(self._certificates)})"
        )

    __str__ = __repr__
