"""The one place that builds components from `Settings`.

Keys, signers and verifiers (the packages below `app/` never read the environment; this is
where their constructor arguments come from), and the service's own components: the worker pools
a server or job worker runs on, the store it appends to, the object stores, the sign rate
limiter, the use cases and the job runtime. Everything else is handed what it needs.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.api.held_bodies import HELD_BODY_MAX_BYTES
from app.settings import Settings
from app.spool import spool_root
from keys.backends.spec import KeySpec, KmsKeySpec, PemKeySpec, Pkcs11KeySpec
from keys.identities import (
    CA_FILENAME,
    CHAIN_FILENAME,
    KEY_FILENAME,
    FixedIdentity,
    IdentityDirectory,
    IdentitySource,
    PinDefaults,
    SigningIdentity,
)
from verifier.isolation import IsolatedVerifier, VerifyLimits
from verifier.process_pool import Launched
from verifier.remote_manifest import RemoteManifestPolicy
from verifier.trust_spec import TrustPolicySpec, default_trust_spec

# Imported where used: keys and signer (cryptography, Pillow, the signing engine) are not needed to
# verify, nor the use cases and job runtime (the database and jobs stack) by the CLI.
if TYPE_CHECKING:
    from app.api.ratelimit import RateLimiter
    from app.jobs.runtime import JobRuntime
    from app.objects.location import ObjectLocation
    from app.objects.router import ObjectStores
    from app.objects.s3 import S3Options
    from app.store.interface import ServiceStore
    from app.store.sql import SqlStore
    from app.usecases.manifest_repository import ManifestKeeper
    from app.usecases.recovery import ContentRecovery, RecoveryVerifier
    from app.usecases.renditions import Renditions
    from app.usecases.signing import SignAndRecord
    from app.usecases.soft_binding_resolution import SoftBindingResolution
    from app.usecases.thumbnails import FeedThumbnails, PendingBound
    from app.usecases.verification import VerificationEngine, VerifyAndRecord
    from app.worker_pools import WorkerPools
    from keys.signing_key import SigningKey
    from signer.engine import ContentSigner, SignerOptions
    from signer.isolation import IsolatedSigner, SignLimits
    from signer.rotation import RotatingSigner
    from verifier.trust import TrustPolicy

# A signing worker reads the PKCS#11 PIN from this variable of its own environment (the name of
# the setting it came from): signer/isolation.py puts it there when it starts the worker.
PKCS11_PIN_VARIABLE = "ORIGINMARK_PKCS11_PIN"

log = logging.getLogger("originmark.api")

# The name of the one identity of the single chain.pem/key.pem (or explicit settings) layout.
DEFAULT_IDENTITY = "default"


def build_trust_policy(settings: Settings) -> TrustPolicy:
    """The policy itself (certificates parsed), for a verifier in this process and the trust fingerprint."""
    from verifier.trust import TrustPolicy  # cryptography: the isolated verifier's owner does without it

    return TrustPolicy.from_spec(build_trust_spec(settings))


def build_trust_spec(settings: Settings) -> TrustPolicySpec:
    """What verifier workers build their trust policy from (no certificate is parsed in this process)."""
    # ORIGINMARK_TSA_TRUST_ANCHORS is explicit: a missing or unreadable file stops start-up (OSError).
    tsa_pem = settings.tsa_trust_anchors.read_text() if settings.tsa_trust_anchors is not None else None
    return default_trust_spec(local_anchors_pem=_local_anchors_pem(settings), tsa_anchors_pem=tsa_pem)


def _local_anchors_pem(settings: Settings) -> str | None:
    """ORIGINMARK_LOCAL_TRUST_ANCHORS; by default KEYS_DIR/ca.pem plus each identity's development ca.pem.

    Identities are read once, at start-up: an identity added later verifies as `valid`
    (unrecognized) on this service until it restarts, unless its root is already an anchor.
    """
    if settings.local_trust_anchors is not None:
        path = settings.local_trust_anchors
        return path.read_text() if path.is_file() else None
    paths = [settings.local_anchor_path]
    if identities_in_use(settings):
        paths.extend(sorted(identity_directory(settings).root.glob(f"*/{CA_FILENAME}")))
    pems = [path.read_text() for path in paths if path.is_file()]
    return "".join(pem if pem.endswith("\n") else pem + "\n" for pem in pems) or None


def build_verify_limits(settings: Settings) -> VerifyLimits:
    return VerifyLimits(
        timeout_seconds=settings.verify_timeout_seconds,
        memory_bytes=settings.verify_memory_mb * 1024 * 1024,
        max_asset_bytes=settings.max_asset_bytes,
    )


def build_remote_manifest_policy(settings: Settings) -> RemoteManifestPolicy:
    """ORIGINMARK_REMOTE_FETCH_HOSTS; a malformed entry fails here, at start-up (ValueError)."""
    return RemoteManifestPolicy.from_hosts(settings.remote_fetch_hosts.split(","))


def build_verifier(settings: Settings, *, workers: int, launched: Sequence[Launched] = ()) -> IsolatedVerifier:
    """`launched`: worker processes started earlier (verifier.warm_start), adopted first."""
    try:
        return _verifier_pool(
            settings,
            build_trust_spec(settings),  # the workers parse the certificates: this process does without
            build_remote_manifest_policy(settings),
            workers=workers,
            launched=launched,
        )
    except BaseException:
        for process in launched:  # a bad setting stopped us before the pool adopted them
            process.discard()
        raise


def _verifier_pool(
    settings: Settings,
    policy: TrustPolicy | TrustPolicySpec,
    remote_manifests: RemoteManifestPolicy,
    *,
    workers: int,
    launched: Sequence[Launched] = (),
    shared_bytes: int = 0,
) -> IsolatedVerifier:
    return IsolatedVerifier(
        policy=policy,
        limits=build_verify_limits(settings),
        workers=workers,
        remote_manifests=remote_manifests,
        launched=launched,
        shared_bytes=shared_bytes,
    )


def build_signer_options(settings: Settings) -> SignerOptions:
    from signer.engine import SignerOptions

    return SignerOptions(
        thumbnails=settings.thumbnails,
        time_stamp_url=settings.time_stamp_url,
        time_stamp_retries=settings.tsa_retries,
        time_stamp_retry_delay_seconds=settings.tsa_retry_delay_seconds,
        merkle_bmff_from_bytes=None
        if settings.sign_merkle_bmff_from_mb is None
        else settings.sign_merkle_bmff_from_mb * 1024**2,
    )


# --- signing identities and key backends ---


def configured_key_spec(settings: Settings) -> KeySpec:
    """The single identity's key as the settings describe it (ORIGINMARK_KEY_BACKEND and its settings)."""
    # Settings' validator (_key_backend_is_complete) requires the chosen backend's settings.
    if settings.key_backend == "pkcs11":
        module, token_label, key_label = settings.pkcs11_module, settings.pkcs11_token_label, settings.pkcs11_key_label
        assert module is not None and token_label is not None and key_label is not None
        return Pkcs11KeySpec(
            chain_path=settings.chain_path,
            module=module,
            token_label=token_label,
            key_label=key_label,
            **dataclasses.asdict(_pin_source(settings)),
        )
    if settings.key_backend == "aws-kms":
        assert settings.kms_key_id is not None
        return KmsKeySpec(
            chain_path=settings.chain_path,
            key_id=settings.kms_key_id,
            region=settings.kms_region,
            endpoint_url=settings.kms_endpoint_url,
        )
    return PemKeySpec(chain_path=settings.chain_path, key_path=settings.key_path)


