"""Read an asset's Content Credentials under a trust policy and return a `Verdict`.

`Verifier` holds ONE engine `Context` built from the policy (a Context is safe to
share across threads; a Reader is not, so each call makes its own). It never
raises for a bad asset: whatever the bytes are, the answer is a verdict.

This runs the engine in the calling process with no bound on memory or time;
anything that faces the public goes through `verifier.isolation.IsolatedVerifier`,
which runs this same code in worker processes with both bounds.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Callable
from io import BufferedReader
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypedDict

import c2pa

from verifier import engine_report as report_parts
from verifier.embedded_store import sole_manifest_store
from verifier.errors import EngineSettingsError
from verifier.hostile_text import clean_text
from verifier.media_type import SNIFF_BYTES, sniff_media_type
from verifier.precheck import check_digest, precheck_file, unreadable_verdict
from verifier.remote_manifest import (
    NO_REMOTE_FETCH,
    RemoteManifestPolicy,
    RemoteManifestUnavailable,
    remote_manifest_url,
)
from verifier.time_stamp_token import TimeStampTokens
from verifier.trust import CertificateFacts, TrustPolicy
from verifier.verdict import IngredientSummary, Verdict, VerdictError, VerdictState

_HASH_CHUNK = 256 * 1024
_REMOTE_MARKER = "must fetch remote manifests"

# Human words for the failure codes users meet most; others are shown as the engine explains them.
_FAILURE_WORDS = {
    "assertion.dataHash.mismatch": "the content was changed after it was signed",
    "assertion.bmffHash.mismatch": "the media was changed after it was signed",
    "assertion.boxesHash.mismatch": "the content was changed after it was signed",
    "assertion.hashedURI.mismatch": "a statement in the credentials was altered after signing",
    "claimSignature.mismatch": "the signature does not match the signed claim",
    "signingCredential.invalid": "the signing certificate is not acceptable for signing credentials",
    # Without a trusted time-stamp the engine checks the certificate against today, so this also
    # means "expired since, and nothing proves it signed in time" (tests/verifier/test_time_stamps.py).
    "signingCredential.expired": (
        "the signing certificate is expired, and no trusted time-stamp shows it signed while it was valid"
    ),
    "signingCredential.revoked": "the signing certificate was revoked",
    "ingredient.manifest.missing": "an ingredient's credentials are missing from the file",
    "claim.malformed": "the credentials are malformed",
    "timeStamp.mismatch": "the time-stamp does not match the signature",
}


def engine_version() -> str:
    """The engine's version, as stored with every verdict."""
    try:
        binding = importlib.metadata.version("c2pa-python")
    except importlib.metadata.PackageNotFoundError:
        binding = "unknown"
    return f"c2pa-rs {c2pa.sdk_version()} (c2pa-python {binding})"


