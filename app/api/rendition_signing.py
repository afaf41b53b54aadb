"""The engine steps of signing one rendition in the service's worker pools, for POST /v1/renditions
(app/api/routes/renditions.py); the feed's thumbnails take the same steps from a thread
(app/usecases/renditions.py `check_upstream`, `sign_rendition`, through `ServiceEngine`): one signer
path for every rendition.

The rules are the renditions use case's (app/usecases/renditions.py); these steps put its engine
work in the worker pools: the original's kept store validated again by the verifier, the rendition
signed by the signer, its output verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import anyio.from_thread

from app.api import work
from app.api.services import Services
from app.spool import SpoolFolder
from app.usecases.renditions import Original, Renditions, rendition_output
from app.usecases.signing import SignedOutput
from app.wiring import build_renditions
from signer.engine import SignResult
from signer.manifest import GenerationRequest
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from verifier.thumbnail import Picture  # Pillow: made and decoded in the verifier workers only


def renditions_use_case(services: Services) -> Renditions:
    """The renditions use case with the service's bounds: the route's and the thumbnails' alike."""
    return build_renditions(services.settings, store=services.store, signing=services.signing)


async def check_upstream(services: Services, original: Original, spool: SpoolFolder) -> None:
    """UpstreamCredentialsUnusable unless the original's kept store (if any) still validates, read
    now apart from its asset, in the verify pool (like recovery's: it is parsed in a worker)."""
    path = Renditions.kept_store_file(original, spool.folder("upstream"))
    if path is None:
        return
    checked = await work.verify_manifest_store(services, path)
    Renditions.check_kept_store(original, checked)


async def sign_rendition(
    services: Services, generation: GenerationRequest, *, source: Path, source_sha256: str, destination: Path
) -> tuple[SignedOutput, Verdict]:
    """The rendition at `source` signed into `destination`, and the verifier's verdict on the output."""
    result = await work.sign_file(services, source=source, destination=destination, request=generation)
    verdict, _label = await work.verify_file(services, destination)
    return rendition_output(result, verdict, source_sha256=source_sha256), verdict


class ServiceEngine:
    """The engine calls of the use cases that run in a worker thread of their own (the feed's
    thumbnails: app/usecases/thumbnails.py), each taken back to the event loop to run as a route's
    does: in the sign or verify pool, holding a place in its limiter, timed in the metrics. The
    thread waits; the event loop does not."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def verify_manifest_store(self, path: Path) -> Verdict:
        return anyio.from_thread.run(work.verify_manifest_store, self._services, path)

    def sign_file(self, *, source: Path, destination: Path, request: GenerationRequest) -> SignResult:
        return anyio.from_thread.run(self._sign_file, source, destination, request)

    async def _sign_file(self, source: Path, destination: Path, request: GenerationRequest) -> SignResult:
        return await work.sign_file(self._services, source=source, destination=destination, request=request)

    def verify_file(self, path: Path) -> Verdict:
        verdict, _label = anyio.from_thread.run(work.verify_file, self._services, path)
        return verdict

    def thumbnail_of(self, path: Path) -> Picture | str:
        return anyio.from_thread.run(work.thumbnail_picture, self._services, path)
