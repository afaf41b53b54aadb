"""The AWS KMS backend: `Sign` with `MessageType=DIGEST`, so only a digest leaves this process.

The digest is computed here (the engine's claim can exceed KMS's 4096-byte limit for
MessageType=RAW) and KMS signs it with ECDSA_SHA_256/384/512, answering a DER
ECDSA-Sig-Value: handed to the engine as is. The key never leaves KMS.

Credentials and (unless configured) the region come from the standard AWS chain
(environment, shared config/credentials files, container or instance role): originmark's
settings never hold them. Each signing worker process builds its own client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from keys.algorithms import SigningAlgorithm, SupportedPublicKey
from keys.backends.signatures import digest
from keys.backends.spec import KmsKeySpec
from keys.errors import KeyBackendUnavailable, UnsupportedKeyType

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_kms.literals import SigningAlgorithmSpecType

# KMS key specs originmark signs with, and the KMS algorithm for each C2PA algorithm.
_KEY_SPECS = {
    "ECC_NIST_P256": SigningAlgorithm.ES256,
    "ECC_NIST_P384": SigningAlgorithm.ES384,
    "ECC_NIST_P521": SigningAlgorithm.ES512,
}
_KMS_ALGORITHMS: dict[SigningAlgorithm, SigningAlgorithmSpecType] = {
    SigningAlgorithm.ES256: "ECDSA_SHA_256",
    SigningAlgorithm.ES384: "ECDSA_SHA_384",
    SigningAlgorithm.ES512: "ECDSA_SHA_512",
}
# A signature call must not hold a signing worker for long when KMS is slow or unreachable.
_CONNECT_TIMEOUT_SECONDS = 5
_READ_TIMEOUT_SECONDS = 10
_ATTEMPTS = 3


class KmsKeyHandle:
    """A KMS client and the key id it signs with (no key material: there is none here)."""

    def __init__(self, *, client: KMSClient, key_id: str, public_key: SupportedPublicKey, description: str) -> None:
        self._client: KMSClient | None = client
        self._key_id = key_id
        self._public_key = public_key
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    def public_key(self) -> SupportedPublicKey:
        return self._public_key

    def sign(self, data: bytes, algorithm: SigningAlgorithm) -> bytes:
        kms_algorithm = _KMS_ALGORITHMS.get(SigningAlgorithm(algorithm))
        if kms_algorithm is None:
            raise UnsupportedKeyType(f"{self._description} cannot sign {algorithm}", "use an ECC_NIST_* KMS key")
        if self._client is None:
            raise KeyBackendUnavailable(f"the KMS client for {self._description} was closed", "load the key again")
        try:
            answer = self._client.sign(
                KeyId=self._key_id,
                Message=digest(data, algorithm),
                MessageType="DIGEST",
                SigningAlgorithm=kms_algorithm,
            )
        except Exception as error:  # noqa: BLE001 - botocore's errors, described without the request
            raise _unavailable(error, where=self._description) from None
        return bytes(answer["Signature"])  # DER ECDSA-Sig-Value

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __repr__(self) -> str:
        return f"KmsKeyHandle({self._description})"


def open_kms_key(spec: KmsKeySpec) -> KmsKeyHandle:
    """A KMS client for `spec`, after checking the key is an ECC signing key and reading its public key."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise KeyBackendUnavailable(
            "the AWS KMS key backend needs the boto3 package, which is not installed",
            "install originmark with its dependencies (`pip install -e .`), or `pip install boto3`",
        ) from None
    where = spec.describe()
    config = Config(
        connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        read_timeout=_READ_TIMEOUT_SECONDS,
        retries={"max_attempts": _ATTEMPTS, "mode": "standard"},
    )
    try:
        client = boto3.session.Session(region_name=spec.region).client(
            "kms", endpoint_url=spec.endpoint_url, config=config
        )
    except Exception as error:  # noqa: BLE001 - e.g. NoRegionError, a malformed endpoint URL
        raise _unavailable(error, where=where) from None
    try:
        answer = client.get_public_key(KeyId=spec.key_id)
    except Exception as error:  # noqa: BLE001
        client.close()
        raise _unavailable(error, where=where) from None
    key_spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
    if answer.get("KeyUsage") != "SIGN_VERIFY" or key_spec not in _KEY_SPECS:
        client.close()
        raise UnsupportedKeyType(
            f"{where} is a {key_spec} key for {answer.get('KeyUsage')}; originmark signs with ECC_NIST_P256, "
            "ECC_NIST_P384 or ECC_NIST_P521 keys whose usage is SIGN_VERIFY",
            "create one: `aws kms create-key --key-spec ECC_NIST_P256 --key-usage SIGN_VERIFY`, and have a "
            "certificate issued for its public key (`aws kms get-public-key`)",
        )
    try:
        public_key = load_der_public_key(bytes(answer["PublicKey"]))
    except (KeyError, ValueError):
        client.close()
        raise KeyBackendUnavailable(
            f"{where}: KMS returned a public key that cannot be parsed", "check the key id"
        ) from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):  # KMS answers the KeySpec's (ECC) public key
        client.close()
        raise KeyBackendUnavailable(
            f"{where}: KMS returned a {type(public_key).__name__} for an ECC key", "check the key id"
        )
    # Sign with the ARN KMS resolved (an alias could be re-pointed between calls).
    return KmsKeyHandle(
        client=client, key_id=answer.get("KeyId") or spec.key_id, public_key=public_key, description=where
    )


def _unavailable(error: Exception, *, where: str) -> KeyBackendUnavailable:
    from botocore import exceptions as aws_errors

    if isinstance(error, aws_errors.NoCredentialsError | aws_errors.PartialCredentialsError):
        return KeyBackendUnavailable(
            f"no AWS credentials were found for {where}",
            "give this process credentials through the standard AWS chain: an instance/task role, "
            "AWS_PROFILE with ~/.aws/credentials, or AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (never in "
            "originmark's settings)",
        )
    if isinstance(error, aws_errors.NoRegionError):
        return KeyBackendUnavailable(
            f"no AWS region is configured for {where}", "set ORIGINMARK_KMS_REGION (or AWS_REGION)"
        )
    if isinstance(error, aws_errors.ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        text = error.response.get("Error", {}).get("Message", "")
        fixes = {
            "NotFoundException": "check ORIGINMARK_KMS_KEY_ID (key id, key ARN or alias/NAME) and the region",
            "AccessDeniedException": "allow kms:GetPublicKey and kms:Sign on this key to the role originmark runs as",
            "DisabledException": "enable the key (`aws kms enable-key`)",
            "KMSInvalidStateException": "the key is pending deletion or import: use an enabled key",
        }
        return KeyBackendUnavailable(
            f"AWS KMS refused {where}: {code} {text}".rstrip(),
            fixes.get(code, "check the key id, the region and this role's permissions (kms:GetPublicKey, kms:Sign)"),
        )
    if isinstance(error, aws_errors.BotoCoreError):
        return KeyBackendUnavailable(
            f"AWS KMS cannot be reached for {where} ({type(error).__name__}: {error})",
            "check the network path to KMS (or ORIGINMARK_KMS_ENDPOINT_URL) and retry",
        )
    return KeyBackendUnavailable(f"AWS KMS failed for {where} ({type(error).__name__})", "retry; check the KMS key")
