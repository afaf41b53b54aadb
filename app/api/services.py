"""What the service runs on, built once per server process and closed at shutdown.

- `Services`: everything a route needs, in one immutable object on `app.state`: the store, the
  worker pools (app/worker_pools.py, shared with the job workers), the metrics and the use cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from app.api.held_bodies import BodyMemory
from app.api.metrics import Metrics
from app.settings import Settings
from app.store.interface import ServiceStore
from app.usecases.signing import SignAndRecord
from app.usecases.soft_binding_resolution import SoftBindingResolution
from app.usecases.thumbnails import PendingBound
from app.usecases.verification import VerifyAndRecord
from app.worker_pools import WorkerPools

# Feed thumbnails made at once per server process (each waits for the sign and verify pools like a
# request; more only queue there): a background task's work, not a request's.
THUMBNAILS_AT_ONCE = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """Everything a route needs; one per app, on `app.state.services`."""

    settings: Settings
    store: ServiceStore
    worker_pools: WorkerPools
    metrics: Metrics
    # Signing and verification each run in their own worker processes; a thread waits for each
    # call. The limiters match the pools' sizes (signing: also at most ORIGINMARK_SIGN_CONCURRENCY),
    # so a thread never sits waiting for a busy worker and a burst of verifications cannot hold
    # the threads that signing needs. Database calls use anyio's
    # default pool, so label reads never queue behind either.
    sign_limiter: anyio.CapacityLimiter
    verify_limiter: anyio.CapacityLimiter
    # The use cases (app/usecases), shared with the web page and the job workers.
    verification: VerifyAndRecord
    signing: SignAndRecord
    resolution: SoftBindingResolution  # the Soft Binding Resolution API (/sbr/v1)
    # Upload bodies held in memory instead of spooled (POST /v1/verify): bounded per body and in all.
    held_bodies: BodyMemory = field(default_factory=BodyMemory)
    # The feed's thumbnails, each made in a worker thread of its own after its answer is sent
    # (app/api/feed_thumbnails.py): at most this many at once, outside the pool label reads use.
    thumbnail_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(THUMBNAILS_AT_ONCE))
    # And at most ORIGINMARK_FEED_THUMBNAILS_MAX_PENDING staged (kept files, waiting or being made);
    # None: unbounded (a Services built by hand in a test).
    thumbnail_backlog: PendingBound | None = None
