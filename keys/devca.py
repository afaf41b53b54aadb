"""Development credentials: a throw-away root CA and a signing certificate it issued.

What `originmark keys init` writes. The root's private key is discarded once the signing
certificate is issued, so nothing else can ever be issued under this root; trust it as a
local anchor (`ca.pem`) and nowhere else. Other verifiers show assets signed with these
credentials as "unrecognized": the root is on no public trust list.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import secrets
from pathlib import Path

from keys.algorithms import SigningAlgorithm
from keys.certificates import (
    Issuer,
    certificate_pem,
    chain_pem,
    create_root_ca,
    create_signing_certificate,
    generate_private_key,
    make_name,
    private_key_pem,
)
from keys.errors import CredentialsAlreadyExist, UnreadableCredentials
from keys.names import describe_certificate

CA_FILENAME = "ca.pem"
CHAIN_FILENAME = "chain.pem"
KEY_FILENAME = "key.pem"

ROOT_VALIDITY = datetime.timedelta(days=3650)
SIGNING_VALIDITY = datetime.timedelta(days=365)
# Backdated so that a verifier whose clock runs a little behind still sees a valid certificate.
CLOCK_SKEW_ALLOWANCE = datetime.timedelta(minutes=5)

KEY_FILE_MODE = 0o600
CERTIFICATE_FILE_MODE = 0o644
DIRECTORY_MODE = 0o700


@dataclasses.dataclass(frozen=True, kw_only=True)
class DevelopmentCredentials:
    """Where `create_development_credentials` wrote its files, and what it wrote."""

    directory: Path
    ca_path: Path  # the development root: a trust anchor for local verification only
    chain_path: Path  # signing certificate, then the root
    key_path: Path  # the signing key, mode 0600
    algorithm: SigningAlgorithm
    ca_pem: str
    signing_subject: str
    not_after: datetime.datetime  # when the signing certificate expires


def create_development_credentials(
    directory: Path,
    *,
    overwrite: bool = False,
    algorithm: SigningAlgorithm = SigningAlgorithm.ES256,
    organisation: str = "originmark development",
    now: datetime.datetime | None = None,
) -> DevelopmentCredentials:
    """Write DIR/ca.pem, DIR/chain.pem and DIR/key.pem; refuse to replace them unless `overwrite`."""
    directory = Path(directory)
    algorithm = SigningAlgorithm(algorithm)
    paths = {name: directory / name for name in (CA_FILENAME, CHAIN_FILENAME, KEY_FILENAME)}
    existing = [path for path in paths.values() if path.exists()]
    if existing and not overwrite:
        raise CredentialsAlreadyExist(
            f"{', '.join(str(path) for path in existing)} already exist; `keys init` does not replace credentials "
            "silently",
            "run `originmark keys init --force` (overwrite=True) to replace them, or choose another --dir; after "
            "replacing, assets signed with the old credentials verify as unrecognized unless the old ca.pem "
            "stays a trust anchor",
        )

    now = now or datetime.datetime.now(datetime.UTC)
    not_before = now - CLOCK_SKEW_ALLOWANCE
    root_key = generate_private_key(algorithm)
    root = create_root_ca(
        private_key=root_key,
        subject=make_name(common_name=f"{organisation} root CA (development only)", organisation=organisation),
        not_before=not_before,
        not_after=now + ROOT_VALIDITY,
    )
    signing_key = generate_private_key(algorithm)
    signing_certificate = create_signing_certificate(
        public_key=signing_key.public_key(),
        subject=make_name(common_name=f"{organisation} signer (development only)", organisation=organisation),
        issuer=Issuer(certificate=root, private_key=root_key),
        not_before=not_before,
        not_after=now + SIGNING_VALIDITY,
    )
    del root_key  # nothing more is ever issued under this root

    contents = {
        CA_FILENAME: (certificate_pem(root).encode("ascii"), CERTIFICATE_FILE_MODE),
        CHAIN_FILENAME: (chain_pem([signing_certificate, root]).encode("ascii"), CERTIFICATE_FILE_MODE),
        KEY_FILENAME: (private_key_pem(signing_key), KEY_FILE_MODE),
    }
    _make_directory(directory)
    _write_all(directory, contents, overwrite=overwrite)
    return DevelopmentCredentials(
        directory=directory,
        ca_path=paths[CA_FILENAME],
        chain_path=paths[CHAIN_FILENAME],
        key_path=paths[KEY_FILENAME],
        algorithm=algorithm,
        ca_pem=certificate_pem(root),
        signing_subject=describe_certificate(signing_certificate),
        not_after=signing_certificate.not_valid_after_utc,
    )


def _make_directory(directory: Path) -> None:
    try:
        # A new directory holding a private key is private too; an existing one is left as it is.
        directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    except OSError as error:
        raise UnreadableCredentials(
            f"cannot create the credentials directory {directory} ({error.strerror})",
            "choose a --dir this user can write to",
        ) from None
    if not directory.is_dir():
        raise UnreadableCredentials(f"{directory} exists and is not a directory", "choose another --dir")


def _write_all(directory: Path, contents: dict[str, tuple[bytes, int]], *, overwrite: bool) -> None:
    """Write each file to a temporary name with its final mode, then move them into place.

    The key file is created with mode 0600 from the first byte (never chmod-ed afterwards),
    and a half-written set never appears under the final names.
    """
    temporary: dict[str, Path] = {}
    try:
        for name, (data, mode) in contents.items():
            path = directory / f".{name}.{secrets.token_hex(8)}.tmp"
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            temporary[name] = path
            with os.fdopen(descriptor, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        for name, path in temporary.items():
            final = directory / name
            if overwrite:
                os.replace(path, final)
            else:
                # link() fails if the name appeared since we checked: never clobber without --force.
                os.link(path, final)
                path.unlink()
    except FileExistsError as error:
        raise CredentialsAlreadyExist(
            f"{error.filename2 or error.filename} appeared while writing credentials",
            "make sure only one `keys init` runs at a time, then retry (with --force to replace)",
        ) from None
    except OSError as error:
        raise UnreadableCredentials(
            f"cannot write credentials into {directory} ({error.strerror})", "choose a --dir this user can write to"
        ) from None
    finally:
        for path in temporary.values():
            path.unlink(missing_ok=True)
