"""Real key backends for tests: a SoftHSM2 token made in a temp dir, and moto's KMS server on loopback.

SoftHSM2 (Debian package `softhsm2`) is a real PKCS#11 module: the tests create a token with
`softhsm2-util`, generate an EC P-256 key pair inside it (CKA_SENSITIVE, not CKA_EXTRACTABLE)
through python-pkcs11, and sign through the token. The module reads SOFTHSM2_CONF once per
process, and sees only the tokens that existed when it initialised: one token, made before
any test opens the module, serves the whole test session (each test makes its own key pair
in it, under a label of its own).

moto runs as a real HTTP server (`ThreadedMotoServer`, port 0 on 127.0.0.1); originmark's
KMS backend reaches it with boto3 over HTTP, as it would reach AWS. moto 5.2.5 (the newest)
ignores `MessageType=DIGEST` and hashes the digest again (moto's own docs: "not yet
implemented"; getmoto/moto PR 10202 is open). AWS documents that DIGEST skips the hashing
step, so `kms_server` checks moto's behaviour on start and, when it is wrong, makes moto's
ECDSA `Sign` honour DIGEST as documented (in this test process only). Without that fix,
originmark refuses the key at load: its possession check sees a signature that does not
verify (tests/keys/test_kms.py shows both).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.serialization import load_der_public_key

from keys.algorithms import SupportedPublicKey

SOFTHSM_MODULE_CANDIDATES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so"),
    Path("/usr/local/lib/softhsm/libsofthsm2.so"),
)
SO_PIN = "76543210"


def softhsm_module() -> Path | None:
    # Resolved, as keys/backends/pkcs11.py loads it: one library file must be initialised under one path.
    found = next((path for path in SOFTHSM_MODULE_CANDIDATES if path.is_file()), None)
    return None if found is None else Path(os.path.realpath(found))


def require_softhsm() -> tuple[Path, str]:
    """The SoftHSM2 module and softhsm2-util, or skip naming what to install."""
    module = softhsm_module()
    util = shutil.which("softhsm2-util")
    if module is None or util is None:
        pytest.skip(
            "SoftHSM2 is not installed (no libsofthsm2.so or softhsm2-util): `apt-get install softhsm2` "
            "(scripts/test.sh installs it) to run the PKCS#11 backend tests"
        )
    return module, util


@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftHsm:
    module: Path
    util: str
    directory: Path
    config: Path

    def create_token(self, label: str) -> SoftHsmToken:
        pin = secrets.token_hex(8)
        subprocess.run(
            [self.util, "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", pin],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(self.config)},
            timeout=30,
        )
        pin_file = self.directory / f"{label}.pin"
        descriptor = os.open(pin_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(pin + "\n")
        return SoftHsmToken(module=self.module, label=label, pin=pin, pin_file=pin_file)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SoftHsmToken:
    module: Path
    label: str
    pin: str
    pin_file: Path

    def generate_key_pair(self, key_label: str, *, extractable: bool = False, curve: str = "secp256r1"):
        """An EC key pair made inside the token; returns its public key (cryptography object)."""
        import pkcs11
        from pkcs11 import Attribute, KeyType
        from pkcs11.util.ec import encode_ec_public_key, encode_named_curve_parameters

        token = pkcs11.lib(str(self.module)).get_token(token_label=self.label)
        try:
            session = token.open(user_pin=self.pin, rw=True)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            # A key opened by originmark in this process holds the login (PKCS#11 logs in per
            # process): a session without its own login shares it, and closing it logs nobody out.
            session = token.open(rw=True)
        with session:
            parameters = session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters(curve)}, local=True
            )
            public, _private = parameters.generate_keypair(
                store=True,
                label=key_label,
                private_template={Attribute.SENSITIVE: not extractable, Attribute.EXTRACTABLE: extractable},
            )
            return load_der_public_key(encode_ec_public_key(public))


@contextlib.contextmanager
def softhsm_token(directory: Path, *, label: str = "originmark-tests") -> Iterator[SoftHsmToken]:
    """A fresh SoftHSM2 token in `directory`, with SOFTHSM2_CONF pointing at it (this process + children)."""
    module, util = require_softhsm()
    tokens = directory / "tokens"
    tokens.mkdir(parents=True)
    config = directory / "softhsm2.conf"
    config.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(config))
        yield SoftHsm(module=module, util=util, directory=directory, config=config).create_token(label)


# --- AWS KMS (moto server mode) ---

AWS_TEST_ENVIRONMENT = {
    # The standard AWS credential chain, pointed at throw-away values: never a developer's real ones.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}
KMS_REGION = "eu-west-1"

_DIGEST_SIZES = {"ECDSA_SHA_256": hashes.SHA256(), "ECDSA_SHA_384": hashes.SHA384(), "ECDSA_SHA_512": hashes.SHA512()}


@dataclasses.dataclass(frozen=True, kw_only=True)
class KmsServer:
    endpoint_url: str
    region: str
    digest_fixed: bool  # True when moto needed (and got) the MessageType=DIGEST fix

    def client(self):
        import boto3

        return boto3.session.Session(region_name=self.region).client("kms", endpoint_url=self.endpoint_url)

    def create_signing_key(self, key_spec: str = "ECC_NIST_P256") -> tuple[str, SupportedPublicKey]:
        """A new SIGN_VERIFY key in the emulator: (key id, public key)."""
        with contextlib.closing(self.client()) as client:
            key_id = client.create_key(KeySpec=key_spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            public_key = load_der_public_key(client.get_public_key(KeyId=key_id)["PublicKey"])
        assert isinstance(public_key, SupportedPublicKey), f"{key_spec} is not a key type originmark signs with"
        return key_id, public_key


def moto_honours_digest(server_endpoint: str, region: str) -> bool:
    """Ask the emulator to sign a digest and check the signature as AWS defines it."""
    import boto3

    with contextlib.closing(
        boto3.session.Session(region_name=region).client("kms", endpoint_url=server_endpoint)
    ) as client:
        key_id = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
        public_key = load_der_public_key(client.get_public_key(KeyId=key_id)["PublicKey"])
        assert isinstance(public_key, ec.EllipticCurvePublicKey)  # the ECC_NIST_P256 key just created
        message = b"does DIGEST skip the hashing step?"
        signature = client.sign(
            KeyId=key_id,
            Message=hashlib.sha256(message).digest(),
            MessageType="DIGEST",
            SigningAlgorithm="ECDSA_SHA_256",
        )["Signature"]
    try:
        public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    except Exception:  # noqa: BLE001 - InvalidSignature
        return False
    return True


def _install_moto_digest_fix(patch: pytest.MonkeyPatch) -> None:
    """moto's KMS `Sign` for ECC keys, honouring MessageType=DIGEST as the AWS API reference defines it."""
    from moto.kms.exceptions import ValidationException
    from moto.kms.responses import KmsResponse

    original = KmsResponse.sign

    def sign(self) -> str:
        if self._get_param("MessageType") != "DIGEST":
            return original(self)
        key = self.kms_backend.describe_key(self._get_param("KeyId"))
        algorithm = self._get_param("SigningAlgorithm")
        hash_algorithm = _DIGEST_SIZES.get(algorithm)
        private_key = getattr(key.private_key, "private_key", None)
        if hash_algorithm is None or not isinstance(private_key, ec.EllipticCurvePrivateKey):
            return original(self)  # only ECDSA is exercised here
        if algorithm not in key.signing_algorithms:
            raise ValidationException(f"{algorithm} is not valid for this key")
        message = self._get_param("Message")
        if len(message) != hash_algorithm.digest_size:
            raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
        signature = private_key.sign(message, ec.ECDSA(Prehashed(hash_algorithm)))
        return json.dumps(
            {"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(), "SigningAlgorithm": algorithm}
        )

    patch.setattr(KmsResponse, "sign", sign)


@contextlib.contextmanager
def kms_server(*, fix_digest: bool = True) -> Iterator[KmsServer]:
    """moto's server on a free loopback port, with AWS credentials set to test values (this process + children)."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto logs every request otherwise
    with pytest.MonkeyPatch.context() as patch:
        for name, value in AWS_TEST_ENVIRONMENT.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
            patch.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            fixed = False
            if fix_digest and not moto_honours_digest(endpoint, KMS_REGION):
                _install_moto_digest_fix(patch)
                fixed = True
                assert moto_honours_digest(endpoint, KMS_REGION), "the DIGEST fix did not take"
            yield KmsServer(endpoint_url=endpoint, region=KMS_REGION, digest_fixed=fixed)
        finally:
            server.stop()
