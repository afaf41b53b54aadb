"""Load a signing credential (PEM chain + PEM private key) and check it before first use.

Every failure is a `KeyProblem` naming the file and the fix. Key material is never logged,
never put in an error message and never kept beyond the returned `SigningKey`.
"""

from __future__ import annotations

import datetime
import shlex
import stat
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from keys.algorithms import algorithm_for_key, supported_private_key
from keys.backends.local import LocalKeyHandle
from keys.errors import UnreadableCredentials, UnsupportedKeyType
from keys.profile import check_signing_chain
from keys.signing_key import SigningKey

# A chain or key file is a few KB; anything this large is the wrong file (and is not read whole).
MAX_CREDENTIAL_FILE_BYTES = 1024 * 1024

_INIT_HINT = "or run `originmark keys init --dir DIR` to make development credentials"


def load_signing_key(*, chain_path: Path, key_path: Path, now: datetime.datetime | None = None) -> SigningKey:
    """Read, parse and check a chain + key; raise a KeyProblem subclass when they cannot sign."""
    chain_path, key_path = Path(chain_path), Path(key_path)
    certificates = read_certificate_chain(chain_path)
    private_key = supported_private_key(read_private_key(key_path), source=f"the key file {key_path}")
    algorithm = algorithm_for_key(private_key, source=f"the key file {key_path}")
    check_signing_chain(
        certificates=certificates,
        private_key=private_key,
        now=now or datetime.datetime.now(datetime.UTC),
        chain_path=chain_path,
        key_path=key_path,
    )
    return SigningKey(
        algorithm=algorithm,
        certificates=certificates,
        key=LocalKeyHandle(private_key, description=f"the key file {key_path}"),
    )


def key_file_is_private(key_path: Path) -> bool:
    """True when no one but the owner can read or write the key file (mode 0600 or stricter)."""
    return stat.S_IMODE(Path(key_path).stat().st_mode) & 0o077 == 0


def read_certificate_chain(chain_path: Path) -> tuple[x509.Certificate, ...]:
    """All certificates in a PEM file, in file order."""
    data = _read_small_file(chain_path, what="certificate chain")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise UnreadableCredentials(
            f"the chain file {chain_path} contains no PEM certificate ({_describe_content(data)})",
            _chain_fix_for(data, chain_path),
        )
    try:
        return tuple(x509.load_pem_x509_certificates(data))
    except ValueError as error:
        raise UnreadableCredentials(
            f"the chain file {chain_path} has a PEM certificate block that cannot be parsed ({error})",
            "check the file was not truncated or edited; `openssl crl2pkcs7 -nocrl -certfile FILE | "
            "openssl pkcs7 -print_certs -noout` shows which blocks parse. Re-download the chain from your CA, "
            + _INIT_HINT,
        ) from None


def read_private_key(key_path: Path) -> PrivateKeyTypes:
    """The unencrypted PEM private key in `key_path`, of any type (`supported_private_key` checks it)."""
    data = _read_small_file(key_path, what="private key")
    if b"PRIVATE KEY-----" not in data:
        raise UnreadableCredentials(
            f"the key file {key_path} contains no PEM private key ({_describe_content(data)})",
            _key_fix_for(data, key_path),
        )
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:
        # cryptography raises TypeError exactly when the key is encrypted and no password was given.
        decrypted_path = key_path.with_name("key-decrypted.pem")
        raise UnreadableCredentials(
            f"the key file {key_path} is encrypted with a passphrase; originmark reads unencrypted PEM keys only "
            "and protects them with file permissions (mode 0600)",
            "write a decrypted copy readable only by you, "
            f"`(umask 077; openssl pkey -in {_quoted(key_path)} -out {_quoted(decrypted_path)})`, "
            "and point ORIGINMARK_SIGNING_KEY (or --key) at it",
        ) from None
    except UnsupportedAlgorithm:
        raise UnsupportedKeyType(
            f"the key file {key_path} holds a key of a type this system cannot load",
            "use an EC P-256/P-384/P-521, RSA (>= 2048 bits) or Ed25519 key, " + _INIT_HINT,
        ) from None
    except ValueError:
        raise UnreadableCredentials(
            f"the key file {key_path} has a PEM private key block that cannot be parsed",
            f"check the file was not truncated or edited (`openssl pkey -in {_quoted(key_path)} -noout` must succeed); "
            "restore it from where the key was made, " + _INIT_HINT,
        ) from None


def _quoted(path: Path) -> str:
    """A path as it must be typed in a shell command."""
    return shlex.quote(str(path))


