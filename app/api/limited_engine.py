"""The verifier pool's engine calls that verification makes besides the verdict itself (recovery's
fingerprints, Video-Code and kept-store validations; keeping's store read), each under the
service's verify limiter, as the verification is.

Why the verify limiter, and not a small limiter of its own that skips recovery when busy: these
calls take the same verifier workers as a verification, and `WorkerPool.checkout()` waits without
limit, so a call outside the limiter takes a worker that a verification holding a place in the
limiter then waits for (a credential-less video's Video-Code: up to 20 s of FFmpeg). Under the
same limiter, recoveries and verifications queue for the workers in one fair (FIFO) line and at
most `verify_workers` engine calls run at once; the answer stays the same whatever the load (a
skipped recovery would make the same upload answer differently when the service is busy). The
limiter is held for one engine call at a time, never across the repository lookups in between.

Called from the worker thread the verify use case runs in (`app.api.work.in_thread`): the place
is taken through the event loop, where the limiter lives.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.from_thread

if TYPE_CHECKING:
    from verifier.fingerprint import ImageFingerprint
    from verifier.isolation import EmbeddedStore, IsolatedVerifier
    from verifier.verdict import Verdict
    from verifier.video_code import VideoCode
    from verifier.video_fingerprint import VideoFingerprint

T = TypeVar("T")


class LimitedEngine:
    """What recovery (app.usecases.recovery.RecoveryVerifier) and keeping (StoreReader) need of the
    verifier, each call holding a place in `limiter` while it runs."""

    def __init__(self, verifier: IsolatedVerifier, limiter: anyio.CapacityLimiter) -> None:
        self._verifier = verifier
        self._limiter = limiter

    def _limited(self, call: Callable[[Path], T], path: Path) -> T:
        borrower = object()  # this call's place: the thread is no task of the event loop's
        anyio.from_thread.run(self._limiter.acquire_on_behalf_of, borrower)
        try:
            return call(path)
        finally:
            anyio.from_thread.run_sync(self._limiter.release_on_behalf_of, borrower)

    def fingerprint_file(self, path: Path) -> ImageFingerprint | None:
        return self._limited(self._verifier.fingerprint_file, path)

    def fingerprint_video_file(self, path: Path) -> VideoFingerprint | None:
        return self._limited(self._verifier.fingerprint_video_file, path)

    def video_code_file(self, path: Path) -> VideoCode | None:
        return self._limited(self._verifier.video_code_file, path)

    def verify_manifest_store(self, path: Path) -> Verdict:
        return self._limited(self._verifier.verify_manifest_store, path)

    def manifest_store_of(self, path: Path) -> EmbeddedStore | None:
        return self._limited(self._verifier.manifest_store_of, path)
