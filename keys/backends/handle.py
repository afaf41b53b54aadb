"""`KeyHandle`: an open private key, whichever backend holds it (the type every backend returns).

Apart from the specs (spec.py), so that `SigningKey` and the backends share it without importing
the specs, which open the backends.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from keys.algorithms import SigningAlgorithm, SupportedPublicKey


@runtime_checkable
class KeyHandle(Protocol):
    """An open private key that signs where it lives; nothing here reveals the key itself."""

    @property
    def description(self) -> str:
        """Where the key is, for messages (e.g. "PKCS#11 key 'signer' in token 'originmark'")."""

    def public_key(self) -> SupportedPublicKey:
        """The public half, as the backend reports it (checked against the certificate at load)."""

    def sign(self, data: bytes, algorithm: SigningAlgorithm) -> bytes:
        """The signature over `data` in the form described in this module's docstring."""

    def close(self) -> None:
        """Release the session / client (idempotent)."""
