"""Feed thumbnails (issue 15, "the feed shows the media"): one small signed thumbnail per media id
of a tenant that turned them on (`originmark tenants update NAME --feed-thumbnails`).

Rules (this module is their one home; the routes and the jobs call `FeedThumbnails`):
- made when a file is signed or verified with a media id: POST /v1/sign and POST /v1/verify after
  the answer is sent (app/api/feed_thumbnails.py), sign and verify jobs after the job succeeded
  (app/jobs/tasks.py). The caller never waits for it, and a thumbnail that cannot be made (a
  format it does not read, a bomb, a failed signature) is logged (originmark.thumbnails) and the
  item keeps its placeholder; the answer, or the job's outcome, is the same either way. A job
  submitted by an operator (no API key) makes none: a rendition is signed for a key's tenant;
- the file is staged (`stage`: hard-linked, or copied, into a spool folder of its own) while the
  request's or the job's copy exists, only when its tenant has thumbnails on and has none of this
  content for the media id yet (the same content again, a cached verify, makes no second one), and
  only when the key's signing policy allows its renditions (Renditions.authorize, as POST
  /v1/renditions and rendition jobs check it; again before it is made): a thumbnail is shown with
  the original's label kind, so a default (AI-only) key verifying a camera's file gets none (logged);
- the picture (verifier/thumbnail.py): an image's first frame, or a video's poster frame (its first
  key frame), upright, at most THUMBNAIL_EDGE px on its longest side, a JPEG, decoded in a verifier
  worker under its limits and bounded before any pixel is read. Audio, PDF, SVG, AVIF and HEIC get
  no thumbnail (their placeholder stays);
- signed as a rendition of the media id's original by the renditions use case
  (app/usecases/renditions.py, the path POST /v1/renditions takes): the original's kept manifest
  store is its parentOf ingredient, its actions the picture's (verifier/thumbnail.py says which and
  why), its label the original's (a rendition whose label would differ is not recorded, and no
  thumbnail is kept). An original without credentials gives a thumbnail labelled "no credentials
  upstream" (the tenant asked for pictures: nothing is invented); an invalid one, or one whose
  store is not kept (verified without keep_manifest), gives none. The thumbnail is recorded like
  any rendition (audit entry, verdict by content, repository entry; private when the original's
  is, or is made so later: app/usecases/repository_visibility.py) but under no media id of its own:
  it is not a feed item;
- made only while the media id still points at the content it was staged from (another request may
  have re-pointed it meanwhile: that one makes its own), checked before the work and again in the
  write itself (app/store/thumbnails.py): an old content's thumbnail never replaces a newer one;
- kept in the database (`feed_thumbnails`, a few tens of KB each: no object store needed, one
  backup), served by GET /v1/thumbnails/{media_id} to the tenant (with a read key) or, with public
  label reads, to anyone naming the tenant, but then only when not private; only while the media id
  still points at the content it was made from. Turning the setting off deletes them.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from app.spool import SpoolFolder
from app.store.interface import ApiKey, ServiceStore, Thumbnail
from app.usecases.errors import UseCaseError
from app.usecases.renditions import Original, OriginalRef, RenditionEngine, Renditions, check_upstream, sign_rendition
from app.usecases.signing import SignRequest
from signer.errors import SigningError
from verifier.errors import VerifierError

if TYPE_CHECKING:
    from verifier.thumbnail import Picture  # Pillow: made and decoded in the verifier workers only

# What verifier/thumbnail.py makes (a JPEG); stored with each thumbnail and served as its Content-Type.
THUMBNAIL_CONTENT_TYPE = "image/jpeg"

log = logging.getLogger("originmark.thumbnails")


class ThumbnailNotMade(Exception):
    """This media id gets no thumbnail now (why, for the log); its placeholder stays."""


class ThumbnailEngine(RenditionEngine, Protocol):
    """The engine calls a thumbnail needs: a rendition's, and its picture made in a verifier worker."""

    def thumbnail_of(self, path: Path) -> Picture | str: ...


