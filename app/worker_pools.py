"""The worker pools a server or a job worker runs on, and what must exist before either starts.

- `prepare_service`: what must exist before any server process starts — signing credentials
  (development ones on first start, with a loud warning) and the database schema. `originmark
  serve` runs it once before starting its worker processes; each app runs it again at start-up,
  where it finds nothing to do.
- `WorkerPools`: the IsolatedSigner pool (each worker's start-up probe has passed once it exists)
  and the IsolatedVerifier pool, plus the two fingerprints the routes record with what they store.

Shared by app/api (the service) and app/jobs (the workers), so neither imports the other.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from app.settings import Settings
from app.wiring import identities_in_use
from keys.devca import create_development_credentials
from keys.errors import CredentialsAlreadyExist
from signer.engine import ContentSigner
from signer.isolation import IsolatedSigner
from signer.rotation import RotatingSigner
from verifier.isolation import IsolatedVerifier
from verifier.trust import TrustPolicy

log = logging.getLogger("originmark.api")

# t2: verdicts gained `time_stamp` and `error_code`; those stored before are re-verified.
_TRUST_FINGERPRINT_VERSION = "t2"


def trust_fingerprint(policy: TrustPolicy, *, engine: str, remote_fetch_hosts: tuple[str, ...] = ()) -> str:
    """Names the verification configuration a verdict was made under.

    Covers what can change a verdict for the same bytes: each trust list (name, kind, the
    SHA-256 of every anchor and allowed certificate, as DER, so re-encoding or reordering a
    PEM file changes nothing), the accepted EKUs and the engine version. A stored verdict
    with another fingerprint is re-verified instead of answered from the store.
    """
    lists = []
    for trust_list in policy.lists:
        lists.append(
            {
                "name": trust_list.name,
                "kind": trust_list.kind.value,
                "anchors": _certificate_digests(trust_list.anchors_pem),
                "allowed": _certificate_digests(trust_list.allowed_pem) if trust_list.allowed_pem else [],
            }
        )
    description = {"engine": engine, "extended_key_usages": sorted(policy.extended_key_usages), "lists": lists}
    if remote_fetch_hosts:
        # Which remote manifests may be fetched changes the verdict of a file that names one.
        # (Absent when empty, so fingerprints of verdicts stored before the allowlist existed stay valid.)
        description["remote_fetch_hosts"] = sorted(remote_fetch_hosts)
    digest = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()
    return f"{_TRUST_FINGERPRINT_VERSION}:{digest}"


def _certificate_digests(pem: str) -> list[str]:
    certificates = x509.load_pem_x509_certificates(pem.encode("utf-8"))
    return sorted(c.fingerprint(hashes.SHA256()).hex() for c in certificates)


def signing_certificate_fingerprint(chain_pem: bytes) -> str:
    """SHA-256 of the signing certificate (the chain's first), DER, as recorded in the audit log."""
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    return hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest()


# One line (the logs are JSON lines), loud in words instead of in layout.
_DEVELOPMENT_WARNING = (
    "!!! DEVELOPMENT SIGNING CREDENTIALS CREATED in %s !!! For trying originmark out ONLY: other verifiers "
    'show everything signed with them as "unrecognized" (their root CA is on no public trust list) and the '
    "private key sits unprotected on this disk. For production set ORIGINMARK_SIGNING_CHAIN and "
    "ORIGINMARK_SIGNING_KEY (or ORIGINMARK_KEYS_DIR) to real credentials and check them with "
    "`originmark keys check`."
)


def ensure_signing_credentials(settings: Settings) -> bool:
    """Create development credentials in keys_dir when there are none; True if created.

    Never when an explicit chain + key are configured, and never over a partial set (a
    chain without its key is reported by the key loader, not papered over).
    """
    if settings.signing_chain is not None:
        return False
    if settings.key_backend != "pem" or identities_in_use(settings):
        return False  # a key in an HSM/KMS, or several identities: never papered over with a PEM key
    if settings.chain_path.exists() or settings.key_path.exists():
        return False
    try:
        created = create_development_credentials(settings.keys_dir)
    except CredentialsAlreadyExist:
        return False  # another server process created them a moment ago
    log.warning(_DEVELOPMENT_WARNING, created.directory, extra={"fields": {"development_credentials": True}})
    return True


def prepare_service(settings: Settings) -> bool:
    """Signing credentials and the database schema: idempotent, safe to run in every process.
    True when this created the SQLite database file (the caller says where).

    (The audit key is made, if need be, where the store is opened: app.audit_keys.service_audit_keys.)
    """
    from app.store.database_url import missing_sqlite_file
    from app.store.migrate import upgrade_database

    ensure_signing_credentials(settings)
    created = missing_sqlite_file(settings.database_url) is not None
    upgrade_database(settings.database_url)
    return created


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerPools:
    """The signer and the verifier pool, and the fingerprints that go with them."""

    signer: RotatingSigner | IsolatedSigner | ContentSigner  # the service signs uploads in isolated workers
    verifier: IsolatedVerifier
    trust_fingerprint: str
    # Of the identity active at start-up; each SignResult names the certificate it was signed with.
    certificate_fingerprint: str

    def close(self) -> None:
        self.verifier.close()
        self.signer.close()
