"""The key-backend interface and the specs that name a key without holding it.

A spec says *where* a key is (file path, token + key label, KMS key id) and never holds
key material or a PIN, so it can be pickled to a signing worker process, printed and
logged. `keys.backends.opening.open_key(spec)` opens the key where it lives and returns a
`KeyHandle` (keys/backends/handle.py): the specs know no backend, the backends import the specs.

Signature form (what `KeyHandle.sign` returns, and so what c2pa's callback signer gets):
DER-encoded ECDSA for ES256/ES384/ES512 from every backend. c2pa-python accepts DER or the
raw r||s form; a PKCS#11 token returns raw r||s, which is converted to DER here so that all
backends hand the engine the same form. RSASSA-PSS (salt = digest length) for PS256 and the
raw 64-byte signature for Ed25519 come from PEM keys only.
"""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import ClassVar, Protocol


class BackendKind(str, enum.Enum):
    """Where the private key lives (the values of ORIGINMARK_KEY_BACKEND)."""

    PEM = "pem"
    PKCS11 = "pkcs11"
    AWS_KMS = "aws-kms"

    def __str__(self) -> str:
        return self.value


class KeyBackend(Protocol):
    """A spec of one backend: the chain to sign with and where its key is."""

    kind: ClassVar[BackendKind]
    chain_path: Path

    def describe(self) -> str:
        """Where the key is, in words (no secret)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class PemKeySpec:
    """A chain file and an unencrypted PEM key file (mode 0600) on this machine."""

    kind: ClassVar[BackendKind] = BackendKind.PEM
    chain_path: Path
    key_path: Path

    def describe(self) -> str:
        return f"the key file {self.key_path}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Pkcs11KeySpec:
    """An EC key pair in a PKCS#11 token, found by labels; the PIN is never part of the spec.

    The PIN comes from `pin_file` (read when the key is opened, in the process that opens it)
    or is passed to `open_key(spec, pin=...)` by the caller; `pin_variable` names the environment
    variable a signing worker reads it from (see signer/isolation.py).
    """

    kind: ClassVar[BackendKind] = BackendKind.PKCS11
    chain_path: Path
    module: Path  # the PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so
    token_label: str
    key_label: str  # CKA_LABEL of the private key (and of its public key object)
    pin_file: Path | None = None
    pin_variable: str | None = None

    def describe(self) -> str:
        return f"the PKCS#11 key {self.key_label!r} in token {self.token_label!r} ({self.module})"


@dataclasses.dataclass(frozen=True, kw_only=True)
class KmsKeySpec:
    """An AWS KMS asymmetric key (ECC_NIST_P256/P384/P521, SIGN_VERIFY).

    Credentials come from the standard AWS chain (environment, shared config, instance or
    task role), never from originmark's settings.
    """

    kind: ClassVar[BackendKind] = BackendKind.AWS_KMS
    chain_path: Path
    key_id: str  # key id, key ARN, alias name or alias ARN
    region: str | None = None  # None: the AWS chain's region (AWS_REGION, ~/.aws/config)
    endpoint_url: str | None = None  # a VPC endpoint, or a local emulator in tests

    def describe(self) -> str:
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        region = f" in {self.region}" if self.region else ""
        return f"the AWS KMS key {self.key_id}{region}{where}"


KeySpec = PemKeySpec | Pkcs11KeySpec | KmsKeySpec
