"""Verify and record: an upload's verdict and label, answered from the store when the same bytes
were verified under the same trust configuration, stored under the tenant's media id otherwise.

Rules (the same for POST /v1/verify, the public page, verify jobs (`batch verify` submits them
too) and `verify --server`):
- the verification cache is keyed by content SHA-256 and shared by every tenant (a verdict is a
  fact about bytes); a caller that sends the bytes may be answered from it;
- answering or storing records that the tenant submitted those bytes (so it may later read the
  verdict by hash) and points the tenant's media id, if given, at them; nothing of another
  tenant's is touched;
- a verdict without a hash (the worker was stopped at a time or memory limit) is answered with
  the upload's hash but never stored, so the next upload of the same bytes is tried again;
- the public page (tenant None) stores nothing unless the operator asked it to, and never under
  a media id;
- recovery (app/usecases/recovery.py): given the file, a verdict without valid credentials of its
  own gains `recovered` and the recovered label, looked up afresh on every answer, cached or not.
  The store keeps the file's own verdict and label by content (a fact about bytes, shared by
  every tenant); the recovered label goes only to the asking tenant's media id, so a feed shows
  it, and it never outlives a takedown in the cache nor reaches another tenant.
- keeping (`keep_manifest`, a tenant's opt-in; issue 14): when the verdict is trusted or valid
  (never invalid: an invalid store is no public statement of anyone's), a verifier worker cuts the
  file's manifest store out and reads it; if its active manifest is the verdict's, it is kept as a
  VERIFIED entry of the tenant's (only that tenant sees it), in the verdict's transaction (right
  after it when the verdict was answered from the store). A tenant keeps one entry per manifest
  id: asking again keeps nothing new and says the same id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection

from app.store.interface import VerdictStore
from app.store.repository import NewEntry
from app.usecases.recovery import ContentRecovery, Recovery, RecoveryVerifier
from verifier.label_types import Label
from verifier.verdict import Verdict, VerdictState

if TYPE_CHECKING:
    from app.usecases.manifest_repository import ManifestKeeper
    from verifier.isolation import EmbeddedStore

_KEPT_STATES = (VerdictState.TRUSTED, VerdictState.VALID)
# The file's path, asked for only when something reads the file (an upload held in memory is
# written to the spool on the first call: blocking, so only from a worker thread).
FileOnDemand = Callable[[], Path]


class StoreReader(Protocol):
    """What keeping needs of the verifier (verifier.isolation.IsolatedVerifier)."""

    def manifest_store_of(self, path: Path) -> EmbeddedStore | None: ...


class VerificationEngine(RecoveryVerifier, StoreReader, Protocol):
    """The engine calls recovery and keeping make (verifier.isolation.IsolatedVerifier; the service
    bounds them as it bounds verifications: app/api/limited_engine.py)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreKeeping:
    keeper: ManifestKeeper
    reader: StoreReader


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyRequest:
    tenant: str | None  # the caller's tenant; None: the public page (nobody's submission)
    sha256: str | None = None  # of the file, when hashed on its way in (uploads)
    media_id: str | None = None
    refresh: bool = False  # verify again even when these bytes are in the store
    record: bool = True  # store the verdict (the public page stores only when the operator says so)
    keep_manifest: bool = False  # keep the file's manifest store in the tenant's repository (when trusted or valid)

    def __post_init__(self) -> None:
        if self.media_id is not None and self.tenant is None:
            raise ValueError("a media id belongs to a tenant")
        if self.keep_manifest and self.tenant is None:
            raise ValueError("a kept manifest store belongs to a tenant")


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOutcome:
    verdict: Verdict
    label: Label
    cached: bool  # answered from the store, for bytes this tenant had sent or signed before
    stored: bool  # the verdict is in the store now (for this tenant, when there is one)
    kept_manifest_id: str | None = None  # the tenant's repository keeps this manifest's store (keep_manifest)