def _pin_source(settings: Settings) -> PinDefaults:
    if settings.pkcs11_pin_file is not None:
        return PinDefaults(pin_file=settings.pkcs11_pin_file)
    if settings.pkcs11_pin is not None:
        return PinDefaults(pin_variable=PKCS11_PIN_VARIABLE)
    return PinDefaults()


def signing_secrets(settings: Settings) -> dict[str, str]:
    """What a signing worker gets in its environment besides the inherited one (the PIN, if set)."""
    if settings.pkcs11_pin is None:
        return {}
    return {PKCS11_PIN_VARIABLE: settings.pkcs11_pin.get_secret_value()}


def _pin_for(spec: KeySpec, settings: Settings) -> str | None:
    if isinstance(spec, Pkcs11KeySpec) and spec.pin_variable == PKCS11_PIN_VARIABLE:
        return signing_secrets(settings).get(PKCS11_PIN_VARIABLE)
    return None


def identities_in_use(settings: Settings) -> bool:
    """KEYS_DIR/identities/ holds the identities (explicit ORIGINMARK_SIGNING_CHAIN wins over it)."""
    return settings.signing_chain is None and IdentityDirectory.in_use(settings.keys_dir)


def identity_directory(settings: Settings) -> IdentityDirectory:
    """KEYS_DIR's identities; PKCS#11 identities without a pin_file get the PIN settings."""
    return IdentityDirectory(settings.keys_dir, pin_defaults=_pin_source(settings))


