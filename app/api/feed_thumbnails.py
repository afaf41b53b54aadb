"""The feed's thumbnails made after a sign or verify answer (rules: app/usecases/thumbnails.py).

A route with a media id, for a tenant with feed thumbnails on, calls `stage` in the worker thread
that ends its request (before its spool folder is removed): the file is hard-linked (copied on a
file system without links) into a spool folder of its own, and the route hands `make` to the
response as a background task, which Starlette runs once the answer is sent. Whatever goes wrong
there is logged (originmark.thumbnails) and changes nothing the caller got.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.api import work
from app.api.rendition_signing import check_upstream, renditions_use_case, sign_rendition
from app.api.services import Services
from app.spool import SpoolFolder
from app.store.interface import ApiKey, Thumbnail
from app.usecases.errors import UseCaseError
from app.usecases.renditions import OriginalRef
from app.usecases.signing import SignRequest
from app.usecases.thumbnails import THUMBNAIL_CONTENT_TYPE, ThumbnailNotMade
from signer.errors import SigningError
from verifier.errors import VerifierError

log = logging.getLogger("originmark.thumbnails")


@dataclass(slots=True)
class Staged:
    """A file kept past its request for its thumbnail; `make` removes it."""

    key: ApiKey
    media_id: str
    sha256: str  # the staged file's content
    source: Path
    folder: SpoolFolder


def stage(
    services: Services, key: ApiKey, media_id: str | None, file: Callable[[], Path], sha256: str
) -> Staged | None:
    """The file (`file()`: its path, of content `sha256`) kept for its thumbnail when its tenant has
    them on and has none of this content yet (blocking: call it from a worker thread, before the
    request's spool folder is removed); None otherwise, or when it cannot be kept."""
    if media_id is None:
        return None
    try:
        tenant = services.store.tenant(key.tenant)
        if tenant is None or not tenant.feed_thumbnails:
            return None
        kept = services.store.thumbnail(key.tenant, media_id, public=False)
        if kept is not None and kept.source_sha256 == sha256:
            return None  # a file sent again: its thumbnail stands
        source = file()
    except Exception:  # never the caller's failure: its answer is ready
        log.exception("feed thumbnail of media id %r not made: the file could not be kept for it", media_id)
        return None
    folder = SpoolFolder(services.settings.spool_dir)
    try:
        folder.__enter__()
        target = folder.folder("source") / "original"
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
    except Exception:
        folder.__exit__(None, None, None)
        log.exception("feed thumbnail of media id %r not made: the file could not be kept for it", media_id)
        return None
    return Staged(key=key, media_id=media_id, sha256=sha256, source=target, folder=folder)


async def make(services: Services, staged: Staged) -> None:
    """The staged file's signed thumbnail kept (or why not, logged); its folder removed."""
    try:
        await _make(services, staged)
    except (ThumbnailNotMade, UseCaseError, SigningError, VerifierError, OSError) as error:
        log.info("feed thumbnail of media id %r not made: %s", staged.media_id, error)
    except Exception:
        log.exception("feed thumbnail of media id %r not made", staged.media_id)
    finally:
        await work.in_thread(staged.folder.__exit__, None, None, None)


async def _make(services: Services, staged: Staged) -> None:
    use_case = renditions_use_case(services)
    ref = OriginalRef(media_id=staged.media_id)
    # The tenant's own (renditions use case: the tenant in every query); no credentials: still a
    # picture, labelled "no credentials upstream"; invalid or not kept: none (raised, logged).
    original = await work.in_thread(use_case.original, staged.key, ref, allow_no_upstream=True)
    if original.verdict.sha256 != staged.sha256:
        # Another request pointed the media id at other content meanwhile: that one makes its own.
        raise ThumbnailNotMade("the media id now points at other content")
    kept = await work.in_thread(services.store.thumbnail, staged.key.tenant, staged.media_id, public=False)
    if kept is not None and kept.source_sha256 == original.verdict.sha256:
        return  # the same content again (a cached verify, a re-sent file): its thumbnail stands
    picture = await work.thumbnail_picture(services, staged.source)
    if isinstance(picture, str):
        raise ThumbnailNotMade(picture)
    source = staged.folder.folder("thumbnail") / "thumbnail.jpg"
    await work.in_thread(source.write_bytes, picture.content)
    generation = use_case.generation(original, actions=picture.actions, title=None)
    await check_upstream(services, original, staged.folder)
    destination = staged.folder.folder("signed") / "thumbnail.jpg"
    output, verdict = await sign_rendition(
        services,
        generation,
        source=source,
        source_sha256=hashlib.sha256(picture.content).hexdigest(),
        destination=destination,
    )
    wanted = SignRequest(
        tenant=staged.key.tenant,
        key_id=staged.key.key_id,
        generation=generation,
        media_id=None,  # not a feed item of its own
        private=original.private,
    )
    await work.in_thread(use_case.record, wanted, output, verdict, original)
    content = await work.in_thread(destination.read_bytes)
    await work.in_thread(staged.folder.__exit__, None, None, None)  # done with the files (again in `make`: a no-op)
    thumbnail = Thumbnail(
        tenant=staged.key.tenant,
        media_id=staged.media_id,
        source_sha256=original.verdict.sha256,
        content_type=THUMBNAIL_CONTENT_TYPE,
        content=content,
        private=original.private,
        made_at=datetime.datetime.now(datetime.UTC),
    )
    await work.in_thread(services.store.keep_thumbnail, thumbnail)
    services.metrics.signatures.labels("signed").inc()  # a thumbnail is a signature like any other
    log.info("feed thumbnail of media id %r kept (%d bytes)", staged.media_id, len(content))