class VerifyAndRecord:
    """The use case's rules around the engine call; thread-safe (holds only immutable parts)."""

    def __init__(
        self,
        *,
        store: VerdictStore,
        trust_fingerprint: str,
        recovery: ContentRecovery | None = None,
        keeping: StoreKeeping | None = None,
    ) -> None:
        self._store = store
        self._trust_fingerprint = trust_fingerprint
        self._recovery = recovery
        self._keeping = keeping

    def from_store(self, request: VerifyRequest, *, file: FileOnDemand | None = None) -> VerifyOutcome | None:
        """The stored answer for these bytes under the current trust configuration, recorded as
        the tenant's submission (and under its media id); None when they must be verified.
        `file`: the file's path, for recovery and keeping (None: none is looked up), asked for only
        when one of them reads it (an upload held in memory is then written out)."""
        if request.sha256 is None or not request.record:
            return None
        tenant = request.tenant
        if tenant is None:
            stored, already = self._store.cached_verdict(request.sha256), False
        else:
            cached = self._store.cached_verdict_for(tenant, request.sha256)
            stored, already = (None, False) if cached is None else (cached.stored, cached.submitted)
        if stored is None or stored.trust_fingerprint != self._trust_fingerprint:
            return None
        recovery = self._recover(request, stored.verdict, file)
        # The same tenant sending the same bytes again (the usual repeat) writes nothing.
        if tenant is not None and (request.media_id is not None or not already):
            self._store.record_submission(
                tenant=tenant,
                stored=stored,
                media_id=request.media_id,
                media_label=None if recovery is None else recovery.label,
            )
        kept = self._keep_apart(request, stored.verdict, file)
        # `cached` speaks of the caller's own history: bytes only another tenant sent before are
        # answered from the store all the same, but saying so would tell who uploaded what.
        return _with_recovery(
            VerifyOutcome(
                verdict=stored.verdict, label=stored.label, cached=already, stored=True, kept_manifest_id=kept
            ),
            recovery,
        )

    def record(
        self,
        request: VerifyRequest,
        verdict: Verdict,
        label: Label,
        *,
        path: Path | None = None,
        file: FileOnDemand | None = None,
        in_same_transaction: Callable[[Connection], None] | None = None,
    ) -> VerifyOutcome:
        """Store a fresh verdict (when it has a hash and the request records); `in_same_transaction`
        writes alongside it (a job marked succeeded). `path`: the file, for recovery and keeping; or
        `file`, its path on demand (an upload held in memory is written out only if one reads it)."""
        if not verdict.sha256:
            # A stopped worker could not say which bytes it read: answer with the upload's hash, store nothing.
            return VerifyOutcome(
                verdict=dataclasses.replace(verdict, sha256=request.sha256 or ""),
                label=label,
                cached=False,
                stored=False,
            )
        if file is None and path is not None:
            file = _already_on_disk(path)
        recovery = self._recover(request, verdict, file)
        if not request.record:
            return _with_recovery(VerifyOutcome(verdict=verdict, label=label, cached=False, stored=False), recovery)
        plan = self._keep_plan(request, verdict, file)
        also = in_same_transaction
        if plan is not None and plan[1] is not None:
            also = _writing_entry(plan[1], self._keeping, in_same_transaction)
        self._store.save_verdict(
            tenant=request.tenant,
            verdict=verdict,
            label=label,
            trust_fingerprint=self._trust_fingerprint,
            media_id=request.media_id,
            in_same_transaction=also,
            media_label=None if recovery is None else recovery.label,
        )
        kept = None if plan is None else self._kept(request, plan[0])
        return _with_recovery(
            VerifyOutcome(verdict=verdict, label=label, cached=False, stored=True, kept_manifest_id=kept), recovery
        )

    def _keep_plan(
        self, request: VerifyRequest, verdict: Verdict, file: FileOnDemand | None
    ) -> tuple[str, NewEntry | None] | None:
        """(the manifest id, the entry to write or None when the tenant keeps it already); None: nothing to keep."""
        keeping = self._keeping
        if keeping is None or not request.keep_manifest or request.tenant is None or file is None:
            return None
        if verdict.state not in _KEPT_STATES or not verdict.manifests or not verdict.sha256:
            return None
        manifest_id = verdict.manifests[0].label  # the active manifest comes first
        if self._kept(request, manifest_id) is not None:
            return manifest_id, None
        embedded = keeping.reader.manifest_store_of(file())
        # The store cut out must be the one the verdict is about (not another instance in the file).
        if embedded is None or embedded.active_manifest != manifest_id:
            return None
        entry = keeping.keeper.verified_entry(
            tenant=request.tenant,
            manifest_id=manifest_id,
            asset_sha256=verdict.sha256,
            manifest_store=embedded.store,
            bindings=embedded.soft_bindings,
        )
        return manifest_id, entry

    def _keep_apart(self, request: VerifyRequest, verdict: Verdict, file: FileOnDemand | None) -> str | None:
        """Keeping for a verdict answered from the store: in a transaction of its own."""
        plan = self._keep_plan(request, verdict, file)
        if plan is None:
            return None
        if plan[1] is not None and self._keeping is not None:
            try:
                self._keeping.keeper.repository.add_entry(plan[1])
            except ValueError:
                pass  # kept meanwhile by a concurrent request, or refused: _kept says which
        return self._kept(request, plan[0])

    def _kept(self, request: VerifyRequest, manifest_id: str) -> str | None:
        """`manifest_id` when the tenant's repository keeps an entry of its own for it."""
        if self._keeping is None:
            return None
        entries = self._keeping.keeper.repository.entries_with_manifest_id(manifest_id)
        return manifest_id if any(entry.tenant == request.tenant for entry in entries) else None

    def kept_manifest_id(self, tenant: str, verdict: Verdict) -> str | None:
        """For a verification that asked to keep (a verify job, read back later): the verdict's
        active manifest id when `tenant` keeps its store now (None: not kept, or taken down since)."""
        if verdict.state not in _KEPT_STATES or not verdict.manifests:
            return None
        return self._kept(VerifyRequest(tenant=tenant), verdict.manifests[0].label)

    def _recover(self, request: VerifyRequest, verdict: Verdict, file: FileOnDemand | None) -> Recovery | None:
        if self._recovery is None or file is None or not verdict.sha256:
            return None
        if not self._recovery.reads_file_for(verdict):
            return None  # nothing to look up for it: the file is not asked for
        return self._recovery.recover(tenant=request.tenant, path=file(), verdict=verdict)


def _writing_entry(
    entry: NewEntry, keeping: StoreKeeping | None, then: Callable[[Connection], None] | None
) -> Callable[[Connection], None]:
    """Write `entry` in the verdict's transaction, then `then`; a duplicate (a concurrent request
    kept it first) is no failure: it writes nothing (the repository's INSERT ... ON CONFLICT DO NOTHING),
    so the transaction stays usable."""
    assert keeping is not None

    def write(connection: Connection) -> None:
        try:
            keeping.keeper.repository.write_entry(connection, entry)
        except ValueError:
            pass  # kept already, or refused: the answer reads what is kept
        if then is not None:
            then(connection)

    return write


def _already_on_disk(path: Path) -> FileOnDemand:
    return lambda: path


def _with_recovery(outcome: VerifyOutcome, recovery: Recovery | None) -> VerifyOutcome:
    """The outcome as answered: the file's own verdict with `recovered`, and the recovered label."""
    if recovery is None:
        return outcome
    verdict = dataclasses.replace(outcome.verdict, recovered=recovery.recovered)
    return dataclasses.replace(outcome, verdict=verdict, label=recovery.label)
