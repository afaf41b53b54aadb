"""`create_development_credentials`: file modes, no silent overwrite, the certificate profile."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from keys.algorithms import SigningAlgorithm
from keys.certificates import C2PA_CLAIM_SIGNING_EKU
from keys.devca import create_development_credentials
from keys.errors import CredentialsAlreadyExist
from keys.loader import load_signing_key


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def zero_umask():
    # With umask 0 a file created 0644 and chmod-ed later would be 0644 for a moment; ours never is.
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_writes_three_files_with_private_key_mode_0600(tmp_path, zero_umask):
    made = create_development_credentials(tmp_path / "keys")

    assert made.ca_path == tmp_path / "keys" / "ca.pem"
    assert made.chain_path == tmp_path / "keys" / "chain.pem"
    assert made.key_path == tmp_path / "keys" / "key.pem"
    assert _mode(made.key_path) == 0o600
    assert _mode(made.ca_path) == 0o644
    assert _mode(made.chain_path) == 0o644
    assert _mode(made.directory) == 0o700  # a directory it creates for a private key is private
    assert sorted(path.name for path in made.directory.iterdir()) == ["ca.pem", "chain.pem", "key.pem"]


def test_existing_directory_keeps_its_mode(tmp_path):
    tmp_path.chmod(0o755)
    create_development_credentials(tmp_path)
    assert _mode(tmp_path) == 0o755


def test_refuses_to_overwrite_and_leaves_files_untouched(tmp_path):
    first = create_development_credentials(tmp_path)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    with pytest.raises(CredentialsAlreadyExist) as caught:
        create_development_credentials(tmp_path)

    assert str(first.key_path) in caught.value.problem
    assert "--force" in caught.value.fix
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def test_refuses_when_any_one_file_exists(tmp_path):
    (tmp_path / "key.pem").write_text("someone's real key")
    with pytest.raises(CredentialsAlreadyExist, match=r"key\.pem already exist"):
        create_development_credentials(tmp_path)
    assert (tmp_path / "key.pem").read_text() == "someone's real key"
    assert not (tmp_path / "ca.pem").exists()


def test_overwrite_replaces_everything_and_keeps_the_key_private(tmp_path, zero_umask):
    first = create_development_credentials(tmp_path)
    assert first.key_path is not None  # create_development_credentials writes the key file
    first.key_path.chmod(0o644)  # someone loosened it; replacing must not inherit that

    second = create_development_credentials(tmp_path, overwrite=True)

    assert second.ca_pem != first.ca_pem
    assert second.ca_path.read_text() == second.ca_pem
    assert second.key_path is not None and _mode(second.key_path) == 0o600
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ca.pem", "chain.pem", "key.pem"]
    load_signing_key(chain_path=second.chain_path, key_path=second.key_path)


def test_signing_certificate_meets_the_profile(tmp_path):
    made = create_development_credentials(tmp_path, organisation="Acme Labs")
    leaf, root = x509.load_pem_x509_certificates(made.chain_path.read_bytes())

    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Acme Labs"
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Acme Labs signer (development only)"
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical and key_usage.value.digital_signature and not key_usage.value.key_cert_sign
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        C2PA_CLAIM_SIGNING_EKU,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ]
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest
    leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 365
    leaf.verify_directly_issued_by(root)

    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert root.issuer == root.subject
    assert (root.not_valid_after_utc - root.not_valid_before_utc).days == 3650
    assert made.ca_path.read_bytes() == root.public_bytes(serialization.Encoding.PEM)


def test_only_the_signing_key_is_written(tmp_path):
    # The root's private key is discarded: nothing else can be issued under the development root.
    made = create_development_credentials(tmp_path)
    all_text = "".join(path.read_text() for path in tmp_path.iterdir())
    assert all_text.count("PRIVATE KEY-----") == 2  # one BEGIN and one END line
    assert made.key_path is not None
    key = serialization.load_pem_private_key(made.key_path.read_bytes(), password=None)
    leaf = x509.load_pem_x509_certificates(made.chain_path.read_bytes())[0]
    assert key.public_key() == leaf.public_key()


@pytest.mark.parametrize("algorithm", list(SigningAlgorithm), ids=lambda algorithm: algorithm.value)
def test_each_algorithm_loads_back_with_that_algorithm(algorithm, tmp_path):
    made = create_development_credentials(tmp_path, algorithm=algorithm)
    assert made.algorithm is algorithm and made.key_path is not None
    assert load_signing_key(chain_path=made.chain_path, key_path=made.key_path).algorithm is algorithm


def test_conftest_fixtures_agree(dev_credentials, signing_key):
    assert signing_key.chain_pem == dev_credentials.chain_path.read_text()
    assert signing_key.algorithm is SigningAlgorithm.ES256
