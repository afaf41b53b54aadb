"""What a job worker runs with, and how a run ended: the types app/jobs shares.

The store and the worker pools are Protocols of exactly what the jobs call, so this module imports
neither app.store.sql nor app.worker_pools (app.wiring builds both, and builds runtimes).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from app.objects.router import ObjectStores
from app.settings import Settings
from app.store.interface import ServiceStore
from app.usecases.renditions import Renditions
from app.usecases.signing import SignAndRecord
from app.usecases.verification import VerifyAndRecord
from signer.engine import ContentSigner
from signer.isolation import IsolatedSigner
from signer.rotation import RotatingSigner
from verifier.isolation import IsolatedVerifier


class JobWorkerPools(Protocol):
    """The API's worker pools (app.worker_pools.WorkerPools), as the jobs use them."""

    @property
    def signer(self) -> RotatingSigner | IsolatedSigner | ContentSigner: ...

    @property
    def verifier(self) -> IsolatedVerifier: ...

    @property
    def trust_fingerprint(self) -> str: ...

    @property
    def certificate_fingerprint(self) -> str: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRuntime:
    """What a worker process builds once: the same store, object stores and worker pools as the API."""

    settings: Settings
    store: ServiceStore
    objects: ObjectStores
    worker_pools: JobWorkerPools
    verification: VerifyAndRecord  # the same use cases as the routes (built by app.wiring.build_job_runtime)
    signing: SignAndRecord
    renditions: Renditions  # built on `signing`, with the configured bound on an original's store

    def close(self) -> None:
        self.worker_pools.close()
        self.store.close()


class JobRun(enum.Enum):
    """How a run of a job ended when it raised nothing (a failed attempt raises)."""

    FINISHED = "finished"  # the job succeeded in this run
    SKIPPED_ALREADY_DONE = "skipped_already_done"  # delivered again after it had succeeded: nothing done
    # Failed for good without a retry: what was asked is no longer allowed (key revoked, signing
    # policy narrowed) or no longer what was submitted (the pinned source changed). Recorded on the row.
    REFUSED = "refused"