class PendingBound:
    """At most `limit` staged files at once (thread-safe): each holds a copy (or a hard link) of its
    file and an open, locked folder until its thumbnail is made, and a burst of slow ones (videos up
    to the worker's timeout) would otherwise queue without end, which a graceful shutdown then waits
    for. Past it a media id keeps its placeholder (logged, `on_refused` called: a metric)."""

    def __init__(self, limit: int, *, on_refused: Callable[[], None] | None = None) -> None:
        self._limit = limit
        self._pending = 0
        self._lock = threading.Lock()
        self._on_refused = on_refused

    @property
    def pending(self) -> int:
        return self._pending

    def take(self) -> bool:
        with self._lock:
            if self._pending >= self._limit:
                full = True
            else:
                self._pending += 1
                full = False
        if full and self._on_refused is not None:
            self._on_refused()
        return not full

    def give_back(self) -> None:
        with self._lock:
            self._pending -= 1


@dataclass(slots=True)
class Staged:
    """A file kept past its request or job for its thumbnail; `FeedThumbnails.make` or `discard`
    removes it (`close`: once, whichever comes first)."""

    key: ApiKey
    media_id: str
    sha256: str  # the staged file's content
    source: Path
    folder: SpoolFolder
    bound: PendingBound | None = None

    def close(self) -> None:
        """The folder removed and its place in the bound given back; a second call does nothing."""
        bound, self.bound = self.bound, None
        self.folder.__exit__(None, None, None)  # idempotent (SpoolFolder)
        if bound is not None:
            bound.give_back()


