"""Builds the keys / signer / verifier components from `Settings`.

The packages below `app/` never read the environment; this is where their
constructor arguments come from.
"""

from __future__ import annotations

from keys.loader import load_signing_key
from signer.engine import ContentSigner, SignerOptions
from signer.isolation import IsolatedSigner, SignLimits
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.remote_manifest import RemoteManifestPolicy
from verifier.trust import TrustPolicy, default_trust_policy

from app.settings import Settings


def build_trust_policy(settings: Settings) -> TrustPolicy:
    anchor_path = settings.local_anchor_path
    local_pem = anchor_path.read_text() if anchor_path.is_file() else None
    return default_trust_policy(local_anchors_pem=local_pem)


def build_verify_limits(settings: Settings) -> VerifyLimits:
    return VerifyLimits(
        timeout_seconds=settings.verify_timeout_seconds,
        memory_bytes=settings.verify_memory_mb * 1024 * 1024,
        max_asset_bytes=settings.max_asset_bytes,
    )


def build_remote_manifest_policy(settings: Settings) -> RemoteManifestPolicy:
    """ORIGINMARK_REMOTE_FETCH_HOSTS; a malformed entry fails here, at start-up (ValueError)."""
    return RemoteManifestPolicy.from_hosts(settings.remote_fetch_hosts.split(","))


def build_verifier(settings: Settings, *, workers: int) -> IsolatedVerifier:
    return IsolatedVerifier(
        policy=build_trust_policy(settings),
        limits=build_verify_limits(settings),
        workers=workers,
        remote_manifests=build_remote_manifest_policy(settings),
    )


def build_signer_options(settings: Settings) -> SignerOptions:
    return SignerOptions(thumbnails=settings.thumbnails, time_stamp_url=settings.time_stamp_url)


def build_content_signer(settings: Settings) -> ContentSigner:
    """In this process: for the operator's own files (the CLI). Uploads go to `build_isolated_signer`."""
    signing_key = load_signing_key(chain_path=settings.chain_path, key_path=settings.key_path)
    return ContentSigner(signing_key=signing_key, options=build_signer_options(settings))


def build_sign_limits(settings: Settings) -> SignLimits:
    return SignLimits(
        timeout_seconds=settings.sign_timeout_seconds, memory_bytes=settings.sign_memory_mb * 1024 * 1024
    )


def build_isolated_signer(settings: Settings) -> IsolatedSigner:
    """Signing worker processes for uploads; each loads the key from the configured paths itself."""
    return IsolatedSigner(
        chain_path=settings.chain_path,
        key_path=settings.key_path,
        options=build_signer_options(settings),
        limits=build_sign_limits(settings),
        workers=settings.sign_workers,
    )
