"""The worker pools a server or a job worker runs on (app.wiring.build_worker_pools builds them).

- `WorkerPools`: the IsolatedSigner pool (each worker's start-up probe has passed once it exists)
  and the IsolatedVerifier pool, plus the two fingerprints the routes record with what they store.

Shared by app/api (the service) and app/jobs (the workers), so neither imports the other. What
must exist before either starts: app/service_setup.py.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from signer.engine import ContentSigner
from signer.isolation import IsolatedSigner
from signer.rotation import RotatingSigner
from verifier.isolation import IsolatedVerifier
from verifier.trust import TrustPolicy

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