def build_identity_source(settings: Settings) -> IdentitySource:
    if identities_in_use(settings):
        return identity_directory(settings)
    return FixedIdentity(SigningIdentity(name=DEFAULT_IDENTITY, spec=configured_key_spec(settings)))


def load_identity(settings: Settings, identity: SigningIdentity) -> SigningKey:
    """Load and check an identity's credential in this process (close() it when done)."""
    from keys.credential import load_credential

    return load_credential(identity.spec, pin=_pin_for(identity.spec, settings))


def load_active_credential(settings: Settings) -> SigningKey:
    """The credential the service would sign with now, loaded and checked (close() it when done)."""
    return load_identity(settings, build_identity_source(settings).active())


def build_content_signer(settings: Settings) -> ContentSigner:
    """In this process: for the operator's own files (the CLI). Uploads go to `build_isolated_signer`."""
    from signer.engine import ContentSigner

    return ContentSigner(signing_key=load_active_credential(settings), options=build_signer_options(settings))


def build_sign_limits(settings: Settings) -> SignLimits:
    from signer.isolation import SignLimits

    return SignLimits(timeout_seconds=settings.sign_timeout_seconds, memory_bytes=settings.sign_memory_mb * 1024 * 1024)


def build_isolated_signer(settings: Settings, identity: SigningIdentity | None = None) -> IsolatedSigner:
    """Signing worker processes for uploads; each loads the key from its spec itself (the active identity's by default)."""
    from signer.isolation import IsolatedSigner

    identity = identity or build_identity_source(settings).active()
    return IsolatedSigner(
        credential=identity.spec,
        # Their destinations in the spool (a request's or job's folder, deleted once streamed or
        # uploaded) are not fsynced: two waits on the disk per signature for nothing. Any other is.
        options=dataclasses.replace(build_signer_options(settings), scratch_dir=spool_root(settings.spool_dir)),
        limits=build_sign_limits(settings),
        workers=settings.sign_workers,
        secret_environment=signing_secrets(settings),
    )


def build_rotating_signer(settings: Settings) -> RotatingSigner:
    """The service's signer: the active identity's worker pool, switched when `keys rotate` changes it."""
    from signer.rotation import RotatingSigner

    return RotatingSigner(
        source=build_identity_source(settings),
        open_pool=lambda identity: build_isolated_signer(settings, identity),
    )


def check_signing_credential(settings: Settings) -> None:
    """Load and check the active identity's credential, then let it go (a KeyProblem when it cannot sign)."""
    load_active_credential(settings).close()


