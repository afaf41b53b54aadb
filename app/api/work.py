"""Blocking work, run off the event loop: engine calls in bounded pools, store calls in anyio's.

The event loop only moves bytes; everything that computes or waits (signing, verifying,
deriving labels, database round trips) runs in a worker thread, so a slow upload or a
burst of verifications never delays a label read.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import anyio.to_thread

from app.api.services import Services
from app.usecases.verification import FileOnDemand, VerifyAndRecord, VerifyOutcome, VerifyRequest
from signer.engine import SignResult
from signer.manifest import GenerationRequest
from verifier.label import label_for
from verifier.label_types import Label
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from verifier.thumbnail import Picture  # Pillow: made and decoded in the verifier workers only

P = ParamSpec("P")
T = TypeVar("T")


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """A store call (or other short blocking call) in anyio's default thread pool."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))


async def sign_file(services: Services, *, source: Path, destination: Path, request: GenerationRequest) -> SignResult:
    started = time.perf_counter()
    try:
        return await anyio.to_thread.run_sync(
            functools.partial(
                services.worker_pools.signer.sign_file, source=source, destination=destination, request=request
            ),
            limiter=services.sign_limiter,
        )
    finally:
        services.metrics.engine_seconds.labels("sign").observe(time.perf_counter() - started)


async def verify_manifest_store(services: Services, path: Path) -> Verdict:
    """The verifier's verdict on a manifest store kept apart from its asset, in the verify pool."""
    return await _in_verify_pool(services, services.worker_pools.verifier.verify_manifest_store, path)


async def thumbnail_picture(services: Services, path: Path) -> Picture | str:
    """A feed thumbnail's picture made in the verify pool (Pillow facing an untrusted upload under a
    worker's limits, as the content fingerprint does), or why there is none."""
    return await _in_verify_pool(services, services.worker_pools.verifier.thumbnail_of, path)


async def _in_verify_pool(services: Services, job: Callable[[Path], T], path: Path) -> T:
    started = time.perf_counter()
    try:
        return await anyio.to_thread.run_sync(job, path, limiter=services.verify_limiter)
    finally:
        services.metrics.engine_seconds.labels("verify").observe(time.perf_counter() - started)


def _verify_and_label(
    services: Services, file: FileOnDemand, known_sha256: str | None, body: Sequence[bytes] | None = None
) -> tuple[Verdict, Label]:
    verifier = services.worker_pools.verifier
    if body is not None:
        verdict = verifier.verify_bytes(body, known_sha256=known_sha256)
    else:
        verdict = verifier.verify_file(file(), known_sha256=known_sha256)
    return verdict, label_for(verdict)


async def verify_file(
    services: Services,
    path: Path | FileOnDemand,
    *,
    known_sha256: str | None = None,
    body: Sequence[bytes] | None = None,
) -> tuple[Verdict, Label]:
    """The verdict from an isolated worker process, and its label.

    `path`: the file, or its path on demand (an upload held in memory, written out in the verify
    thread). `known_sha256`: the file's SHA-256 when it was hashed on its way in (an upload), so
    the worker does not read and hash it again. `body`: the file's bytes when held in memory and
    within what a worker's shared region takes (`verifiable_in_memory`): the worker reads them
    there and the file is never written.
    """
    file = _on_demand(path)
    started = time.perf_counter()
    try:
        return await anyio.to_thread.run_sync(
            functools.partial(_verify_and_label, services, file, known_sha256, body), limiter=services.verify_limiter
        )
    finally:
        services.metrics.engine_seconds.labels("verify").observe(time.perf_counter() - started)


async def verify_and_record(
    services: Services,
    request: VerifyRequest,
    file: FileOnDemand,
    *,
    in_memory: Sequence[bytes] | None = None,
    then: Callable[[], None] | None = None,
) -> VerifyOutcome:
    """The verify use case with the engine call in the verify pool and the store calls in anyio's
    (so a cached answer never waits behind verifications, unless it needs the engine itself).
    `file` (the upload's path, on demand: app/api/uploads.py `Upload.on_disk`) goes with them: a
    file without valid credentials of its own is looked up by content (fingerprinted by a verifier
    worker, each engine call holding a place in the verify limiter: app/api/limited_engine.py), and
    an upload held in memory is written to the spool only when something reads it as a file.
    `in_memory`: the upload's bytes when held in memory (`Upload.in_memory`): the engine reads them
    in a worker's shared memory, without the spool, when they fit there.
    `then`: run in the thread of the last store call, once the file is no longer needed (the
    upload's spool folder removed there: UploadSpool.release), saving a thread hand-off."""
    flow = services.verification
    body = in_memory if verifiable_in_memory(services, in_memory) else None
    if not request.refresh:
        cached = await in_thread(_from_store_then, flow, request, file, then, body is None)
        if cached is not None:
            return cached
    verdict, label = await verify_file(services, file, known_sha256=request.sha256, body=body)
    return await in_thread(_record_then, flow, request, verdict, label, file, then)


def verifiable_in_memory(services: Services, body: Sequence[bytes] | None) -> bool:
    """Whether a verifier worker can read `body` from the memory it shares with this process."""
    return body is not None and 0 < sum(map(len, body)) <= services.worker_pools.verifier.shared_bytes


def _from_store_then(
    flow: VerifyAndRecord,
    request: VerifyRequest,
    file: FileOnDemand,
    then: Callable[[], None] | None,
    spool_to_verify: bool,
) -> VerifyOutcome | None:
    cached = flow.from_store(request, file=file)
    if cached is not None:
        if then is not None:
            then()  # answered: the file is done with
    elif spool_to_verify:
        # To be verified from a file: an upload held in memory goes to the spool now, in this
        # hand-off, and its memory is given back before it waits for a verifier. (One a worker reads
        # in memory stays held, within the process's budget, until the request ends.)
        file()
    return cached


def _record_then(
    flow: VerifyAndRecord,
    request: VerifyRequest,
    verdict: Verdict,
    label: Label,
    file: FileOnDemand,
    then: Callable[[], None] | None,
) -> VerifyOutcome:
    try:
        return flow.record(request, verdict, label, file=file)
    finally:
        if then is not None:
            then()


def _on_demand(path: Path | FileOnDemand) -> FileOnDemand:
    return (lambda: path) if isinstance(path, Path) else path
