"""Development credentials: a throw-away root CA and a signing certificate it issued.

What `originmark keys init` writes. The root's private key is discarded once the signing
certificate is issued, so nothing else can ever be issued under this root; trust it as a
local anchor (`ca.pem`) and nowhere else. Other verifiers show assets signed with these
credentials as "unrecognized": the root is on no public trust list.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from cryptography import x509

from keys.algorithms import SigningAlgorithm, SupportedPrivateKey, SupportedPublicKey, algorithm_for_key
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
from keys.errors import CredentialsAlreadyExist
from keys.key_files import CERTIFICATE_FILE_MODE, KEY_FILE_MODE, make_private_directory, write_files
from keys.names import describe_certificate

CA_FILENAME = "ca.pem"
CHAIN_FILENAME = "chain.pem"
KEY_FILENAME = "key.pem"

ROOT_VALIDITY = datetime.timedelta(days=3650)
SIGNING_VALIDITY = datetime.timedelta(days=365)
# Backdated so that a verifier whose clock runs a little behind still sees a valid certificate.
CLOCK_SKEW_ALLOWANCE = datetime.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DevelopmentCredentials:
    """Where `create_development_credentials` wrote its files, and what it wrote."""

    directory: Path
    ca_path: Path  # the development root: a trust anchor for local verification only
    chain_path: Path  # signing certificate, then the root
    key_path: Path | None  # the signing key, mode 0600 (None: the key is kept in a backend)
    algorithm: SigningAlgorithm
    ca_pem: str
    signing_subject: str
    not_after: datetime.datetime  # when the signing certificate expires


@dataclasses.dataclass(frozen=True, kw_only=True)
class DevelopmentCA:
    """A development root CA with its key in memory only (never written): issue, then drop it."""

    certificate: x509.Certificate
    private_key: SupportedPrivateKey = dataclasses.field(repr=False)

    @property
    def pem(self) -> str:
        return certificate_pem(self.certificate)


def create_development_ca(
    *,
    organisation: str = "originmark development",
    algorithm: SigningAlgorithm = SigningAlgorithm.ES256,
    now: datetime.datetime | None = None,
) -> DevelopmentCA:
    """A fresh development root CA (its key lives only as long as the returned object)."""
    now = now or datetime.datetime.now(datetime.UTC)
    root_key = generate_private_key(SigningAlgorithm(algorithm))
    root = create_root_ca(
        private_key=root_key,
        subject=make_name(common_name=f"{organisation} root CA (development only)", organisation=organisation),
        not_before=now - CLOCK_SKEW_ALLOWANCE,
        not_after=now + ROOT_VALIDITY,
    )
    return DevelopmentCA(certificate=root, private_key=root_key)


def issue_development_certificate(
    ca: DevelopmentCA,
    public_key: SupportedPublicKey,
    *,
    organisation: str = "originmark development",
    common_name: str | None = None,
    validity: datetime.timedelta = SIGNING_VALIDITY,
    now: datetime.datetime | None = None,
) -> x509.Certificate:
    """A C2PA signing certificate from `ca` for a key kept elsewhere (a PEM file, an HSM, KMS).

    `validity` counts from `now`; the certificate is backdated by the clock-skew allowance.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    return create_signing_certificate(
        public_key=public_key,
        subject=make_name(
            common_name=common_name or f"{organisation} signer (development only)", organisation=organisation
        ),
        issuer=Issuer(certificate=ca.certificate, private_key=ca.private_key),
        not_before=now - CLOCK_SKEW_ALLOWANCE,
        not_after=now + validity,
    )


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
    _refuse_existing(directory, (CA_FILENAME, CHAIN_FILENAME, KEY_FILENAME), overwrite=overwrite)
    now = now or datetime.datetime.now(datetime.UTC)
    ca = create_development_ca(organisation=organisation, algorithm=algorithm, now=now)
    signing_key = generate_private_key(algorithm)
    signing_certificate = issue_development_certificate(
        ca, signing_key.public_key(), organisation=organisation, now=now
    )
    root = ca.certificate
    del ca  # nothing more is ever issued under this root
    return _write_credentials(
        directory,
        certificate=signing_certificate,
        root=root,
        key_pem=private_key_pem(signing_key),
        algorithm=algorithm,
        overwrite=overwrite,
    )


def create_development_certificate_for(
    directory: Path,
    public_key: SupportedPublicKey,
    *,
    overwrite: bool = False,
    organisation: str = "originmark development",
    validity: datetime.timedelta = SIGNING_VALIDITY,
    now: datetime.datetime | None = None,
) -> DevelopmentCredentials:
    """Write DIR/ca.pem and DIR/chain.pem for a key kept in a backend (no key file: `key_path` is None)."""
    directory = Path(directory)
    algorithm = algorithm_for_key(public_key, source="the backend's key")
    _refuse_existing(directory, (CA_FILENAME, CHAIN_FILENAME), overwrite=overwrite)
    ca = create_development_ca(organisation=organisation, now=now)
    certificate = issue_development_certificate(ca, public_key, organisation=organisation, validity=validity, now=now)
    root = ca.certificate
    del ca  # nothing more is ever issued under this root
    return _write_credentials(
        directory,
        certificate=certificate,
        root=root,
        key_pem=None,
        algorithm=algorithm,
        overwrite=overwrite,
    )


def _write_credentials(
    directory: Path,
    *,
    certificate: x509.Certificate,
    root: x509.Certificate,
    key_pem: bytes | None,
    algorithm: SigningAlgorithm,
    overwrite: bool,
) -> DevelopmentCredentials:
    contents = {
        CA_FILENAME: (certificate_pem(root).encode("ascii"), CERTIFICATE_FILE_MODE),
        CHAIN_FILENAME: (chain_pem([certificate, root]).encode("ascii"), CERTIFICATE_FILE_MODE),
    }
    if key_pem is not None:
        contents[KEY_FILENAME] = (key_pem, KEY_FILE_MODE)
    make_private_directory(directory)
    write_files(directory, contents, overwrite=overwrite)
    return DevelopmentCredentials(
        directory=directory,
        ca_path=directory / CA_FILENAME,
        chain_path=directory / CHAIN_FILENAME,
        key_path=directory / KEY_FILENAME if key_pem is not None else None,
        algorithm=algorithm,
        ca_pem=certificate_pem(root),
        signing_subject=describe_certificate(certificate),
        not_after=certificate.not_valid_after_utc,
    )


def _refuse_existing(directory: Path, names: tuple[str, ...], *, overwrite: bool) -> None:
    existing = [directory / name for name in names if (directory / name).exists()]
    if existing and not overwrite:
        raise CredentialsAlreadyExist(
            f"{', '.join(str(path) for path in existing)} already exist; `keys init` does not replace credentials "
            "silently",
            "run `originmark keys init --force` (overwrite=True) to replace them, or choose another --dir; after "
            "replacing, assets signed with the old credentials verify as unrecognized unless the old ca.pem "
            "stays a trust anchor",
        )
