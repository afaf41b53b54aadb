"""A test CA (root -> intermediate) and a writer that puts any chain + key on disk.

Tests break exactly one thing in an otherwise profile-conformant signing certificate and
load it through `load_signing_key`, the same path the service uses.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

import pytest
from cryptography import x509

from keys.algorithms import SigningAlgorithm, SupportedPrivateKey
from keys.certificates import (
    Issuer,
    chain_pem,
    create_intermediate_ca,
    create_root_ca,
    create_signing_certificate,
    generate_private_key,
    make_name,
    private_key_pem,
)

NOW = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
DAY = datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TestCA:
    root: x509.Certificate
    root_key: SupportedPrivateKey
    intermediate: x509.Certificate
    intermediate_key: SupportedPrivateKey

    @property
    def issuer(self) -> Issuer:
        return Issuer(certificate=self.intermediate, private_key=self.intermediate_key)

    def signing_certificate(self, public_key, *, common_name: str = "test signer", **changes) -> x509.Certificate:
        """A conformant signing certificate from the intermediate, with `changes` applied."""
        arguments = dict(
            public_key=public_key,
            subject=make_name(common_name=common_name, organisation="originmark tests"),
            issuer=self.issuer,
            not_before=NOW - DAY,
            not_after=NOW + 30 * DAY,
        )
        arguments.update(changes)
        return create_signing_certificate(**arguments)


@pytest.fixture(scope="session")
def test_ca() -> TestCA:
    root_key = generate_private_key(SigningAlgorithm.ES256)
    root = create_root_ca(
        private_key=root_key,
        subject=make_name(common_name="originmark test root", organisation="originmark tests"),
        not_before=NOW - 10 * DAY,
        not_after=NOW + 3650 * DAY,
    )
    intermediate_key = generate_private_key(SigningAlgorithm.ES256)
    intermediate = create_intermediate_ca(
        public_key=intermediate_key.public_key(),
        subject=make_name(common_name="originmark test intermediate", organisation="originmark tests"),
        issuer=Issuer(certificate=root, private_key=root_key),
        not_before=NOW - 10 * DAY,
        not_after=NOW + 365 * DAY,
    )
    return TestCA(root=root, root_key=root_key, intermediate=intermediate, intermediate_key=intermediate_key)


@pytest.fixture(scope="session")
def leaf_key() -> SupportedPrivateKey:
    return generate_private_key(SigningAlgorithm.ES256)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CredentialFiles:
    chain_path: Path
    key_path: Path


@pytest.fixture
def write_credentials(tmp_path):
    """write_credentials(certificates, key, name=...) -> CredentialFiles on disk."""

    def write(certificates, private_key, *, name: str = "credentials") -> CredentialFiles:
        directory = tmp_path / name
        directory.mkdir()
        chain_path = directory / "chain.pem"
        key_path = directory / "key.pem"
        chain_path.write_text(chain_pem(list(certificates)))
        key_path.write_bytes(private_key_pem(private_key))
        key_path.chmod(0o600)
        return CredentialFiles(chain_path=chain_path, key_path=key_path)

    return write


# --- real key backends (tests/keys/backend_setup.py) ---
# Session-wide: SoftHSM2 reads SOFTHSM2_CONF and its tokens once per process, so one token
# serves every test (each test makes its own key pair in it); one moto server serves every KMS test.


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory):
    from .backend_setup import softhsm_token

    with softhsm_token(tmp_path_factory.mktemp("softhsm")) as token:
        yield token


@pytest.fixture(scope="session")
def kms(tmp_path_factory):
    from .backend_setup import kms_server

    with kms_server() as server:
        yield server