class Verifier:
    """Verifies assets in this process with one shared engine context."""

    def __init__(self, *, policy: TrustPolicy, remote_manifests: RemoteManifestPolicy = NO_REMOTE_FETCH) -> None:
        """`remote_manifests`: the hosts whose remote manifests may be fetched (default: none)."""
        self._policy = policy
        self._remote_manifests = remote_manifests
        try:
            self._context = c2pa.Context.from_dict(policy.engine_settings())
        except c2pa.C2paError as error:
            raise EngineSettingsError(f"the C2PA engine rejected the trust settings: {error}") from error
        self._engine_version = engine_version()

    @property
    def policy(self) -> TrustPolicy:
        return self._policy

    @property
    def engine_version(self) -> str:
        return self._engine_version

    def verify_file(
        self,
        path: Path,
        *,
        known_sha256: str | None = None,
        wrap_stream: Callable[[BufferedReader], ClosingStream] | None = None,
        detached_store: bool = False,
    ) -> Verdict:
        """Verify the file at `path`; every problem with the file is a verdict.

        `known_sha256`: see `verify_stream`. `wrap_stream`: what the engine reads the opened file
        through (a verifier worker paces the engine's reads: verifier/hash_pacing.py); it
        closes the file when it is closed. `detached_store`: see `verify_stream`.
        """
        checked = precheck_file(path, engine_version=self._engine_version)
        if isinstance(checked, Verdict):
            return checked
        try:
            stream = open(path, "rb")  # closed below, after the engine is done
        except OSError as error:
            return unreadable_verdict(error, size=checked, engine_version=self._engine_version)
        opened: ClosingStream = stream if wrap_stream is None else wrap_stream(stream)
        with opened as readable:
            return self.verify_stream(readable, size=checked, known_sha256=known_sha256, detached_store=detached_store)

    def verify_stream(
        self,
        stream: ReadableStream,
        *,
        size: int | None = None,
        known_sha256: str | None = None,
        detached_store: bool = False,
    ) -> Verdict:
        """Verify a whole seekable binary stream, from its first byte whatever its position.

        (The engine reads containers by absolute offset, so a stream is always read from
        the start; a just-written upload need not be rewound by the caller.) `size`, when
        given, is what the caller expects (e.g. a Content-Length); the verdict reports the
        bytes actually read and hashed.

        `known_sha256`: the stream's SHA-256 (hex) when the caller already has it — the
        service hashes an upload while receiving it — so the bytes are not read and hashed
        a second time (1.5 ms of a 3 MB JPEG's ~5 ms). The caller vouches for it; the
        verdict's `size` is then the stream's length.

        `detached_store`: the stream is a manifest store kept apart from its asset (the manifest
        repository's, validated again for a file found by content match). Its hard binding cannot
        match (no asset bytes), so the state is what every other check says
        (`engine_report.detached_store_state`); the mismatch stays among the failure codes.
        """
        if known_sha256 is not None:
            check_digest(known_sha256)  # a caller's bug, not the file's: raises
        try:
            stream.seek(0)
            if known_sha256 is None:
                digest, counted, head = _hash_stream(stream)
            else:
                digest, head = known_sha256, stream.read(SNIFF_BYTES)
                counted = stream.seek(0, os.SEEK_END)
            stream.seek(0)
        except (OSError, ValueError) as error:
            return unreadable_verdict(error, size=size or 0, engine_version=self._engine_version)
        media_type = sniff_media_type(head)
        base: _VerdictBase = {
            "sha256": digest,
            "size": counted,
            "engine_version": self._engine_version,
            "format": media_type,
        }
        if counted == 0:
            return Verdict(
                state=VerdictState.ERROR,
                reason="empty file: there is nothing to verify",
                error_code=VerdictError.UNREADABLE,
                **base,
            )
        try:
            reader, remote_store = self._open_reader(media_type, stream)
        except RemoteManifestUnavailable as error:
            return Verdict(state=VerdictState.ERROR, reason=str(error), error_code=VerdictError.REMOTE_MANIFEST, **base)
        except c2pa.C2paError as error:
            return _engine_error_verdict(error, media_type, base)
        except MemoryError:
            raise  # the isolated verifier reports it and starts a clean worker
        except Exception as error:  # noqa: BLE001 - the binding's own failures are verdicts too
            reason = f"the engine failed on this file: {clean_text(str(error), limit=500)}"
            return Verdict(state=VerdictState.ERROR, reason=reason, error_code=VerdictError.MALFORMED, **base)
        if reader is None:
            return Verdict(state=VerdictState.NONE, reason="no Content Credentials found in the file", **base)
        store = _StoreBytes(stream, media_type, counted, remote_store)
        try:
            return self._verdict_from_reader(reader, base, store, detached_store=detached_store)
        except c2pa.C2paError as error:
            return _engine_error_verdict(error, media_type, base)
        finally:
            reader.close()

    def _open_reader(self, media_type: str | None, stream: ReadableStream) -> tuple[c2pa.Reader | None, bytes | None]:
        """The engine's Reader, and the manifest store we fetched for it (None: the file's own).

        For a remote manifest on an allowlisted host, fetched by us: the engine never fetches
        (its remote fetch is off): when it refuses to, it names the URL, and only an allowlisted
        one is fetched, once, within the policy's bounds (see verifier/remote_manifest.py).
        Raises C2paError or RemoteManifestUnavailable.
        """
        try:
            return c2pa.Reader.try_create(media_type, stream, context=self._context), None
        except c2pa.C2paError as error:
            url = remote_manifest_url(getattr(error, "message", None) or str(error))
            if url is None or not self._remote_manifests.allows(url):
                raise
            try:
                manifest = self._remote_manifests.fetch(url)
            except RemoteManifestUnavailable as failure:
                raise RemoteManifestUnavailable(
                    f"the credentials are stored remotely ({clean_text(url, limit=300)}, an allowlisted host) "
                    f"but could not be fetched: {failure}"
                ) from None
        stream.seek(0)
        return c2pa.Reader.try_create(media_type, stream, manifest_data=manifest, context=self._context), manifest

    def _verdict_from_reader(
        self, reader: c2pa.Reader, base: _VerdictBase, store: _StoreBytes, *, detached_store: bool = False
    ) -> Verdict:
        """The verdict from one parse of the engine's report: state, trust and time-stamp
        attribution, manifest summaries and failure codes all come from the same structure
        (`engine_report.log_facts` walks the validation log once). The engine's crJSON (about a
        fifth of a read, issue 16) is asked for only what neither the report nor the store's own
        bytes say (verifier/time_stamp_token.py)."""
        try:
            report = json.loads(reader.json())
        except (ValueError, RecursionError) as error:
            reason = f"the engine's report could not be read: {error}"
            return Verdict(state=VerdictState.ERROR, reason=reason, error_code=VerdictError.INTERNAL, **base)
        if not isinstance(report, dict):
            reason = "the engine's report is not an object"
            return Verdict(state=VerdictState.ERROR, reason=reason, error_code=VerdictError.INTERNAL, **base)
        state = report_parts.validation_state(report) or _state_from_engine(reader)
        log = report_parts.ValidationLog.of(report)
        facts = report_parts.log_facts(log)
        active_entries = list(log.active)
        if detached_store:
            state = report_parts.detached_store_state(state, active_entries)

        crjson = _CrJson(reader)
        real_labels = facts.assertion_labels
        if not report_parts.assertion_labels_cover_report(report, real_labels):
            real_labels = report_parts.assertion_labels_from_crjson(crjson.parsed()) or real_labels

        def time_stamp_list(manifest_label: str, found: report_parts.TimeStampFindings) -> str | None:
            # The authority's certificate only when the engine's words do not name a TSA list:
            # from the store's bytes when they have one reading, else from crJSON.
            explanation = found.trusted_explanation
            authority = None
            if self._policy.needs_time_stamp_authority(explanation):
                authority = store.time_stamp_authority(manifest_label, found.authority)
                if authority is None:
                    authority = report_parts.time_stamp_authority_from_crjson(crjson.parsed(), manifest_label)
            return self._policy.attribute_time_stamp(authority=authority, engine_explanation=explanation)

        manifests = report_parts.manifest_summaries(
            report, log=log, real_labels=real_labels, time_stamp_list=time_stamp_list, facts=facts
        )
        active = manifests[0] if manifests and manifests[0].label == report.get("active_manifest") else None

        trust_list = None
        tsa_only_signer = None
        if state is VerdictState.TRUSTED:
            explanation = report_parts.trusted_explanation(active_entries)
            active_manifest_label = report.get("active_manifest")
            certificate = (
                report_parts.certificate_facts_from_crjson(crjson.parsed(), active_manifest_label)
                if isinstance(active_manifest_label, str) and self._policy.needs_certificate(explanation)
                else None
            )
            trust_list = self._policy.attribute_signer(certificate=certificate, engine_explanation=explanation)
            if trust_list is not None and not self._policy.vouches_for_signers(trust_list):
                # The engine ignores trust kinds: a time-stamping authority's root does not vouch for signers.
                state, tsa_only_signer, trust_list = VerdictState.VALID, trust_list, None

        failures = report_parts.failure_codes(active_entries)
        ingredient_failures = report_parts.ingredient_failure_codes(log)
        actions = active.actions if active else ()
        verdict_reason = _reason(state, active_entries, failures, ingredient_failures)
        if tsa_only_signer is not None:
            verdict_reason = (
                f"the signer chains only to the time-stamping authority anchors of list {tsa_only_signer!r}, which "
                "vouch for time-stamps, not for signers (unrecognized)"
            )
        broken = _broken_ingredients(state, active.ingredients if active else ())
        if broken is not None:
            verdict_reason = broken if verdict_reason is None else f"{verdict_reason}; {broken}"
        return Verdict(
            state=state,
            reason=verdict_reason,
            trust_list=trust_list,
            signer=active.signer if active else None,
            signed_at=active.signed_at if active else None,
            time_stamped=active.time_stamped if active else False,
            time_stamp=active.time_stamp if active else None,
            claim_generator=active.claim_generator if active else None,
            title=active.title if active else None,
            digital_source_types=report_parts.digital_source_types_of(actions),
            actions=actions,
            ingredients=active.ingredients if active else (),
            failure_codes=failures,
            ingredient_failure_codes=ingredient_failures,
            manifests=manifests,
            **base,
        )