@dataclasses.dataclass(frozen=True, kw_only=True)
class IdentityCheck:
    """An identity that loaded, passed the profile and possession checks, and signed the engine's probe."""

    name: str
    subject: str
    certificate_fingerprint: str
    expires_at: datetime.datetime
    key_description: str
    probe_state: str  # "Trusted" or "Valid" (the probe read back with the chain's own root as anchor)


def check_identity(settings: Settings, identity: SigningIdentity) -> IdentityCheck:
    """Check `identity` fully, as a signing worker would start with it (KeyProblem / SigningError if not)."""
    from keys.names import describe_certificate
    from signer.engine import ContentSigner

    signing_key = load_identity(settings, identity)
    try:
        signer = ContentSigner(signing_key=signing_key, options=build_signer_options(settings))
        signer.close()
        return IdentityCheck(
            name=identity.name,
            subject=describe_certificate(signing_key.leaf),
            certificate_fingerprint=signing_key.certificate_fingerprint,
            expires_at=signing_key.expires_at,
            key_description=signing_key.key_description,
            probe_state=signer.probe.state,
        )
    finally:
        signing_key.close()


def adopt_single_identity(settings: Settings) -> str | None:
    """Before the first identity is made: move the single layout's credential in as identity "default", active.

    So that making a second identity never silently drops the one the service signs with today
    (KEYS_DIR/chain.pem + key.pem, or a chain whose key is in a token / KMS per the settings).
    Returns the adopted name, or None when there was nothing to adopt.
    """
    if settings.signing_chain is not None or identities_in_use(settings) or not settings.chain_path.is_file():
        return None
    identities = identity_directory(settings)
    spec = configured_key_spec(settings)
    target = identities.create_directory(DEFAULT_IDENTITY)
    moved: list[tuple[Path, Path]] = []
    try:
        for source, name in ((settings.chain_path, CHAIN_FILENAME), (getattr(spec, "key_path", None), KEY_FILENAME)):
            if source is not None:
                os.replace(source, target / name)  # one copy of the key, never two
                moved.append((target / name, source))
        if not isinstance(spec, PemKeySpec):
            identities.write_backend(target, dataclasses.replace(spec, chain_path=target / CHAIN_FILENAME))
        if settings.local_anchor_path.is_file():
            shutil.copyfile(settings.local_anchor_path, target / CA_FILENAME)
        identities.activate(DEFAULT_IDENTITY)
    except BaseException:
        for destination, source in reversed(moved):
            os.replace(destination, source)
        shutil.rmtree(target, ignore_errors=True)
        raise
    return DEFAULT_IDENTITY


# --- the store a server or a job worker appends to ---


def open_service_store(settings: Settings) -> SqlStore:
    """The database as the service uses it: pooled, and appending audit records with the current
    audit key (a development key is made on first start). The schema must be migrated already."""
    from app.audit_keys import service_audit_keys
    from app.store.sql import open_store

    return open_store(settings.database_url, audit_keys=service_audit_keys(settings))


# --- the worker pools a server or a job worker runs on ---


def build_worker_pools(settings: Settings) -> WorkerPools:
    """Build the signer (runs its start-up probe) and start the verifier worker processes."""
    from app.worker_pools import WorkerPools, trust_fingerprint
    from verifier.reader import engine_version

    # Built once: the pool verifies under the policy that the fingerprint names.
    policy = build_trust_policy(settings)
    remote_manifests = build_remote_manifest_policy(settings)
    signer = build_rotating_signer(settings)
    try:
        certificate = signer.certificate_fingerprint
        verifier = _verifier_pool(
            settings,
            policy,
            remote_manifests,
            workers=settings.verify_workers,
            # Uploads a server holds in memory are read by its workers there (IsolatedVerifier.verify_bytes).
            shared_bytes=min(HELD_BODY_MAX_BYTES, settings.max_upload_bytes),
        )
    except BaseException:
        signer.close()
        raise
    return WorkerPools(
        signer=signer,
        verifier=verifier,
        trust_fingerprint=trust_fingerprint(
            policy, engine=engine_version(), remote_fetch_hosts=remote_manifests.host_names
        ),
        certificate_fingerprint=certificate,
    )