class FeedThumbnails:
    """The feed thumbnails use case; thread-safe (its calls block: run them from a worker thread)."""

    def __init__(
        self,
        *,
        store: ServiceStore,
        renditions: Renditions,
        spool_dir: Path | None,
        pending: PendingBound | None = None,
    ) -> None:
        self._store = store
        self._renditions = renditions
        self._spool_dir = spool_dir
        self._pending = pending  # None: the caller bounds them (a job makes its own, in its thread)

    def stage(self, key: ApiKey | None, media_id: str | None, file: Callable[[], Path], sha256: str) -> Staged | None:
        """The file (`file()`: its path, of content `sha256`) kept for its thumbnail when `key`'s tenant
        has them on and has none of this content for `media_id` yet; None otherwise, or when it cannot
        be kept (logged). Call it while the file exists: before the request's or job's folder goes."""
        if media_id is None or key is None:
            return None
        try:
            tenant = self._store.tenant(key.tenant)
            if tenant is None or not tenant.feed_thumbnails:
                return None
            kept = self._store.thumbnail(key.tenant, media_id, public=False)
            if kept is not None and kept.source_sha256 == sha256:
                return None  # a file sent again: its thumbnail stands
            stored = self._store.verdict_by_media_id(key.tenant, media_id)
            if stored is not None and stored.sha256 == sha256:
                self._authorized(key, media_id)
            # Otherwise the media id does not point at these bytes yet: a sign job stages its output
            # before recording it (a new id, or one re-pointed from other content, whose policy and
            # credentials are not this file's): `make` checks against the recorded content then.
            source = file()
        except (UseCaseError, SigningError) as error:  # SigningNotPermitted: the key's policy
            log.info("feed thumbnail of media id %r not made: %s", media_id, error)
            return None
        except Exception:  # never the caller's failure: its answer is ready
            log.exception("feed thumbnail of media id %r not made: the file could not be kept for it", media_id)
            return None
        if self._pending is not None and not self._pending.take():
            log.warning(
                "feed thumbnail of media id %r not made: %d are pending already (ORIGINMARK_FEED_THUMBNAILS_MAX_PENDING)",
                media_id,
                self._pending.pending,
            )
            return None
        staged = Staged(
            key=key,
            media_id=media_id,
            sha256=sha256,
            source=Path(),
            folder=SpoolFolder(self._spool_dir),
            bound=self._pending,
        )
        try:
            staged.folder.__enter__()
            staged.source = staged.folder.folder("source") / "original"
            try:
                os.link(source, staged.source)
            except OSError:
                shutil.copyfile(source, staged.source)
        except Exception:
            staged.close()
            log.exception("feed thumbnail of media id %r not made: the file could not be kept for it", media_id)
            return None
        return staged

    def _authorized(self, key: ApiKey, media_id: str) -> Original:
        """The media id's original, when `key`'s signing policy may sign its renditions (the check
        POST /v1/renditions and rendition jobs make: Renditions.authorize; SigningNotPermitted
        otherwise): a thumbnail is a rendition shown with the original's label kind, and a key that
        may not claim it (a default key verifying a camera's file) gets none. UseCaseError when the
        original gives no rendition at all (invalid, store not kept)."""
        original = self._renditions.original(key, OriginalRef(media_id=media_id), allow_no_upstream=True)
        self._renditions.authorize(key, original)
        return original

    def discard(self, staged: Staged) -> None:
        """The staged file removed without a thumbnail (its request or job ended otherwise)."""
        staged.close()

    def make(self, engine: ThumbnailEngine, staged: Staged) -> Thumbnail | None:
        """The staged file's signed thumbnail kept (None: why not, logged); its folder removed."""
        try:
            return self._make(engine, staged)
        except (ThumbnailNotMade, UseCaseError, SigningError, VerifierError, OSError) as error:
            log.info("feed thumbnail of media id %r not made: %s", staged.media_id, error)
        except Exception:
            log.exception("feed thumbnail of media id %r not made", staged.media_id)
        finally:
            staged.close()
        return None

    def _make(self, engine: ThumbnailEngine, staged: Staged) -> Thumbnail | None:
        use_case = self._renditions
        tenant = staged.key.tenant
        # The tenant's own (renditions use case: the tenant in every query); no credentials: still a
        # picture, labelled "no credentials upstream"; invalid or not kept: none (raised, logged).
        # The key's policy again: the key, its policy or the original may have changed since `stage`.
        original = self._authorized(staged.key, staged.media_id)
        if original.verdict.sha256 != staged.sha256:
            # Another request pointed the media id at other content meanwhile: that one makes its own.
            raise ThumbnailNotMade("the media id now points at other content")
        kept = self._store.thumbnail(tenant, staged.media_id, public=False)
        if kept is not None and kept.source_sha256 == original.verdict.sha256:
            return None  # the same content again (a cached verify, a re-sent file): its thumbnail stands
        picture = engine.thumbnail_of(staged.source)
        if isinstance(picture, str):
            raise ThumbnailNotMade(picture)
        source = staged.folder.folder("thumbnail") / "thumbnail.jpg"
        source.write_bytes(picture.content)
        generation = use_case.generation(original, actions=picture.actions, title=None)
        check_upstream(engine, original, staged.folder.folder("upstream"))
        destination = staged.folder.folder("signed") / "thumbnail.jpg"
        output, verdict = sign_rendition(
            engine,
            generation,
            source=source,
            source_sha256=hashlib.sha256(picture.content).hexdigest(),
            destination=destination,
        )
        wanted = SignRequest(
            tenant=tenant,
            key_id=staged.key.key_id,
            generation=generation,
            media_id=None,  # not a feed item of its own
            private=original.private,
        )
        use_case.record(wanted, output, verdict, original)
        thumbnail = Thumbnail(
            tenant=tenant,
            media_id=staged.media_id,
            source_sha256=original.verdict.sha256,
            content_type=THUMBNAIL_CONTENT_TYPE,
            content=destination.read_bytes(),
            private=original.private,
            made_at=datetime.datetime.now(datetime.UTC),
        )
        carries = None
        if original.manifest_id is not None and original.store_sha256 is not None:
            carries = (original.manifest_id, original.store_sha256)
        if not self._store.keep_thumbnail(thumbnail, carries=carries):
            # Re-pointed during the slow work (perhaps its own thumbnail kept already): never overwritten.
            raise ThumbnailNotMade("the media id now points at other content")
        log.info("feed thumbnail of media id %r kept (%d bytes)", staged.media_id, len(thumbnail.content))
        return thumbnail
