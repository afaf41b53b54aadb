"""`ContentSigner`: attaches Content Credentials to files, file to file, from many threads.

Built once per process (or per service): one c2pa Context and one Signer, shared by every
call — both are safe to share, and the engine releases the GIL while it hashes — plus a
new single-use Builder per call. Construction signs and verifies a probe image and refuses
to return a signer whose output would not verify (signer/probe.py); after that only AI
edits are read back, because the parent's credentials travel into the output
(signer/self_check.py).

A file that already carries Content Credentials keeps them: it becomes the new manifest's
parentOf ingredient (its store and validation results, read by the engine from its bytes), as a
separate parent does, unless the request says `replace_credentials`.

Large media are streamed file to file: originmark never reads an asset into memory; the
engine reads the source and writes the output through file objects. The engine itself
still buffers some containers (measured with c2pa-rs 0.91.3 on 300 MB files): an MP4's
`mdat` is held once (twice with the engine's default 512 MB backing-store threshold,
which signer/engine_settings.py lowers), a WAV's data chunk twice; other boxes and the
engine's working copy go through temp files.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import c2pa

from keys.algorithms import SigningAlgorithm
from keys.signing_key import SigningKey
from signer.credentials_scan import certainly_without_credentials
from signer.engine_errors import redacted_url, translate_engine_error
from signer.engine_settings import credentials_lookup_settings, signing_settings
from signer.errors import (
    DestinationUnwritable,
    ParentCredentialsUnusable,
    PriorCredentialsConflict,
    PriorCredentialsUnusable,
    SidecarUnsupported,
    SignerProbeFailed,
    SigningError,
    SourceUndecodable,
    SourceUnreadable,
    TimeStampUnavailable,
    UnsupportedFormat,
)
from signer.formats import (
    BMFF_FORMATS,
    FINGERPRINTED_FORMATS,
    FINGERPRINTED_VIDEO_FORMATS,
    JPEG,
    SUPPORTED_FORMAT_NAMES,
    MediaFormat,
    detect_format,
)
from signer.jumbf import active_manifest_label
from signer.manifest import (
    UPSTREAM_STORE_RESOURCE,
    DigitalSourceType,
    GenerationRequest,
    PriorCredentials,
    Upstream,
    build_manifest_definition,
    originmark_version,
    parent_ingredient_definition,
    upstream_ingredient_definition,
)
from signer.output import UnchangedAssetSink, atomic_output, write_atomically
from signer.probe import ProbeResult, check_probe_output, describe_signing_failure, probe_image_jpeg
from signer.self_check import OwnOutputReader, chain_anchor_pem
from signer.time_stamping import TimeStampRetries, store_has_time_stamp, with_time_stamp_retries
from verifier.engine_report import CAWG_X509_UNTRUSTED_CODE, HARD_BINDING_MISMATCH_CODES
from verifier.errors import UndecodableImage, UndecodableVideo
from verifier.fingerprint import INDEX_VIEWS, ImageFingerprint, fingerprint_image
from verifier.video_fingerprint import VideoFingerprint, fingerprint_video

_ENGINE_ALGORITHMS = {
    SigningAlgorithm.ES256: c2pa.C2paSigningAlg.ES256,
    SigningAlgorithm.ES384: c2pa.C2paSigningAlg.ES384,
    SigningAlgorithm.ES512: c2pa.C2paSigningAlg.ES512,
    SigningAlgorithm.PS256: c2pa.C2paSigningAlg.PS256,
    SigningAlgorithm.ED25519: c2pa.C2paSigningAlg.ED25519,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerOptions:
    """How a ContentSigner signs; fixed for its lifetime."""

    thumbnails: bool = False  # the engine's thumbnails cost 4-5x the signing time
    time_stamp_url: str | None = None  # RFC 3161 TSA; when set and unreachable, signing fails
    # A failed time-stamp is retried this many times (after the delay, then twice it, ...), then
    # signing fails with TimeStampUnavailable (signer/time_stamping.py). Not at start-up: the probe tries once.
    time_stamp_retries: int = 2
    time_stamp_retry_delay_seconds: float = 1.0
    # BMFF sources (MP4, MOV, M4A, HEIF...) of this many bytes or more are hashed as a Merkle tree
    # over `mdat` (signer/engine_settings.py, MERKLE_LEAF_KB): the engine then never holds two
    # 256 MB hash buffers. None: never. Smaller files keep the plain hash every verifier reads.
    merkle_bmff_from_bytes: int | None = 512 * 1024**2
    # Images (FINGERPRINTED_FORMATS) carry a c2pa.soft-binding assertion with their fingerprint,
    # videos (FINGERPRINTED_VIDEO_FORMATS) one with their key frames'. Off only for the benches'
    # "without the fingerprint" references (softbinding_bench.py, large_video_bench.py).
    soft_binding: bool = True
    # Each signed file (and its folder) is fsynced before sign_file returns, so that it survives a
    # crash; except one written inside this folder: the service's spool (its workers write into a
    # request's or job's spool folder, whose output is streamed or uploaded and deleted at once, so
    # there an fsync is only a wait). Decided per destination, not per signer: a caller that writes
    # anywhere else (a file the user keeps) cannot lose the crash-durability by sharing the signer.
    scratch_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.time_stamp_url is not None and not self.time_stamp_url.startswith(("http://", "https://")):
            raise SigningError(
                f"the time-stamping authority URL {redacted_url(self.time_stamp_url)!r} is not an http:// or "
                "https:// URL"
            )
        try:
            self.time_stamp_retry_policy()
        except ValueError as error:
            raise SigningError(str(error)) from error

    def is_scratch(self, destination: Path) -> bool:
        """Whether `destination` is inside `scratch_dir` (its real path: no `..` or link leads out)."""
        if self.scratch_dir is None:
            return False
        folder = os.path.realpath(self.scratch_dir)
        return os.path.commonpath([folder, os.path.realpath(destination)]) == folder

    def time_stamp_retry_policy(self) -> TimeStampRetries:
        return TimeStampRetries(retries=self.time_stamp_retries, delay_seconds=self.time_stamp_retry_delay_seconds)


# What the engine raises about the file's container rather than a manifest store in it ("asset could
# not be parsed", an I/O error, a variant it does not read): no credentials were found.
_CONTAINER_ERRORS = (
    c2pa.C2paError.Other,
    c2pa.C2paError.Io,
    c2pa.C2paError.NotSupported,
    c2pa.C2paError.FileNotFound,
    c2pa.C2paError.ManifestNotFound,
)

# Failure codes that say only that an identity carried in from a parent (a CAWG X.509 identity
# assertion) chains to no anchor we configured: the engine reports them among the new manifest's
# failures and calls the output Valid, not Invalid. Such an output verifies (a verifier shows it
# "unrecognized"); it is not refused like one the parent's defects would break.
TRUST_ONLY_FAILURE_CODES = frozenset({CAWG_X509_UNTRUSTED_CODE})


@dataclass(frozen=True, slots=True, kw_only=True)
class SignResult:
    """One signed file."""

    source: Path
    destination: Path  # the signed asset, or the .c2pa sidecar when `sidecar`
    format: MediaFormat  # of the source, from its bytes
    manifest_label: str | None  # the active manifest's label (urn:c2pa:...)
    sidecar: bool
    digital_source_type: DigitalSourceType
    parent: Path | None
    bytes_written: int  # size of `destination`
    manifest_bytes: int  # size of the manifest store
    elapsed_seconds: float
    # SHA-256 (hex) of the signing certificate this file was signed with: with several signing
    # identities (key rotation) the one actually used, for the audit log.
    certificate_fingerprint: str | None = None
    # The manifest store (JUMBF) as the engine embedded it (Builder.sign returns it): what the
    # manifest repository keeps, without reading the output again.
    manifest_store: bytes = field(default=b"", repr=False)
    # The fingerprint written in the c2pa.soft-binding assertion, an image's or a video's (its key
    # frames and Video-Code), for the manifest repository, which keeps each picture's descriptor
    # (None: a format that is not fingerprinted, a video not decoded within the bounds, or
    # SignerOptions.soft_binding off).
    soft_binding: ImageFingerprint | VideoFingerprint | None = None
    prior_credentials: PriorCredentials = PriorCredentials.NONE
    # REPLACED: the label of the active manifest of the credentials dropped (for the audit log);
    # None otherwise, or when the dropped store names none readable (MAX_REPLACED_LABEL at most).
    replaced_manifest_label: str | None = None


# Longer labels are not recorded (the audit entry's input SHA-256 still names the file): a label
# is text from the upload, and a real one (urn:c2pa:UUID plus generator info) is far shorter.
MAX_REPLACED_LABEL = 512


@dataclass(frozen=True, slots=True, kw_only=True)
class _Source:
    """The file to sign, examined once per call (not per time-stamp retry): its format from its
    bytes and, for an image or a video, the fingerprint for its c2pa.soft-binding assertion.

    An image in a fingerprinted format whose pixels cannot be decoded is refused rather than
    signed without a fingerprint: the engine only parses the container, so it would sign a file
    no viewer can show, whose credential could never be found again by content. The refusal
    waits until the engine has tried: a file the engine cannot sign either keeps the engine's error.
    A video whose key frames cannot be fingerprinted within the bounds is signed without a soft
    binding instead: FFmpeg does not decode every codec a container may hold, and the bounds
    (frame size, time) are ours, not a sign that the file is broken.
    """

    path: Path
    media_format: MediaFormat
    fingerprint: ImageFingerprint | None
    video: VideoFingerprint | None = None
    refusal: SourceUndecodable | None
    started: float  # perf_counter() when the call began
    carries_credentials: bool = False  # it has a manifest store of its own (ContentSigner._carries_credentials)

    def refuse_if_undecodable(self) -> None:
        if self.refusal is not None:
            raise self.refusal

    def prior_credentials(self, request: GenerationRequest) -> PriorCredentials:
        """What this call does with the credentials the file carries (PriorCredentialsConflict: it
        carries some, a separate parent is named, and replacing them was not asked for)."""
        if not self.carries_credentials:
            return PriorCredentials.NONE
        if request.replace_credentials:
            return PriorCredentials.REPLACED
        if request.rendition_of is not None:
            raise PriorCredentialsConflict(
                f"{self.path.name} carries Content Credentials of its own, and a rendition's only history is its "
                "original's: send the rendition without embedded credentials (nothing was written)"
            )
        if request.parent is not None:
            raise PriorCredentialsConflict(
                f"{self.path.name} carries Content Credentials of its own and a separate parent was named: "
                "sign it without the parent to keep its credentials as the parent ingredient, or drop them "
                "explicitly (replace_credentials=true, or --replace-credentials, if your signing policy allows it); "
                "nothing was written"
            )
        return PriorCredentials.KEPT


class ContentSigner:
    """Signs files with one signing key; thread-safe; raises SigningError subclasses only."""

    def __init__(self, *, signing_key: SigningKey, options: SignerOptions) -> None:
        self._options = options
        self._certificate_fingerprint = signing_key.certificate_fingerprint
        self._originmark_version = originmark_version()
        anchor_pem, anchor_is_issuer = chain_anchor_pem(signing_key.chain_pem)
        self._own_output = OwnOutputReader(chain_pem=signing_key.chain_pem)
        try:
            algorithm = _ENGINE_ALGORITHMS[SigningAlgorithm(signing_key.algorithm)]
            self._signer = c2pa.Signer.from_callback(
                self._signature_callback(signing_key), algorithm, signing_key.chain_pem, options.time_stamp_url
            )
            local_anchors = anchor_pem if anchor_is_issuer else None
            self._context = c2pa.Context.from_dict(
                signing_settings(thumbnails=options.thumbnails, local_anchors_pem=local_anchors)
            )
            self._lookup_context = c2pa.Context.from_dict(credentials_lookup_settings())
            self._merkle_context = None
            if options.merkle_bmff_from_bytes is not None:
                self._merkle_context = c2pa.Context.from_dict(
                    signing_settings(thumbnails=options.thumbnails, local_anchors_pem=local_anchors, merkle_bmff=True)
                )
        except c2pa.C2paError as error:
            raise SignerProbeFailed(f"the C2PA engine refused the signing credentials: {error}") from error
        self.probe: ProbeResult = self._run_probe()

    @property
    def options(self) -> SignerOptions:
        return self._options

    def _signature_callback(self, signing_key: SigningKey) -> Callable[[bytes], bytes]:
        """`signing_key.sign` for the engine, remembering (per thread) why a key backend failed.

        The engine calls back on the signing thread and turns any exception into "COSE signature
        invalid"; `_sign` uses what was remembered to report an HSM or KMS outage as such.
        """
        self._key_failures = threading.local()

        def sign(data: bytes) -> bytes:
            try:
                return signing_key.sign(data)
            except Exception as error:
                self._key_failures.error = error
                raise

        return sign

    def sign_file(self, *, source: Path, destination: Path, request: GenerationRequest) -> SignResult:
        """Write `source` with Content Credentials embedded to `destination` (replaced atomically).

        Credentials `source` already carries are kept as the output's parentOf ingredient, unless
        `request.replace_credentials` (SignResult.prior_credentials says which)."""
        examined = self._examine(source)  # once, whatever the time-stamp retries
        return self._retrying_time_stamps(
            lambda: self._sign_file_once(examined, destination=destination, request=request)
        )

    def sign_sidecar(self, *, source: Path, sidecar: Path, request: GenerationRequest) -> SignResult:
        """Write a `.c2pa` manifest store for `source` to `sidecar`; `source` is left untouched."""
        examined = self._examine(source)
        return self._retrying_time_stamps(lambda: self._sign_sidecar_once(examined, sidecar=sidecar, request=request))

    def _examine(self, source: Path) -> _Source:
        """The source's format and the fingerprint of its own pixels (or why this image will be refused)."""
        started = time.perf_counter()
        media_format = detect_format(source)
        carries = self._carries_credentials(source, media_format)
        if self._options.soft_binding and media_format in FINGERPRINTED_VIDEO_FORMATS:
            try:
                video = fingerprint_video(source)  # reads by seeking: a few key frames, not the whole file
            except UndecodableVideo:
                video = None
            return _Source(
                path=source,
                media_format=media_format,
                fingerprint=None,
                video=video,
                refusal=None,
                started=started,
                carries_credentials=carries,
            )
        if not self._options.soft_binding or media_format not in FINGERPRINTED_FORMATS:
            return _Source(
                path=source,
                media_format=media_format,
                fingerprint=None,
                refusal=None,
                started=started,
                carries_credentials=carries,
            )
        try:
            # With the centre crops the repository indexes beside the code (never written in the manifest).
            fingerprint = fingerprint_image(source, views=INDEX_VIEWS)
            return _Source(
                path=source,
                media_format=media_format,
                fingerprint=fingerprint,
                refusal=None,
                started=started,
                carries_credentials=carries,
            )
        except UndecodableImage as error:
            refusal = SourceUndecodable(
                f"{source.name} is a {media_format.name} file whose image cannot be decoded ({error}), and "
                "originmark fingerprints every image it signs so that its credentials can be found again by "
                "content: its structure is probably malformed: re-encode it and retry (nothing was written)"
            )
            refusal.__cause__ = error
            return _Source(
                path=source,
                media_format=media_format,
                fingerprint=None,
                refusal=refusal,
                started=started,
                carries_credentials=carries,
            )

    def _carries_credentials(self, source: Path, media_format: MediaFormat) -> bool:
        """Whether `source` has a manifest store of its own (looked at, not validated: the engine
        validates it when it becomes the parentOf ingredient). A store the engine cannot even parse
        counts as credentials too: they are never dropped without being asked to. A container the
        engine cannot parse is left to the signing call, which reports it as before.

        A JPEG whose headers certainly hold none (signer/credentials_scan.py) is not given to the
        engine: its Reader reads the whole file through Python callbacks, 2-5 ms CPU on a 3 MB photo."""
        if certainly_without_credentials(source, media_format):
            return False
        with _open_source(source) as stream:
            try:
                reader = c2pa.Reader.try_create(media_format.mime, stream, context=self._lookup_context)
            except _CONTAINER_ERRORS:
                return False
            except c2pa.C2paError:
                return True
        if reader is None:
            return False
        reader.close()
        return True

    def _replaced_manifest_label(self, source: Path, media_format: MediaFormat) -> str | None:
        """The active manifest's label of the credentials a replacement drops, for the audit log.

        Read only when replacing (one more look at the store, ~2 ms, on a rare path the operator
        granted), after signing: None when the store names no readable label."""
        with _open_source(source) as stream:
            try:
                reader = c2pa.Reader.try_create(media_format.mime, stream, context=self._lookup_context)
                if reader is None:
                    return None
                try:
                    store = json.loads(reader.json())
                finally:
                    reader.close()
            except (c2pa.C2paError, ValueError):
                return None
        label = store.get("active_manifest") if isinstance(store, dict) else None
        return label if isinstance(label, str) and 0 < len(label) <= MAX_REPLACED_LABEL else None

    def _retrying_time_stamps(self, attempt: Callable[[], SignResult]) -> SignResult:
        # A builder is single-use and a failed attempt's output is discarded (atomic_output):
        # each retry is a whole new signature.
        if self._options.time_stamp_url is None:
            return attempt()
        return with_time_stamp_retries(attempt, retries=self._options.time_stamp_retry_policy())

    def _sign_file_once(self, examined: _Source, *, destination: Path, request: GenerationRequest) -> SignResult:
        source, media_format = examined.path, examined.media_format
        refuse_overwriting_source(source, destination)
        prior = examined.prior_credentials(request)
        with (
            _open_source(source) as source_stream,
            self._builder_for(
                request,
                default_title=destination.name,
                context=self._context_for(source, media_format),
                fingerprint=examined.fingerprint or examined.video,
                kept_source=examined if prior is PriorCredentials.KEPT else None,
            ) as builder,
            atomic_output(destination, durable=not self._options.is_scratch(destination)) as output,
        ):
            manifest = self._sign(builder, media_format, source_stream, output, subject=source.name)
            examined.refuse_if_undecodable()  # after the engine, whose refusal of a broken file comes first
            upstream = request.rendition_of
            if upstream is not None and upstream.manifest_store is not None:
                self._check_edit(output, media_format=media_format, parent=Path(upstream.title))
            elif request.parent is not None:
                self._check_edit(output, media_format=media_format, parent=request.parent)
            elif prior is PriorCredentials.KEPT:
                self._check_edit(output, media_format=media_format, parent=source, own=True)
        return self._result(
            source=source,
            destination=destination,
            media_format=media_format,
            manifest=manifest,
            sidecar=False,
            request=request,
            started=examined.started,
            fingerprint=examined.fingerprint or examined.video,
            prior=prior,
        )

    def _sign_sidecar_once(self, examined: _Source, *, sidecar: Path, request: GenerationRequest) -> SignResult:
        source, media_format = examined.path, examined.media_format
        refuse_overwriting_source(source, sidecar)
        prior = examined.prior_credentials(request)
        with (
            _open_source(source) as source_stream,
            _open_source(source) as comparison_stream,
            self._builder_for(
                request,
                default_title=source.name,
                context=self._context_for(source, media_format),
                fingerprint=examined.fingerprint or examined.video,
                kept_source=examined if prior is PriorCredentials.KEPT else None,
            ) as builder,
        ):
            builder.set_no_embed()
            sink = UnchangedAssetSink(comparison_stream, source_size=os.fstat(comparison_stream.fileno()).st_size)
            manifest = self._sign(builder, media_format, source_stream, sink, subject=source.name)
            examined.refuse_if_undecodable()
            if sink.asset_unchanged and request.parent is not None:
                self._check_edit(source_stream, media_format=media_format, parent=request.parent, manifest=manifest)
            elif sink.asset_unchanged and prior is PriorCredentials.KEPT:
                self._check_edit(source_stream, media_format=media_format, parent=source, manifest=manifest, own=True)
        if not sink.asset_unchanged:
            raise SidecarUnsupported(
                f"the C2PA engine has to rewrite {source.name} ({media_format.name}) to sign it, so a sidecar "
                "would not match the untouched file; sign it embedded instead (without --sidecar)"
            )
        write_atomically(sidecar, manifest)
        return self._result(
            source=source,
            destination=sidecar,
            media_format=media_format,
            manifest=manifest,
            sidecar=True,
            request=request,
            started=examined.started,
            fingerprint=examined.fingerprint or examined.video,
            prior=prior,
        )

    def close(self) -> None:
        """Release the engine resources (also released when garbage-collected)."""
        self._context.close()
        self._lookup_context.close()
        if self._merkle_context is not None:
            self._merkle_context.close()
        self._signer.close()
        self._own_output.close()

    def _context_for(self, source: Path, media_format: MediaFormat) -> c2pa.Context:
        """The Merkle-hashing context for a large BMFF source (SignerOptions.merkle_bmff_from_bytes)."""
        threshold = self._options.merkle_bmff_from_bytes
        if self._merkle_context is None or threshold is None or media_format not in BMFF_FORMATS:
            return self._context
        return self._merkle_context if source.stat().st_size >= threshold else self._context

    def _builder_for(
        self,
        request: GenerationRequest,
        *,
        default_title: str,
        context: c2pa.Context | None = None,
        fingerprint: ImageFingerprint | VideoFingerprint | None = None,
        kept_source: _Source | None = None,
    ) -> c2pa.Builder:
        """`kept_source`: the file being signed, whose own credentials become the parentOf ingredient."""
        definition = build_manifest_definition(
            request,
            default_title=default_title,
            originmark_version=self._originmark_version,
            fingerprint=fingerprint,
            opens_source=kept_source is not None,
        )
        upstream = request.rendition_of
        if upstream is not None:
            definition["ingredients"] = [self._upstream_ingredient(upstream)]
        try:
            builder = c2pa.Builder(definition, context=context or self._context)
        except c2pa.C2paError as error:
            raise self._translate(error, subject="the manifest definition") from error
        try:
            if upstream is not None and upstream.manifest_store is not None:
                builder.add_resource(UPSTREAM_STORE_RESOURCE, io.BytesIO(upstream.manifest_store))
            elif request.parent is not None:
                self._add_parent(builder, request.parent)
            elif kept_source is not None:
                self._add_own_credentials(builder, kept_source, title=request.title or default_title)
        except BaseException:
            builder.close()
            raise
        return builder

    def _upstream_ingredient(self, upstream: Upstream) -> dict[str, Any]:
        """A rendition's parentOf ingredient (signer/manifest.upstream_ingredient_definition), with the
        validation results of its original's kept store as this signer's engine finds them (the same
        context, so the same trust, as for a file whose credentials are kept: `_add_own_credentials`).

        The store is read apart from its asset, so the engine also reports that the hard binding does
        not match (HARD_BINDING_MISMATCH_CODES): those entries, and only those, are left out. The
        binding was checked on the original's own bytes when its verdict was stored, which the use
        case requires to be trusted or valid (app/usecases/renditions.py); every other outcome, a
        failure included, is recorded as the engine gives it (and a failure makes `_check_edit`
        refuse the output, as for any parent)."""
        store = upstream.manifest_store
        if store is None:
            return upstream_ingredient_definition(upstream, active_manifest=None, validation_results=None)
        try:
            with c2pa.Reader("application/c2pa", io.BytesIO(store), context=self._context) as reader:
                report = json.loads(reader.json())
        except (c2pa.C2paError, ValueError) as error:
            raise ParentCredentialsUnusable(
                f"the kept manifest store of {upstream.title} cannot be read by the C2PA engine ({error}); "
                "nothing was written",
                engine_message=str(error),
            ) from error
        results = report.get("validation_results")
        if not isinstance(results, dict) or not isinstance(results.get("activeManifest"), dict):
            raise ParentCredentialsUnusable(
                f"the C2PA engine gave no validation results for the kept manifest store of {upstream.title}; "
                "nothing was written"
            )
        active = dict(results["activeManifest"])
        active["failure"] = [
            entry
            for entry in active.get("failure") or []
            if not (isinstance(entry, dict) and entry.get("code") in HARD_BINDING_MISMATCH_CODES)
        ]
        results = {**results, "activeManifest": active}
        return upstream_ingredient_definition(
            upstream, active_manifest=active_manifest_label(store), validation_results=results
        )

    def _add_own_credentials(self, builder: c2pa.Builder, source: _Source, *, title: str) -> None:
        """The file being signed as its own parentOf ingredient: the engine reads its manifest store
        and records it with its validation results (a broken one as broken, never as clean)."""
        with _open_source(source.path) as stream:
            try:
                builder.add_ingredient(
                    parent_ingredient_definition(source.path, title=title), source.media_format.mime, stream
                )
            except c2pa.C2paError as error:
                raise PriorCredentialsUnusable(
                    f"{source.path.name} carries Content Credentials the C2PA engine cannot record "
                    f"({self._translate(error, subject=source.path.name)}); nothing was written. They are never "
                    "dropped silently: sign a copy without them, or drop them explicitly (replace_credentials=true, or "
                    "--replace-credentials, "
                    "if your signing policy allows it)",
                    engine_message=str(error),
                ) from error

    def _add_parent(self, builder: c2pa.Builder, parent: Path) -> None:
        subject = f"the parent {parent.name}"
        try:
            parent_format = detect_format(parent)
        except UnsupportedFormat as error:
            raise error.about(subject) from error
        except SourceUnreadable as error:
            raise SourceUnreadable(f"{subject}: {error}") from error
        with _open_source(parent, subject=subject) as parent_stream:
            try:
                # The engine reads the parent's own manifest store (when it has one) from
                # its bytes and keeps it, with its validation results, in the ingredient.
                builder.add_ingredient(parent_ingredient_definition(parent), parent_format.mime, parent_stream)
            except c2pa.C2paError as error:
                raise self._translate(error, subject=subject) from error

    def _sign(
        self,
        builder: c2pa.Builder,
        media_format: MediaFormat,
        source: BinaryIO,
        output: BinaryIO | UnchangedAssetSink,
        *,
        subject: str,
    ) -> bytes:
        try:
            manifest: bytes = builder.sign(self._signer, media_format.mime, source, output)  # closes the builder
        except c2pa.C2paError as error:
            backend_failure = getattr(self._key_failures, "error", None)
            if backend_failure is not None:
                self._key_failures.error = None
                # The key's backend (HSM, KMS) failed, not the file: the engine only says "COSE signature invalid".
                raise SignerProbeFailed(
                    f"the signing key could not sign {subject}: {backend_failure}", engine_message=str(error)
                ) from error
            raise self._translate(error, subject=subject) from error
        if self._options.time_stamp_url is not None and not store_has_time_stamp(manifest):
            # The engine fails rather than fall back (measured, signer/time_stamping.py); should a
            # later one not, an untimestamped credential is refused here, before it is kept.
            authority = redacted_url(self._options.time_stamp_url)
            raise TimeStampUnavailable(
                f"the C2PA engine signed {subject} without a time-stamp from {authority}; the output was "
                "discarded (a credential without its time-stamp stops verifying when the signing certificate expires)"
            )
        return manifest

    def _check_edit(
        self,
        output: BinaryIO,
        *,
        media_format: MediaFormat,
        parent: Path,
        manifest: bytes | None = None,
        own: bool = False,
    ) -> None:
        """Refuse an edit whose output would not verify because of what the parent carried.

        Costs one read of the output, paid only for edits (the engine copies the parent's
        manifest store into the output, defects included). `own`: the parent is the file being
        signed itself (its own credentials kept), and the refusal says so.
        """
        error_class = PriorCredentialsUnusable if own else ParentCredentialsUnusable
        try:
            report = self._own_output.read(output, mime=media_format.mime, manifest_data=manifest)
        except c2pa.C2paError as error:
            raise error_class(
                f"the edit of {parent.name} could not be read back: {error}", engine_message=str(error)
            ) from error
        codes = tuple(dict.fromkeys(report.failure_codes))
        trust_only = bool(codes) and set(codes) <= TRUST_ONLY_FAILURE_CODES and report.state == "Valid"
        if (report.state != self._own_output.expected_state or codes) and not trust_only:
            shown = ", ".join(codes) or "no failure code"
            if own:
                raise PriorCredentialsUnusable(
                    f"{parent.name} carries Content Credentials that, kept as its parent ingredient, would make the "
                    f"signed file fail validation ({report.state}: {shown}); nothing was written. They are never "
                    "dropped silently: sign a copy without them, or drop them explicitly (replace_credentials=true, or "
                    "--replace-credentials, "
                    "if your signing policy allows it)"
                )
            raise ParentCredentialsUnusable(
                f"the parent {parent.name} carries Content Credentials that would make this edit fail validation "
                f"({report.state}: {shown}); use a copy of the parent without credentials, or one whose "
                "credentials verify"
            )

    def _translate(self, error: Exception, *, subject: str) -> SigningError:
        return translate_engine_error(
            error, subject=subject, time_stamp_url=self._options.time_stamp_url, supported=SUPPORTED_FORMAT_NAMES
        )

    def _run_probe(self) -> ProbeResult:
        started = time.perf_counter()
        request = GenerationRequest(generator_name="originmark start-up probe")
        output = io.BytesIO()
        probe = probe_image_jpeg()
        # With the soft binding an image gets, so that the probe's output is shaped like every image's.
        fingerprint = fingerprint_image(probe) if self._options.soft_binding else None
        try:
            with self._builder_for(request, default_title="probe.jpg", fingerprint=fingerprint) as builder:
                self._sign(builder, JPEG, io.BytesIO(probe), output, subject="the start-up probe image")
        except (SignerProbeFailed, TimeStampUnavailable):
            raise
        except SigningError as error:
            raise SignerProbeFailed(describe_signing_failure(error.engine_message or str(error))) from error
        return check_probe_output(
            signed=output.getvalue(),
            reader=self._own_output,
            thumbnails=self._options.thumbnails,
            elapsed_seconds=time.perf_counter() - started,
        )

    def _result(
        self,
        *,
        source: Path,
        destination: Path,
        media_format: MediaFormat,
        manifest: bytes,
        sidecar: bool,
        request: GenerationRequest,
        started: float,
        fingerprint: ImageFingerprint | VideoFingerprint | None,
        prior: PriorCredentials = PriorCredentials.NONE,
    ) -> SignResult:
        return SignResult(
            source=source,
            destination=destination,
            format=media_format,
            manifest_label=active_manifest_label(manifest),
            sidecar=sidecar,
            digital_source_type=request.effective_source_type,
            parent=request.parent,
            bytes_written=destination.stat().st_size,
            manifest_bytes=len(manifest),
            elapsed_seconds=time.perf_counter() - started,
            certificate_fingerprint=self._certificate_fingerprint,
            manifest_store=manifest,
            soft_binding=fingerprint,
            prior_credentials=prior,
            replaced_manifest_label=(
                self._replaced_manifest_label(source, media_format) if prior is PriorCredentials.REPLACED else None
            ),
        )


def _open_source(path: Path, *, subject: str | None = None) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as error:
        prefix = f"{subject}: " if subject else ""
        raise SourceUnreadable(f"{prefix}cannot read it: {error.strerror or error}") from error


def refuse_overwriting_source(source: Path, destination: Path) -> None:
    """Raise DestinationUnwritable when `destination` is `source` itself (also used by signer/isolation.py)."""
    try:
        same = destination.exists() and os.path.samefile(source, destination)
    except OSError:
        same = False
    if same:
        raise DestinationUnwritable(
            f"{destination} is the source file itself; originmark never overwrites an original: "
            "choose another output folder"
        )
