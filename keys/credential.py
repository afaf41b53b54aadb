"""Load a signing credential from any key backend and check it before first use.

`load_credential(spec)`: read the chain, open the key where it lives (keys/backends), check
the chain against the C2PA profile with the backend's public key, then prove the backend
holds the matching private key by signing a random challenge and verifying it with the
signing certificate. A backend that answers with the wrong key, or signs something other
than what it was asked to (e.g. hashes a digest again), fails here, not in a verifier.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable

from cryptography import x509

from keys.algorithms import SigningAlgorithm, algorithm_for_key
from keys.backends.opening import open_key
from keys.backends.signatures import signature_verifies
from keys.backends.spec import KeySpec, PemKeySpec
from keys.errors import KeyDoesNotMatchCertificate
from keys.loader import load_signing_key, read_certificate_chain
from keys.names import describe_certificate
from keys.profile import check_signing_chain
from keys.signing_key import SigningKey

_CHALLENGE_PREFIX = b"originmark key check "


def load_credential(spec: KeySpec, *, pin: str | None = None, now: datetime.datetime | None = None) -> SigningKey:
    """A checked SigningKey for `spec`; a KeyProblem (with the fix) when it cannot sign.

    `pin`: a PKCS#11 PIN the caller already holds (else the spec's PIN file is read).
    The returned key holds an open session / client: `close()` it when done.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    if isinstance(spec, PemKeySpec):
        # Today's path, unchanged (the key-match check compares the key file's own public key).
        signing_key = load_signing_key(chain_path=spec.chain_path, key_path=spec.key_path, now=now)
        prove_possession(
            signing_key.sign, signing_key.leaf, algorithm=signing_key.algorithm, description=signing_key.key_description
        )
        return signing_key
    certificates = read_certificate_chain(spec.chain_path)
    handle = open_key(spec, pin=pin)
    try:
        public_key = handle.public_key()
        algorithm = algorithm_for_key(public_key, source=handle.description)
        check_signing_chain(
            certificates=certificates,
            private_key=public_key,
            now=now,
            chain_path=spec.chain_path,
            key_description=handle.description,
        )
        prove_possession(
            lambda data: handle.sign(data, algorithm),
            certificates[0],
            algorithm=algorithm,
            description=handle.description,
        )
    except BaseException:
        handle.close()
        raise
    return SigningKey(algorithm=algorithm, certificates=certificates, key=handle)


def prove_possession(
    sign: Callable[[bytes], bytes], certificate: x509.Certificate, *, algorithm: SigningAlgorithm, description: str
) -> None:
    """Sign a fresh random challenge and verify it with `certificate`'s public key."""
    challenge = _CHALLENGE_PREFIX + secrets.token_bytes(32)
    signature = sign(challenge)
    if not signature_verifies(certificate.public_key(), signature, challenge, algorithm):
        raise KeyDoesNotMatchCertificate(
            f"{description} signed a test message, but the signature does not verify with the signing "
            f"certificate ({describe_certificate(certificate)}): the backend holds another key than the one it "
            "reports, or signs something other than the digest it is given",
            "check that the key id / label names the key this certificate was issued for; for AWS KMS, that the "
            "service (or an emulator) implements MessageType=DIGEST",
        )
