"""Every way a signing credential can be unusable, each saying what is wrong and how to fix it.

A `KeyProblem` always carries two sentences: `problem` (what is wrong, naming the file or
certificate involved) and `fix` (the concrete action: an openssl command, a re-order, or
`originmark keys init`). Callers show `str(error)`; the CLI exits 2 on any of them.
"""

from __future__ import annotations


class KeyProblem(Exception):
    """A signing credential that cannot be used, with the fix."""

    def __init__(self, problem: str, fix: str) -> None:
        # Positional so that pickling (e.g. across a process pool) round-trips.
        super().__init__(problem, fix)
        self.problem = problem.rstrip(". ")
        self.fix = fix.rstrip(". ")

    def __str__(self) -> str:
        return f"{self.problem[:1].upper()}{self.problem[1:]}. Fix: {self.fix}."


class UnreadableCredentials(KeyProblem):
    """A file is missing, unreadable, not PEM, holds the wrong kind of object, or the key is encrypted."""


class CredentialsAlreadyExist(KeyProblem):
    """`keys init` would overwrite existing credentials."""


class EmptyCertificateChain(KeyProblem):
    """The chain file holds no certificate."""


class UnsupportedKeyType(KeyProblem):
    """A key type or size C2PA cannot sign with."""


class KeyDoesNotMatchCertificate(KeyProblem):
    """The private key is not the key of the signing (first) certificate."""


class CertificateExpired(KeyProblem):
    """A certificate in the chain is past its notAfter."""


class CertificateNotYetValid(KeyProblem):
    """A certificate in the chain is before its notBefore."""


class WrongExtendedKeyUsage(KeyProblem):
    """The signing certificate has no EKU C2PA accepts, or allows any usage."""


class MissingDigitalSignatureKeyUsage(KeyProblem):
    """The signing certificate's keyUsage lacks digitalSignature."""


class MissingAuthorityKeyIdentifier(KeyProblem):
    """The signing certificate has no Authority Key Identifier extension."""


class SelfSignedSigningCertificate(KeyProblem):
    """The signing certificate issued itself; C2PA needs a CA-issued end-entity certificate."""


class SigningCertificateIsCA(KeyProblem):
    """The signing certificate is a CA certificate (basicConstraints CA:TRUE or keyCertSign)."""


class ChainOutOfOrder(KeyProblem):
    """The chain is not 'signing certificate, then each issuer in turn'."""


class ChainMissingIssuer(ChainOutOfOrder):
    """A certificate's issuer is not the next one and is nowhere in the chain (an intermediate is missing)."""


class DisallowedCertificateSignature(KeyProblem):
    """A certificate is signed with an algorithm C2PA does not allow (e.g. SHA-1)."""


class UnsupportedCertificate(KeyProblem):
    """The signing certificate is malformed for C2PA (not v3, an unknown critical extension, ...)."""


class KeyBackendUnavailable(KeyProblem):
    """The key's backend (PKCS#11 module or token, AWS KMS) cannot be reached, or refused the key."""


class ExtractableKey(KeyProblem):
    """A token key that could be exported from the token: it would not be protected by it."""


class IdentityProblem(KeyProblem):
    """A signing identity (ORIGINMARK_KEYS_DIR/identities/NAME) is missing, malformed, or none is active."""
