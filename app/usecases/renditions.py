"""Renditions: the resized, converted or repackaged copies a platform serves, signed with their
original's credentials as history, without the original file (issue 15).

Rules (POST /v1/renditions; `originmark rendition --server URL` sends the same request):
- the caller names the original by the media id or the SHA-256 its tenant stored it under; every
  read names the tenant in the query itself (the stored verdict: VerdictStore.verdict_by_media_id /
  verdict_by_sha256; the manifest repository's entry the tenant sees under the original's active
  manifest id: its own, or a public signed one). Unknown and another tenant's read the same
  (OriginalNotFound, 404), and nothing is signed;
- an original whose stored verdict is trusted or valid has its active manifest's store taken from the
  repository (every store originmark signs is kept, and verified ones when the tenant opted in), and
  only when that entry is of the very bytes the verdict is about. The store is validated again, now,
  by the verifier as a store apart from its asset (signature, trust, time-stamp, as recovery does:
  app/usecases/recovery.py); unless it is still trusted or valid, or when none is kept, the rendition
  is refused (UpstreamCredentialsUnusable, 409). The original's hard binding was checked on its
  own bytes when its verdict was stored; the signer records the engine's results for the store
  with only the detached read's hard-binding mismatch left out (signer/engine.py);
- an original without credentials (verdict `none`) gives renditions only when asked
  (`allow_no_upstream`): the ingredient then names the original without a manifest and the label
  says "no credentials upstream"; never invented credentials. An invalid or unevaluated original
  gives none (409): broken credentials are not laundered into a clean chain;
- each rendition is signed with the tenant's signing identity, like POST /v1/sign (the sign scope, an
  active key), verified like any signed output, and recorded by the sign use
  case (audit entry, verdict under its own media id, repository entry) — unless its label's kind
  differs from the original's (RenditionChangesLabel, 422: nothing recorded). The rendition's
  repository entry is private unless the original's store is a public signed entry: its store
  carries the original's (a store kept on verify is its tenant's only); an original made private
  later takes its renditions' entries with it (app/usecases/repository_visibility.py);
- a rendition never takes a media id of its original (RenditionMediaIdTaken, 422), however the
  original was named (its media id or its bytes' hash: all the tenant's ids for those bytes);
- an original whose kept store is over the configured bound (ORIGINMARK_RENDITIONS_MAX_UPSTREAM_STORE_BYTES,
  1 MiB by default) gives no renditions (UpstreamStoreTooLarge, 409): each rendition embeds it;
- the key's signing policy bounds renditions as it bounds POST /v1/sign (`authorize`, before any
  engine work: SigningNotPermitted, 403 signing_policy). A rendition declares no source type of its
  own (only `c2pa.opened` and its non-editorial actions: signer/manifest.RENDITION_ACTIONS), but the
  caller chooses its bytes and they are shown with the original's label kind: an AI original's
  renditions are allowed to any sign key, any other kind (captured, credentials without an AI signal,
  no credentials upstream) only to a key whose policy allows claiming it on /v1/sign
  (SigningPolicy.check_rendition). Otherwise a default (AI-only) key could show any bytes as
  "Captured" by naming a captured original. The feed's thumbnails are renditions too, bounded the
  same way (app/usecases/thumbnails.py);
- a file whose own verdict is `none` has no credentials upstream even when credentials were found
  for it by content match (its label then says so): a match of pixels is not a history, so a
  rendition never carries a recovered store.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection

from app.store.interface import ApiKey, StoredVerdict, VerdictStore
from app.store.repository import EntryOrigin, RepositoryEntry
from app.usecases.active_key import require_active
from app.usecases.errors import (
    NoUpstreamCredentials,
    OriginalNotFound,
    RenditionCarriesCredentials,
    RenditionChangesLabel,
    RenditionMediaIdTaken,
    RenditionUnreadable,
    UpstreamCredentialsUnusable,
    UpstreamStoreTooLarge,
    VerifierStopped,
)
from app.usecases.manifest_repository import KeptStoreMissing
from app.usecases.signing import SignAndRecord, SignedOutput, SignRequest
from signer.manifest import GenerationRequest, Upstream
from verifier.label import label_for
from verifier.label_types import LabelKind
from verifier.verdict import Verdict, VerdictError, VerdictState

if TYPE_CHECKING:
    from signer.engine import SignResult

# What a rendition's non-editorial actions name as their softwareAgent: the service that signed them.
RENDITION_AGENT = "originmark renditions"
MAX_RENDITIONS_PER_REQUEST = 8
# ORIGINMARK_RENDITIONS_MAX_UPSTREAM_STORE_BYTES's default (app/settings.py), for callers built without it.
DEFAULT_MAX_UPSTREAM_STORE_BYTES = 1024**2
USABLE_STATES = frozenset({VerdictState.TRUSTED, VerdictState.VALID})


@dataclass(frozen=True, slots=True, kw_only=True)
class OriginalRef:
    """How the caller names the original: exactly one of its media id and its SHA-256 (hex)."""

    media_id: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.media_id is None) == (self.sha256 is None):
            raise ValueError("name the original by its media id or by its SHA-256, not both, not neither")

    def __str__(self) -> str:
        return f"media id {self.media_id!r}" if self.media_id is not None else f"SHA-256 {self.sha256}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Original:
    """The original as the tenant stored it, and what a rendition carries of it."""

    verdict: StoredVerdict
    manifest_store: bytes | None = field(default=None, repr=False)  # None: no credentials upstream
    # The original's store is not a public signed entry (a private one, one kept on verify: its
    # tenant's only, or none): its renditions' entries, whose stores carry it, are private too.
    private: bool = False
    # The kept store's manifest id and SHA-256 (None: no credentials upstream): whether it is public
    # is asked again where what carries it is written (app/store/repository_sql.public_store).
    manifest_id: str | None = None
    store_sha256: str | None = None

    @property
    def label_kind(self) -> LabelKind:
        return self.verdict.label.kind

    @property
    def rendition_label_kind(self) -> LabelKind:
        """The label kind its renditions get: its own, or, without credentials upstream, the
        classification-free kind ("no credentials upstream")."""
        return self.label_kind if self.manifest_store is not None else LabelKind.CREDENTIALS


class Renditions:
    """The renditions use case; thread-safe (holds only the store and the sign use case)."""

    def __init__(
        self,
        *,
        store: VerdictStore,
        signing: SignAndRecord,
        max_upstream_store_bytes: int = DEFAULT_MAX_UPSTREAM_STORE_BYTES,
    ) -> None:
        self._store = store
        self._signing = signing
        self._max_upstream_store_bytes = max_upstream_store_bytes

    def prepare(
        self, key: ApiKey | None, ref: OriginalRef, *, allow_no_upstream: bool, media_ids: Sequence[str]
    ) -> Original:
        """Every check of a renditions request that needs no engine work, in its order: the original
        (404/409), the key's signing policy on the label its renditions show (403), the renditions'
        media ids (422). POST /v1/renditions runs it before anything is signed, a rendition job at
        submit and again before each attempt (the key, the original or its store may have changed)."""
        original = self.original(key, ref, allow_no_upstream=allow_no_upstream)
        self.authorize(key, original)
        self.check_media_ids(key, original, media_ids)
        return original

    def original(self, key: ApiKey | None, ref: OriginalRef, *, allow_no_upstream: bool) -> Original:
        """The original `key`'s tenant names (OriginalNotFound, NoUpstreamCredentials,
        UpstreamCredentialsUnusable; KeyRevoked for a revoked key), with its kept store."""
        tenant = require_active(key).tenant
        if ref.media_id is not None:
            stored = self._store.verdict_by_media_id(tenant, ref.media_id)
        else:
            assert ref.sha256 is not None
            stored = self._store.verdict_by_sha256(tenant, ref.sha256.lower())
        if stored is None:
            raise OriginalNotFound(f"no original stored under {ref} for your tenant: sign or verify it first")
        verdict = stored.verdict
        if verdict.state is VerdictState.NONE:
            if not allow_no_upstream:
                raise NoUpstreamCredentials(
                    f"the original ({ref}) carries no Content Credentials: its renditions would start a history "
                    "of their own. Send allow_no_upstream=true to sign them anyway (labelled 'no credentials upstream')"
                )
            return Original(verdict=stored)
        if verdict.state not in USABLE_STATES or not verdict.manifests:
            raise UpstreamCredentialsUnusable(
                f"the original's Content Credentials are {verdict.state.value}: a rendition cannot carry them "
                "(broken credentials are never passed on as a clean history)"
            )
        manifest_id = verdict.manifests[0].label
        entry = self._signing.keeper.repository.entry_by_manifest_id(tenant, manifest_id)
        if entry is None or entry.asset_sha256 != stored.sha256:
            raise UpstreamCredentialsUnusable(
                f"the manifest store of the original ({manifest_id}) is not kept in the manifest repository: stores "
                "originmark signs are kept, verified ones when kept on verify (keep_manifest=true); verify the "
                "original with keep_manifest=true, then retry"
            )
        if entry.store.size > self._max_upstream_store_bytes:
            # Checked before the store is read: every rendition would embed it, and one answer carries them all.
            raise UpstreamStoreTooLarge(
                f"the original's kept manifest store is {entry.store.size} bytes, over the "
                f"{self._max_upstream_store_bytes} a rendition may carry (ORIGINMARK_RENDITIONS_MAX_UPSTREAM_STORE_BYTES); "
                "nothing was signed"
            )
        try:
            store = self._signing.keeper.manifest_store(entry)
        except KeptStoreMissing as error:
            raise UpstreamCredentialsUnusable(f"the original's kept manifest store cannot be read: {error}") from None
        return Original(
            verdict=stored,
            manifest_store=store,
            private=not self._public(entry),
            manifest_id=entry.manifest_id,
            store_sha256=entry.store.sha256,
        )

    def _public(self, entry: RepositoryEntry) -> bool:
        """Whether anyone may read the original's store: a public signed entry (this one, or another
        of the same manifest id with the very same store bytes). A store kept on verify is its
        tenant's only, and so is a tenant's kept copy of another tenant's private file: a rendition
        must not publish it."""
        if entry.origin is EntryOrigin.SIGNED and not entry.private:
            return True
        public = self._signing.keeper.repository.entry_by_manifest_id(None, entry.manifest_id)
        return public is not None and public.store.sha256 == entry.store.sha256

    def check_media_ids(self, key: ApiKey | None, original: Original, media_ids: Sequence[str]) -> None:
        """RenditionMediaIdTaken (422) when one of `media_ids` is a media id `key`'s tenant points at
        the original's bytes (by whatever name the caller gave the original): a rendition recorded
        under it would point that id at the rendition. At most MAX_RENDITIONS_PER_REQUEST reads."""
        tenant = require_active(key).tenant
        for media_id in media_ids:
            stored = self._store.verdict_by_media_id(tenant, media_id)
            if stored is not None and stored.sha256 == original.verdict.sha256:
                raise RenditionMediaIdTaken(
                    f"the media id {media_id!r} is the original's: a rendition needs a media id of its own"
                )

    @staticmethod
    def authorize(key: ApiKey | None, original: Original) -> None:
        """SigningNotPermitted (403 signing_policy) unless `key`'s signing policy may make content
        show `original`'s renditions' label kind (SigningPolicy.check_rendition); KeyRevoked for a
        revoked key. Call it before any engine work: a refusal signs, stores and audits nothing."""
        require_active(key).signing_policy.check_rendition(original.rendition_label_kind)

    @staticmethod
    def kept_store_file(original: Original, folder: Path) -> Path | None:
        """The original's kept store written to a private file in `folder`, for the verifier to read
        apart from its asset (check_kept_store); None without credentials upstream."""
        if original.manifest_store is None:
            return None
        descriptor, name = tempfile.mkstemp(prefix="upstream-", suffix=".c2pa", dir=folder)
        with os.fdopen(descriptor, "wb") as out:
            out.write(original.manifest_store)
        return Path(name)

    @staticmethod
    def check_rendition_file(verdict: Verdict, *, name: str, field: str | None = None) -> None:
        """`verdict`: the verifier's on a rendition before it is signed (`name`: how the caller sent it,
        a form field, then also `field`, or an object URI). RenditionUnreadable when it could not be evaluated (its signed
        output could not be verified either), RenditionCarriesCredentials when it carries credentials of
        its own: a rendition's only history is its original's. VerifierStopped (the route's 503, a
        job's retry) when the verifier was stopped at its time or memory limit: no answer yet."""
        _require_answer(verdict, what=name)
        if verdict.state is VerdictState.ERROR:
            raise RenditionUnreadable(
                f"{name} could not be read as media ({verdict.reason}); nothing was signed", field=field
            )
        if verdict.state is not VerdictState.NONE:
            raise RenditionCarriesCredentials(
                f"{name} carries Content Credentials of its own ({verdict.state.value}), and a rendition's only "
                "history is its original's: send it without embedded credentials; nothing was signed",
                field=field,
            )

    @staticmethod
    def check_kept_store(original: Original, checked: Verdict) -> None:
        """`checked`: the verifier's verdict on the original's kept store, read now apart from its asset
        (VerifierStopped when the verifier was stopped at a limit: not a store that no longer validates)."""
        if original.manifest_store is None:
            return
        _require_answer(checked, what="the original's kept manifest store")
        if checked.state not in USABLE_STATES:
            raise UpstreamCredentialsUnusable(
                f"the original's kept manifest store no longer validates ({checked.state.value}: {checked.reason}); "
                "no rendition is signed with it"
            )

    @staticmethod
    def generation(original: Original, *, actions: tuple[str, ...], title: str | None) -> GenerationRequest:
        """What to sign a rendition with (InvalidRequest, 422, for an action outside RENDITION_ACTIONS)."""
        verdict = original.verdict.verdict
        upstream = Upstream(
            title=verdict.title or original.verdict.media_id or original.verdict.sha256[:16],
            format=verdict.format,
            actions=actions,
            manifest_store=original.manifest_store,
        )
        return GenerationRequest(generator_name=RENDITION_AGENT, title=title, rendition_of=upstream)

    def record(
        self,
        request: SignRequest,
        output: SignedOutput,
        verdict: Verdict,
        original: Original,
        *,
        in_same_transaction: Callable[[Connection], None] | None = None,
    ) -> StoredVerdict:
        """The rendition recorded like any signature (app/usecases/signing.py), when its label's kind is
        its original's (a rendition without credentials upstream: the classification-free kind);
        `in_same_transaction`: a job's `succeeded`, committed with it."""
        kind = label_for(verdict).kind if verdict.state in USABLE_STATES else None
        expected = original.rendition_label_kind
        if kind is not None and kind is not expected:
            raise RenditionChangesLabel(
                f"the rendition would be labelled {kind.value}, its original {expected.value}: nothing was recorded"
            )
        manifest_id, store_sha256 = original.manifest_id, original.store_sha256
        if manifest_id is None or store_sha256 is None:
            return self._signing.record(request, output, verdict, in_same_transaction=in_same_transaction)
        repository = self._signing.keeper.repository

        def original_private(connection: Connection) -> bool:
            # Asked again in the recording transaction: the original may have been made private
            # during the slow signing since `original()` read it (set_private sees what is committed).
            return not repository.store_is_public(connection, manifest_id, store_sha256)

        return self._signing.record(
            request, output, verdict, in_same_transaction=in_same_transaction, private_now=original_private
        )


# --- the engine steps of signing one rendition: one path for POST /v1/renditions (its async steps in
# app/api/rendition_signing.py) and the feed's thumbnails (run from a thread: sign_rendition below).


class RenditionEngine(Protocol):
    """The engine calls a rendition needs (the worker pools', each under the caller's bounds)."""

    def verify_manifest_store(self, path: Path) -> Verdict: ...

    def sign_file(self, *, source: Path, destination: Path, request: GenerationRequest) -> SignResult: ...

    def verify_file(self, path: Path) -> Verdict: ...


def rendition_output(result: SignResult, verdict: Verdict, *, source_sha256: str) -> SignedOutput:
    """What the sign use case records of a signed rendition: the signer's result and its output's verdict."""
    return SignedOutput(
        input_sha256=source_sha256,
        output_sha256=verdict.sha256,
        manifest_label=result.manifest_label,
        certificate_fingerprint=result.certificate_fingerprint,
        manifest_store=result.manifest_store,
        fingerprint=result.soft_binding,
    )


def check_upstream(engine: RenditionEngine, original: Original, folder: Path) -> None:
    """UpstreamCredentialsUnusable unless the original's kept store (if any) still validates (blocking)."""
    kept = Renditions.kept_store_file(original, folder)
    if kept is not None:
        Renditions.check_kept_store(original, engine.verify_manifest_store(kept))


def sign_rendition(
    engine: RenditionEngine, generation: GenerationRequest, *, source: Path, source_sha256: str, destination: Path
) -> tuple[SignedOutput, Verdict]:
    """The rendition at `source` signed into `destination`, and the verifier's verdict on the output (blocking)."""
    result = engine.sign_file(source=source, destination=destination, request=generation)
    verdict = engine.verify_file(destination)
    return rendition_output(result, verdict, source_sha256=source_sha256), verdict


def _require_answer(verdict: Verdict, *, what: str) -> None:
    """One rule for the route and a rendition job: a verifier stopped at its time or memory limit
    per file (that depends on the load) gave no answer on `what`, and a retry may (VerifierStopped);
    a file over its size limit, or one the engine dies on, is answered: it cannot be read."""
    if verdict.state is VerdictState.ERROR and verdict.error_code == VerdictError.RESOURCE_LIMIT:
        raise VerifierStopped(
            f"verifying {what} was stopped at the verifier's limit per file ({verdict.reason}); nothing was signed: "
            "retry later"
        )