class ReadableStream(Protocol):
    """What the verifier reads: an open binary file, or a wrapper of one (verifier/hash_pacing.py's PacedReader)."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def tell(self) -> int: ...


class ClosingStream(ReadableStream, Protocol):
    """A ReadableStream that `verify_file` closes with a `with` block."""

    def __enter__(self) -> ReadableStream: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> object: ...


class _VerdictBase(TypedDict):
    """The fields every verdict on a stream that could be read carries (passed as **base)."""

    sha256: str
    size: int
    engine_version: str
    format: str | None


class _StoreBytes:
    """The time-stamping authorities of the manifest store the engine read, from its own bytes:
    cut out of the asset (only when it holds exactly one store) or the remote store we fetched.
    Cut out at most once, and only when asked; each manifest's token decoded only when asked.

    An optional fast path over hostile bytes: any failure in it (but running out of memory)
    means "ask crJSON", never a lost verdict (the worker would answer ERROR/INTERNAL)."""

    def __init__(self, stream: ReadableStream, media_type: str | None, size: int, remote: bytes | None) -> None:
        self._stream = stream
        self._media_type = media_type
        self._size = size
        self._remote = remote
        self._tokens: TimeStampTokens | None = None
        self._read_once = False

    def time_stamp_authority(self, manifest_label: str, common_name: str | None) -> CertificateFacts | None:
        """The authority certificate of `manifest_label`'s time-stamp when the store has one reading
        of it and its common name is the one the engine named (`common_name`); else None.

        The common name is a sanity check only, not what makes the answer the engine's: it comes
        from the first `timeStamp.validated` explanation for the manifest anywhere in the log,
        results an ingredient recorded included (text the asset's author wrote). That the
        certificate is the one the engine validated rests on reading the same store the same way
        (verifier/embedded_store.py `sole_manifest_store`, verifier/time_stamp_token.py)."""
        if not self._read_once:
            self._read_once = True
            self._tokens = self._read()
        if self._tokens is None or common_name is None:
            return None
        try:
            facts = self._tokens.authority(manifest_label)
        except MemoryError:
            raise  # the isolated verifier reports it and starts a clean worker
        except Exception:  # noqa: BLE001 - hand-written parsing of hostile bytes: a bug in it must not cost the verdict
            return None
        if facts is None or ("CN", common_name) not in facts.subject.pairs:
            return None
        return facts

    def _read(self) -> TimeStampTokens | None:
        store = self._remote
        try:
            if store is None:
                position = self._stream.tell()
                try:
                    store = sole_manifest_store(self._stream, self._media_type, self._size)
                finally:
                    self._stream.seek(position)  # where the engine left it
            return None if store is None else TimeStampTokens(store)
        except MemoryError:
            raise
        except Exception:  # noqa: BLE001 - an optional fast path: any failure of it means "ask crJSON"
            return None


class _CrJson:
    """The reader's crJSON, fetched at most once and only when asked for (it is costly)."""

    def __init__(self, reader: c2pa.Reader) -> None:
        self._reader = reader
        self._parsed: dict[str, Any] | None = None

    def parsed(self) -> dict[str, Any]:
        if self._parsed is None:
            try:
                value = json.loads(self._reader.crjson())
            except (ValueError, RecursionError):
                value = {}
            self._parsed = value if isinstance(value, dict) else {}
        return self._parsed


def _state_from_engine(reader: c2pa.Reader) -> VerdictState:
    return report_parts.validation_state({"validation_state": reader.get_validation_state()}) or VerdictState.INVALID


def _hash_stream(stream: ReadableStream) -> tuple[str, int, bytes]:
    """SHA-256 and length of the rest of the stream, and its first bytes, in bounded memory."""
    head = stream.read(SNIFF_BYTES)
    digest = hashlib.sha256(head)
    counted = len(head)
    if not hasattr(stream, "readinto"):
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
            counted += len(chunk)
        return digest.hexdigest(), counted, head
    buffer = bytearray(_HASH_CHUNK)
    view = memoryview(buffer)
    while size := stream.readinto(buffer):
        digest.update(view[:size])
        counted += size
    return digest.hexdigest(), counted, head


def _engine_error_verdict(error: BaseException, media_type: str | None, base: _VerdictBase) -> Verdict:
    reason, code = _engine_error_reason(error, media_type)
    return Verdict(state=VerdictState.ERROR, reason=reason, error_code=code, **base)


def _engine_error_reason(error: BaseException, media_type: str | None) -> tuple[str, VerdictError]:
    message = clean_text(getattr(error, "message", None) or str(error), limit=1000) or type(error).__name__
    if _REMOTE_MARKER in message:
        url = message.split(" from url ", 1)[1].strip() if " from url " in message else "an external address"
        return (
            f"the credentials are stored remotely ({clean_text(url, limit=300)}) and were not fetched: originmark "
            "does not fetch remote manifests, on purpose, unless its operator allowlisted the host: an upload must "
            "not make the server contact an address of its choosing",
            VerdictError.REMOTE_MANIFEST,
        )
    if isinstance(error, c2pa.C2paError.NotSupported) or "type is unsupported" in message:
        detected = f" ({media_type})" if media_type else ""
        return (
            f"unsupported file type{detected}: the C2PA engine cannot read credentials from it",
            VerdictError.UNSUPPORTED,
        )
    if "prerelease content detected" in message:
        return "the credentials use a pre-release C2PA format that is no longer supported", VerdictError.UNSUPPORTED
    if "could not be parsed" in message:
        detail = message.split("could not be parsed:", 1)[-1].strip()
        return f"the file is malformed and could not be parsed: {detail}", VerdictError.MALFORMED
    return f"the credentials could not be evaluated: {message}", VerdictError.MALFORMED


def _reason(
    state: VerdictState,
    entries: list[report_parts.StatusEntry],
    failures: tuple[str, ...],
    ingredient_failures: tuple[str, ...],
) -> str | None:
    if state is VerdictState.INVALID:
        # The signer being unknown is not why credentials are broken: name the other codes.
        explained = [_explain(code, entries) for code in failures if code != report_parts.UNTRUSTED_CODE] or [
            f"an ingredient: {code}" for code in ingredient_failures if code != report_parts.UNTRUSTED_CODE
        ]
        return "credentials are present but broken: " + ("; ".join(explained[:5]) or "the engine found them invalid")
    if state is VerdictState.VALID:
        if any(e.code == report_parts.TRUSTED_CODE and e.outcome == "success" for e in entries):
            return "the signer is on a configured trust list, but an ingredient's signer is not (unrecognized)"
        return "the signature is valid, but the signer is on no configured trust list (unrecognized)"
    return None


def _broken_ingredients(state: VerdictState, ingredients: tuple[IngredientSummary, ...]) -> str | None:
    """For sound credentials made from ingredients whose own credentials are invalid (a re-signed
    tampered file keeps its broken history the C2PA way): says so, since the label follows no such
    history (verifier.label) and a reader should not take the chain for a clean one."""
    if state not in (VerdictState.TRUSTED, VerdictState.VALID):
        return None
    broken = [ingredient for ingredient in ingredients if ingredient.state is VerdictState.INVALID]
    if not broken:
        return None
    # The signer being unknown is not why they are broken (as in `_reason`).
    codes = list(
        dict.fromkeys(
            code for ingredient in broken for code in ingredient.failure_codes if code != report_parts.UNTRUSTED_CODE
        )
    )[:5]
    relationships = ", ".join(dict.fromkeys(ingredient.relationship or "ingredient" for ingredient in broken))
    shown = f" ({', '.join(codes)})" if codes else ""
    return (
        f"the credentials of an ingredient ({relationships}) are invalid{shown}: its history makes no claim, "
        "only this manifest's signer does"
    )


def _explain(code: str, entries: list[report_parts.StatusEntry]) -> str:
    words = _FAILURE_WORDS.get(code) or next(
        (e.explanation for e in entries if e.code == code and e.outcome == "failure" and e.explanation), None
    )
    return f"{code} ({words})" if words else code
