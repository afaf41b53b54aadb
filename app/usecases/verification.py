"""Verify and record: an upload's verdict and label, answered from the store when the same bytes
were verified under the same trust configuration, stored under the tenant's media id otherwise.

Rules (the same for POST /v1/verify, the public page, verify jobs and `verify --server`):
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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from app.store.interface import VerdictStore
from app.usecases.recovery import ContentRecovery, Recovery
from verifier.label_types import Label
from verifier.verdict import Verdict


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyRequest:
    tenant: str | None  # the caller's tenant; None: the public page (nobody's submission)
    sha256: str | None = None  # of the file, when hashed on its way in (uploads)
    media_id: str | None = None
    refresh: bool = False  # verify again even when these bytes are in the store
    record: bool = True  # store the verdict (the public page stores only when the operator says so)

    def __post_init__(self) -> None:
        if self.media_id is not None and self.tenant is None:
            raise ValueError("a media id belongs to a tenant")


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifyOutcome:
    verdict: Verdict
    label: Label
    cached: bool  # answered from the store, for bytes this tenant had sent or signed before
    stored: bool  # the verdict is in the store now (for this tenant, when there is one)


class VerifyAndRecord:
    """The use case's rules around the engine call; thread-safe (holds only immutable parts)."""

    def __init__(
        self, *, store: VerdictStore, trust_fingerprint: str, recovery: ContentRecovery | None = None
    ) -> None:
        self._store = store
        self._trust_fingerprint = trust_fingerprint
        self._recovery = recovery

    def from_store(self, request: VerifyRequest, *, path: Path | None = None) -> VerifyOutcome | None:
        """The stored answer for these bytes under the current trust configuration, recorded as
        the tenant's submission (and under its media id); None when they must be verified.
        `path`: the file, for recovery (None: none is looked up)."""
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
        recovery = self._recover(request, stored.verdict, path)
        # The same tenant sending the same bytes again (the usual repeat) writes nothing.
        if tenant is not None and (request.media_id is not None or not already):
            self._store.record_submission(
                tenant=tenant,
                stored=stored,
                media_id=request.media_id,
                media_label=None if recovery is None else recovery.label,
            )
        # `cached` speaks of the caller's own history: bytes only another tenant sent before are
        # answered from the store all the same, but saying so would tell who uploaded what.
        return _with_recovery(
            VerifyOutcome(verdict=stored.verdict, label=stored.label, cached=already, stored=True), recovery
        )

    def record(
        self,
        request: VerifyRequest,
        verdict: Verdict,
        label: Label,
        *,
        path: Path | None = None,
        in_same_transaction: Callable[[Connection], None] | None = None,
    ) -> VerifyOutcome:
        """Store a fresh verdict (when it has a hash and the request records); `in_same_transaction`
        writes alongside it (a job marked succeeded). `path`: the file, for recovery."""
        if not verdict.sha256:
            # A stopped worker could not say which bytes it read: answer with the upload's hash, store nothing.
            return VerifyOutcome(
                verdict=dataclasses.replace(verdict, sha256=request.sha256 or ""), label=label, cached=False, stored=False
            )
        recovery = self._recover(request, verdict, path)
        if not request.record:
            return _with_recovery(VerifyOutcome(verdict=verdict, label=label, cached=False, stored=False), recovery)
        self._store.save_verdict(
            tenant=request.tenant,
            verdict=verdict,
            label=label,
            trust_fingerprint=self._trust_fingerprint,
            media_id=request.media_id,
            in_same_transaction=in_same_transaction,
            media_label=None if recovery is None else recovery.label,
        )
        return _with_recovery(VerifyOutcome(verdict=verdict, label=label, cached=False, stored=True), recovery)

    def _recover(self, request: VerifyRequest, verdict: Verdict, path: Path | None) -> Recovery | None:
        if self._recovery is None or path is None or not verdict.sha256:
            return None
        return self._recovery.recover(tenant=request.tenant, path=path, verdict=verdict)


def _with_recovery(outcome: VerifyOutcome, recovery: Recovery | None) -> VerifyOutcome:
    """The outcome as answered: the file's own verdict with `recovered`, and the recovered label."""
    if recovery is None:
        return outcome
    verdict = dataclasses.replace(outcome.verdict, recovered=recovery.recovered)
    return dataclasses.replace(outcome, verdict=verdict, label=recovery.label)