# --- object stores ---


def build_s3_options(settings: Settings) -> S3Options:
    from app.objects.s3 import S3Options

    return S3Options(
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        addressing_style=settings.s3_addressing_style,
        part_size=settings.s3_part_size_mb * 1024 * 1024,
        max_attempts=settings.s3_max_attempts,
        connect_timeout_seconds=settings.s3_connect_timeout_seconds,
        read_timeout_seconds=settings.s3_read_timeout_seconds,
        checksums=settings.s3_checksums,
    )


def build_object_stores(settings: Settings) -> ObjectStores:
    """Both backends: the local folder (created when missing) and S3 (connects on first use)."""
    from app.objects.local import LocalFolderStore
    from app.objects.router import ObjectStores
    from app.objects.s3 import S3ObjectStore

    return ObjectStores(
        local=LocalFolderStore(root=settings.objects_dir),
        s3=S3ObjectStore(options=build_s3_options(settings)),
    )


def own_objects_location(settings: Settings) -> ObjectLocation:
    """Where originmark keeps objects of its own (ORIGINMARK_OBJECTS_URL; default the local folder)."""
    from app.objects.location import parse_object_uri

    if settings.objects_url is None:
        return parse_object_uri(settings.objects_dir.expanduser().absolute().as_uri() + "/")
    return parse_object_uri(settings.objects_url)


# --- the service's limits ---


def build_sign_rate_limiter(settings: Settings) -> RateLimiter:
    """The sign limiter the settings ask for: shared in Redis if a URL is set, else in-process."""
    from app.api.ratelimit import TokenBucketLimiter

    rate, burst = settings.sign_rate_per_second, settings.sign_rate_burst
    if settings.rate_limit_redis_url is None or rate == 0:  # unlimited needs no shared store
        return TokenBucketLimiter(rate_per_second=rate, burst=burst)
    # Imported only when configured: the embedded default needs no Redis client at all.
    from app.api.ratelimit_redis import RedisTokenBucketLimiter

    limiter = RedisTokenBucketLimiter(
        url=settings.rate_limit_redis_url.get_secret_value(), rate_per_second=rate, burst=burst
    )
    log.info("sign rate limit shared through %s", limiter.description)  # no credentials in it
    return limiter


# --- use cases and job runtimes ---


def build_verification(
    store: ServiceStore,
    *,
    settings: Settings,
    worker_pools: WorkerPools,
    objects: ObjectStores | None = None,
    engine: VerificationEngine | None = None,
) -> VerifyAndRecord:
    """Verify and record, with recovery by content from the store's manifest repository (the
    verifier pool fingerprints uploads and validates the kept stores), and keeping verified stores.
    `engine`: makes those engine calls (default: the verifier pool, unbounded; the service passes
    one bounded by its verify limiter)."""
    from app.usecases.verification import StoreKeeping, VerifyAndRecord

    calls: VerificationEngine = worker_pools.verifier if engine is None else engine
    recovery = build_content_recovery(settings, store, calls, objects=objects)
    # Keeping a verified store (keep_manifest): the verifier pool cuts it out and reads it.
    keeping = StoreKeeping(keeper=build_manifest_keeper(settings, store, objects=objects), reader=calls)
    return VerifyAndRecord(
        store=store, trust_fingerprint=worker_pools.trust_fingerprint, recovery=recovery, keeping=keeping
    )


