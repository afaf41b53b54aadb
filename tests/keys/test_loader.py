"""File-level problems: missing, unreadable, wrong format, encrypted, swapped files."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from keys.certificates import chain_pem, private_key_pem
from keys.errors import UnreadableCredentials
from keys.loader import MAX_CREDENTIAL_FILE_BYTES, key_file_is_private, load_signing_key


@pytest.fixture
def good_files(test_ca, leaf_key, write_credentials):
    leaf = test_ca.signing_certificate(leaf_key.public_key())
    return write_credentials([leaf, test_ca.intermediate, test_ca.root], leaf_key)


def good_files_leaf(files) -> x509.Certificate:
    return x509.load_pem_x509_certificates(files.chain_path.read_bytes())[0]


def _load(files, *, chain=None, key=None):
    return load_signing_key(chain_path=chain or files.chain_path, key_path=key or files.key_path)


def test_good_files_load(good_files):
    assert _load(good_files).leaf.subject.rfc4514_string() == "CN=test signer,O=originmark tests"


def test_missing_chain_file_names_it_and_the_settings(good_files, tmp_path):
    missing = tmp_path / "nowhere" / "chain.pem"
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files, chain=missing)
    assert caught.value.problem == f"the certificate chain file {missing} does not exist"
    assert "ORIGINMARK_SIGNING_CHAIN" in caught.value.fix
    assert "originmark keys init --dir DIR" in caught.value.fix


def test_directory_instead_of_file(good_files):
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files, key=good_files.key_path.parent)
    assert "is a directory, not a file" in caught.value.problem
    assert "key.pem inside that directory" in caught.value.fix


def test_empty_key_file(good_files):
    good_files.key_path.write_bytes(b"")
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert caught.value.problem == f"the private key file {good_files.key_path} is empty"


@pytest.mark.parametrize("which", ["chain", "key"])
def test_garbage_is_unreadable(good_files, which):
    path = good_files.chain_path if which == "chain" else good_files.key_path
    path.write_bytes(b"this is not a credential\n")
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert str(path) in caught.value.problem
    assert "it is not PEM" in caught.value.problem


def test_truncated_pem_key_is_unreadable(good_files):
    pem = good_files.key_path.read_bytes()
    lines = pem.splitlines(keepends=True)
    good_files.key_path.write_bytes(lines[0] + lines[1][:20] + b"\n" + lines[-1])
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert "cannot be parsed" in caught.value.problem
    assert f"openssl pkey -in {good_files.key_path} -noout" in caught.value.fix


def test_truncated_pem_certificate_is_unreadable(good_files):
    text = good_files.chain_path.read_text()
    good_files.chain_path.write_text(text[: len(text) // 3] + "\n-----END CERTIFICATE-----\n")
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert "has a PEM certificate block that cannot be parsed" in caught.value.problem


def test_encrypted_key_says_how_to_decrypt(good_files, leaf_key):
    good_files.key_path.write_bytes(private_key_pem(leaf_key, password=b"correct horse"))
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert caught.value.problem.startswith(f"the key file {good_files.key_path} is encrypted with a passphrase")
    assert f"openssl pkey -in {good_files.key_path} -out" in caught.value.fix
    assert "umask 077" in caught.value.fix  # the decrypted copy must not be readable by others


def test_traditional_openssl_encrypted_key_is_detected_too(good_files, leaf_key):
    encrypted = leaf_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(b"pw"),
    )
    good_files.key_path.write_bytes(encrypted)
    with pytest.raises(UnreadableCredentials, match="encrypted with a passphrase"):
        _load(good_files)


def test_swapped_files_are_recognised(good_files):
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files, chain=good_files.key_path, key=good_files.chain_path)
    assert "contains no PEM certificate (it has PRIVATE KEY blocks)" in caught.value.problem
    assert "the chain and key files may be swapped" in caught.value.fix


def test_certificate_given_as_key_is_recognised(good_files):
    good_files.key_path.write_text(chain_pem([good_files_leaf(good_files)]))
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert "the chain and key files may be swapped" in caught.value.fix


def test_public_key_given_as_key(good_files, leaf_key):
    good_files.key_path.write_bytes(
        leaf_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert "it has PUBLIC KEY blocks" in caught.value.problem
    assert "this is a public key" in caught.value.fix


def test_der_certificate_gets_the_conversion_command(good_files):
    leaf = good_files_leaf(good_files)
    good_files.chain_path.write_bytes(leaf.public_bytes(serialization.Encoding.DER))
    with pytest.raises(UnreadableCredentials) as caught:
        _load(good_files)
    assert "binary DER or PKCS#12" in caught.value.problem
    assert f"openssl x509 -inform DER -in {good_files.chain_path} -out chain.pem" in caught.value.fix


def test_oversized_file_is_not_read_whole(good_files):
    with good_files.chain_path.open("ab") as stream:
        stream.write(b"\0" * (MAX_CREDENTIAL_FILE_BYTES + 1))
    with pytest.raises(UnreadableCredentials, match="probably the wrong file"):
        _load(good_files)


def test_extra_text_around_certificates_is_dropped_from_the_chain(good_files):
    # openssl pkcs12 output has "Bag Attributes" text between blocks; c2pa gets clean PEM only.
    original = good_files.chain_path.read_text()
    good_files.chain_path.write_text("Bag Attributes\n    localKeyID: 01\n" + original + "trailing notes\n")
    signing_key = _load(good_files)
    assert signing_key.chain_pem == original


def test_key_file_privacy(good_files):
    assert key_file_is_private(good_files.key_path)
    good_files.key_path.chmod(0o644)
    assert not key_file_is_private(good_files.key_path)