def _read_small_file(path: Path, *, what: str) -> bytes:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_CREDENTIAL_FILE_BYTES + 1)
    except FileNotFoundError:
        raise UnreadableCredentials(
            f"the {what} file {path} does not exist",
            "set ORIGINMARK_SIGNING_CHAIN and ORIGINMARK_SIGNING_KEY (or ORIGINMARK_KEYS_DIR) to where your "
            f"credentials are, {_INIT_HINT}",
        ) from None
    except IsADirectoryError:
        raise UnreadableCredentials(
            f"the {what} path {path} is a directory, not a file",
            "point at the PEM file itself (chain.pem / key.pem inside that directory), or use --dir for a "
            "directory written by `originmark keys init`",
        ) from None
    except PermissionError:
        raise UnreadableCredentials(
            f"the {what} file {path} cannot be read by this user (permission denied)",
            "run originmark as the user that owns the file, or give that user read access "
            "(for a private key: `chown originmark FILE && chmod 600 FILE`)",
        ) from None
    except OSError as error:
        raise UnreadableCredentials(
            f"the {what} file {path} cannot be read ({error.strerror})", "check the path and the storage it is on"
        ) from None
    if len(data) > MAX_CREDENTIAL_FILE_BYTES:
        raise UnreadableCredentials(
            f"the {what} file {path} is larger than {MAX_CREDENTIAL_FILE_BYTES // 1024} KiB, far too large for PEM "
            "credentials: it is probably the wrong file",
            "check the path",
        )
    if not data.strip():
        raise UnreadableCredentials(f"the {what} file {path} is empty", f"restore the file, {_INIT_HINT}")
    return data


def _describe_content(data: bytes) -> str:
    if b"-----BEGIN" in data:
        labels = sorted(
            {line.strip().decode("ascii", "replace") for line in data.splitlines() if line.startswith(b"-----BEGIN")}
        )
        return "it has " + ", ".join(label.strip("-").removeprefix("BEGIN ") for label in labels) + " blocks"
    if data[:1] == b"\x30":
        return "it looks like binary DER or PKCS#12 data"
    return "it is not PEM"


def _chain_fix_for(data: bytes, path: Path) -> str:
    if b"PRIVATE KEY-----" in data:
        return (
            "this looks like the private key: the chain and key files may be swapped. Point the chain setting at "
            "the certificate file and the key setting at the key file"
        )
    if b"-----BEGIN PKCS7-----" in data:
        return f"extract the certificates: `openssl pkcs7 -print_certs -in {_quoted(path)} -out chain.pem`"
    if data[:1] == b"\x30":
        return (
            f"convert it to PEM: for a DER certificate `openssl x509 -inform DER -in {_quoted(path)} -out chain.pem`; "
            f"for a PKCS#12 (.p12/.pfx) bundle `openssl pkcs12 -in {_quoted(path)} -nokeys -out chain.pem` "
            f"(and `openssl pkcs12 -in {_quoted(path)} -nocerts -noenc -out key.pem` for the key); then add the "
            "issuing CA certificates after the signing certificate"
        )
    return "use a PEM file with the signing certificate first, then its issuers, " + _INIT_HINT


def _key_fix_for(data: bytes, path: Path) -> str:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return (
            "this looks like a certificate: the chain and key files may be swapped. Point the key setting at the "
            "private key file"
        )
    if b"-----BEGIN PUBLIC KEY-----" in data:
        return "this is a public key; originmark needs the matching private key (the file you generated it from)"
    if b"-----BEGIN EC PARAMETERS-----" in data:
        return (
            "this file has only EC parameters, no key: generate one with "
            "`openssl ecparam -name prime256v1 -genkey -noout -out key.pem`"
        )
    if data[:1] == b"\x30":
        return (
            f"convert it to PEM: `openssl pkey -inform DER -in {_quoted(path)} -out key.pem` for a DER key, or "
            f"`openssl pkcs12 -in {_quoted(path)} -nocerts -noenc -out key.pem` for a PKCS#12 (.p12/.pfx) bundle"
        )
    return "use a PEM private key file (-----BEGIN PRIVATE KEY-----), " + _INIT_HINT


def open_pem_key(key_path: Path) -> LocalKeyHandle:
    """The PEM backend: the key file read into this process (keys.backends.opening.open_key)."""
    description = f"the key file {key_path}"
    return LocalKeyHandle(
        supported_private_key(read_private_key(Path(key_path)), source=description), description=description
    )
