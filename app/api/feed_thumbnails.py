"""The feed's thumbnails made after a sign or verify answer (the rules, and the making itself:
app/usecases/thumbnails.py, which the jobs call too).

A route with a media id calls `stage` in the worker thread that ends its request (before its spool
folder is removed), and hands `make` to the response as a background task, which Starlette runs
once the answer is sent; at most ORIGINMARK_FEED_THUMBNAILS_MAX_PENDING are staged at once per
process (Services.thumbnail_backlog: past it a media id keeps its placeholder). `make` runs the use case in a worker thread of its own: at most
THUMBNAILS_AT_ONCE per process, under a limiter of their own (Services.thumbnail_limiter), so a
burst of signatures never fills the thread pool that label reads use; each engine call the use
case makes goes back to the event loop and takes its place in the sign or verify limiter like a
route's (rendition_signing.ServiceEngine). Whatever goes wrong there is logged
(originmark.thumbnails) and changes nothing the caller got.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio.to_thread

from app.api.rendition_signing import ServiceEngine, renditions_use_case
from app.api.services import Services
from app.store.interface import ApiKey
from app.usecases.thumbnails import FeedThumbnails, Staged
from app.wiring import build_feed_thumbnails


def feed_thumbnails(services: Services) -> FeedThumbnails:
    """The feed thumbnails use case with the service's bounds."""
    return build_feed_thumbnails(
        services.store,
        settings=services.settings,
        renditions=renditions_use_case(services),
        pending=services.thumbnail_backlog,
    )


def stage(
    services: Services, key: ApiKey, media_id: str | None, file: Callable[[], Path], sha256: str
) -> Staged | None:
    """The file kept for its thumbnail, or None (FeedThumbnails.stage; blocking: call it from a worker
    thread, before the request's spool folder is removed)."""
    return feed_thumbnails(services).stage(key, media_id, file, sha256)


async def make(services: Services, staged: Staged) -> None:
    """The staged file's signed thumbnail kept (or why not, logged); its folder removed, also when
    cancelled while it waits for its place (a shutdown past its grace period)."""
    try:
        made = await anyio.to_thread.run_sync(
            feed_thumbnails(services).make, ServiceEngine(services), staged, limiter=services.thumbnail_limiter
        )
    finally:
        staged.close()  # done already by `make` when it ran (a second close does nothing)
    if made is not None:
        services.metrics.signatures.labels("signed").inc()  # a thumbnail is a signature like any other
