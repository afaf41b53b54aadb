"""`SigningKey`: a checked certificate chain plus the key that signs with it.

The only object in originmark that signs. It exposes what a signer needs (algorithm,
chain PEM, `sign`) and nothing that would let the key leave: no attribute, repr or str
shows key material. The key itself stays in its backend (keys/backends): a PEM key in this
process's memory, a PKCS#11 key in its token, a KMS key in AWS.
"""

from __future__ import annotations

import datetime
import hashlib
from typing import NoReturn

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keys.algorithms import SigningAlgorithm, SupportedPrivateKey
from keys.backends.handle import KeyHandle
from keys.backends.local import LocalKeyHandle


class SigningKey:
    """An immutable signing credential: a chain and a `KeyHandle` for its first certificate.

    `sign(data)` returns the signature in the form c2pa's `Signer.from_callback` expects:
    DER-encoded ECDSA for ES256/ES384/ES512 from every backend (c2pa converts it to the COSE
    form), RSASSA-PSS with MGF1 over the same hash and a salt as long as the digest for PS256,
    and the raw 64-byte signature for Ed25519 (each verified end to end with c2pa 0.38.1 in
    tests/keys).

    Build one with `keys.loader.load_signing_key` or `keys.credential.load_credential`, which
    check the chain and key first; the constructor itself does not check them (tests use that
    to make bad signers). Give either `private_key` (a key in memory) or `key` (any backend).
    """

    __slots__ = ("_algorithm", "_certificates", "_chain_pem", "_key")
    # Set once, in __init__, through object.__setattr__ (this class's __setattr__ refuses).
    _algorithm: SigningAlgorithm
    _certificates: tuple[x509.Certificate, ...]
    _chain_pem: str
    _key: KeyHandle

    def __init__(
        self,
        *,
        algorithm: SigningAlgorithm,
        certificates: tuple[x509.Certificate, ...],
        private_key: SupportedPrivateKey | None = None,
        key: KeyHandle | None = None,
    ) -> None:
        if not certificates:
            raise ValueError("a SigningKey needs at least the signing certificate")
        handle: KeyHandle
        if key is not None and private_key is None:
            handle = key
        elif private_key is not None and key is None:
            handle = LocalKeyHandle(private_key)
        else:
            raise ValueError("give a SigningKey either private_key or key")
        object.__setattr__(self, "_algorithm", SigningAlgorithm(algorithm))
        object.__setattr__(self, "_certificates", tuple(certificates))
        object.__setattr__(
            self,
            "_chain_pem",
            "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates),
        )
        object.__setattr__(self, "_key", handle)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SigningKey is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("SigningKey is immutable")

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the private key (or an open session) into whatever reads the pickle.
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
    def certificate_fingerprint(self) -> str:
        """SHA-256 of the signing certificate (DER), lower-case hex: what the audit log records."""
        return hashlib.sha256(self.leaf.public_bytes(serialization.Encoding.DER)).hexdigest()

    @property
    def key_description(self) -> str:
        """Where the key lives, in words (e.g. "the key file ...", "the PKCS#11 key ...")."""
        return self._key.description

    @property
    def expires_at(self) -> datetime.datetime:
        """When the first certificate in the chain expires (after that, signing must stop)."""
        return min(certificate.not_valid_after_utc for certificate in self._certificates)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data, self._algorithm)

    def close(self) -> None:
        """Release the backend's session or client (a PEM key needs nothing); idempotent."""
        self._key.close()

    def __repr__(self) -> str:
        return (
            f"SigningKey(algorithm={self._algorithm.value}, subject={self.leaf.subject.rfc4514_string()!r}, "
            f"certificates={len(self._certificates)})"
        )

    __str__ = __repr__
