"""The engine steps of signing one rendition, shared by POST /v1/renditions (app/api/routes/renditions.py)
and the feed's thumbnails (app/api/feed_thumbnails.py): one signer path for every rendition.

The rules are the renditions use case's (app/usecases/renditions.py); these steps put its engine
work in the worker pools: the original's kept store validated again by the verifier, the rendition
signed by the signer, its output verified.
"""

from __future__ import annotations

from pathlib import Path

from app.api import work
from app.api.services import Services
from app.spool import SpoolFolder
from app.usecases.renditions import Original, Renditions
from app.usecases.signing import SignedOutput
from app.wiring import build_renditions
from signer.manifest import GenerationRequest
from verifier.verdict import Verdict


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
    output = SignedOutput(
        input_sha256=source_sha256,
        output_sha256=verdict.sha256,
        manifest_label=result.manifest_label,
        certificate_fingerprint=result.certificate_fingerprint,
        manifest_store=result.manifest_store,
        fingerprint=result.soft_binding,
    )
    return output, verdict