def build_content_recovery(
    settings: Settings, store: ServiceStore, verifier: RecoveryVerifier, *, objects: ObjectStores | None = None
) -> ContentRecovery:
    """Recovery by content from the store's manifest repository; `verifier` (an IsolatedVerifier)
    fingerprints uploads and validates the kept stores in its workers."""
    from app.usecases.recovery import ContentRecovery

    return ContentRecovery(
        keeper=build_manifest_keeper(settings, store, objects=objects), verifier=verifier, spool_dir=settings.spool_dir
    )


def build_manifest_keeper(
    settings: Settings, store: ServiceStore, *, objects: ObjectStores | None = None
) -> ManifestKeeper:
    """What keeps signed manifest stores: the store's repository, and the object store for large ones."""
    from app.usecases.manifest_repository import ManifestKeeper

    return ManifestKeeper(
        repository=store.repository,
        objects=objects if objects is not None else build_object_stores(settings),
        own_objects=own_objects_location(settings),
    )


def build_signing(
    store: ServiceStore,
    *,
    settings: Settings,
    trust_fingerprint: str,
    certificate_fingerprint: str,
    objects: ObjectStores | None = None,
) -> SignAndRecord:
    """`certificate_fingerprint`: the identity active at start-up, recorded when a result names none."""
    from app.usecases.signing import SignAndRecord

    return SignAndRecord(
        store=store,
        keeper=build_manifest_keeper(settings, store, objects=objects),
        trust_fingerprint=trust_fingerprint,
        certificate_fingerprint=lambda: certificate_fingerprint,
    )


def build_renditions(settings: Settings, *, store: ServiceStore, signing: SignAndRecord) -> Renditions:
    """The renditions use case with the configured bound on the original's store: POST /v1/renditions,
    the feed's thumbnails and rendition jobs alike."""
    from app.usecases.renditions import Renditions

    return Renditions(
        store=store, signing=signing, max_upstream_store_bytes=settings.renditions_max_upstream_store_bytes
    )


def build_feed_thumbnails(
    store: ServiceStore, *, settings: Settings, renditions: Renditions, pending: PendingBound | None = None
) -> FeedThumbnails:
    """The feed thumbnails use case on the renditions use case (build_renditions), for the routes
    (app/api/feed_thumbnails.py, `pending`: the process's bound) and the jobs (app/jobs/tasks.py: each
    job makes its own in its thread, bounded by the worker's concurrency) alike."""
    from app.usecases.thumbnails import FeedThumbnails

    return FeedThumbnails(store=store, renditions=renditions, spool_dir=settings.spool_dir, pending=pending)


def build_soft_binding_resolution(
    settings: Settings, store: ServiceStore, *, worker_pools: WorkerPools
) -> SoftBindingResolution:
    """The Soft Binding Resolution API's use case, over the store's manifest repository; uploads are
    fingerprinted by the verifier pool's workers."""
    from app.usecases.soft_binding_resolution import SoftBindingResolution

    return SoftBindingResolution(keeper=build_manifest_keeper(settings, store), fingerprinter=worker_pools.verifier)


def build_job_runtime(settings: Settings, *, store, worker_pools, objects=None) -> JobRuntime:
    """What a job worker runs with: the API's store, worker pools and use cases, and the object stores.

    `store` is an app.store.sql.SqlStore, `worker_pools` an app.worker_pools.WorkerPools
    (`build_worker_pools`); `objects` defaults to the stores the settings describe.
    """
    from app.jobs.runtime import JobRuntime

    objects = objects if objects is not None else build_object_stores(settings)
    signing = build_signing(
        store,
        settings=settings,
        objects=objects,
        trust_fingerprint=worker_pools.trust_fingerprint,
        certificate_fingerprint=worker_pools.certificate_fingerprint,
    )
    return JobRuntime(
        settings=settings,
        store=store,
        objects=objects,
        worker_pools=worker_pools,
        verification=build_verification(store, settings=settings, worker_pools=worker_pools, objects=objects),
        signing=signing,
        renditions=build_renditions(settings, store=store, signing=signing),
    )
