"""The FastAPI application: `create_app(settings)`, and the factory `originmark serve` runs.

Start-up (the lifespan, once per server process): signing credentials (development ones on
first start, with a loud warning) and database migrations; then the store, the signer (its
probe must pass) and the verifier worker pool. Shutdown closes them in reverse order,
waiting for verifications in flight.

Tests (and embedders) may pass an already open `store` and/or built `worker_pools`; the app then
uses them as they are and leaves closing them to the caller.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.api.api_docs import install_api_docs
from app.api.error_responses import install_error_handlers
from app.api.limited_engine import LimitedEngine
from app.api.logs import configure_logging
from app.api.metrics import Metrics
from app.api.middleware import RequestContextMiddleware
from app.api.receive_pace import ReceivePace, ReceivePaceMiddleware
from app.api.routes import (
    health,
    jobs,
    labels,
    recent_labels,
    renditions,
    repository,
    sbr,
    sign,
    thumbnails,
    verdicts,
    verify,
)
from app.api.services import Services, ServiceStore
from app.service_setup import ensure_signing_credentials
from app.settings import Settings
from app.usecases.thumbnails import PendingBound
from app.web import STATIC_DIR, web_router
from app.wiring import (
    build_signing,
    build_soft_binding_resolution,
    build_verification,
    build_worker_pools,
    open_service_store,
)
from app.worker_pools import WorkerPools
from signer.manifest import originmark_version

log = logging.getLogger("originmark.api")

API_DESCRIPTION = """\
Sign AI-generated media with C2PA Content Credentials, verify uploads, and serve feed labels.

Authenticate with `Authorization: Bearer <key>` (keys from `originmark apikey create`, scopes
`sign`, `verify`, `read`, `sbr`). Every error is JSON: `{"error": {"code": ..., "message": ...}}`.
"""


def _stop_embedded_jobs(app: FastAPI) -> None:
    """The in-process job runner (SQLite: no workers), if a job request started one."""
    queue = getattr(app.state, "job_queue", None)
    if queue is not None and queue.embedded is not None:
        queue.embedded.close()


def create_app(
    settings: Settings,
    *,
    store: ServiceStore | None = None,
    worker_pools: WorkerPools | None = None,
    freeze_gc_after_startup: bool = False,
) -> FastAPI:
    """The service. `freeze_gc_after_startup` is for a real server process (see app_from_environment)."""
    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as owned:
            service_store = store
            if service_store is None:
                service_store = await anyio.to_thread.run_sync(_open_migrated_store, settings)
                owned.push_async_callback(anyio.to_thread.run_sync, service_store.close)
            service_worker_pools = worker_pools
            if service_worker_pools is None:
                service_worker_pools = await anyio.to_thread.run_sync(_build_worker_pools, settings)
                owned.push_async_callback(anyio.to_thread.run_sync, service_worker_pools.close)
            verify_limiter = anyio.CapacityLimiter(settings.verify_workers)
            app.state.services = Services(
                settings=settings,
                store=service_store,
                worker_pools=service_worker_pools,
                metrics=metrics,
                sign_limiter=anyio.CapacityLimiter(min(settings.sign_concurrency, settings.sign_workers)),
                verify_limiter=verify_limiter,
                # Recovery's and keeping's engine calls wait for a place like a verification does.
                verification=build_verification(
                    service_store,
                    settings=settings,
                    worker_pools=service_worker_pools,
                    engine=LimitedEngine(service_worker_pools.verifier, verify_limiter),
                ),
                signing=build_signing(
                    service_store,
                    settings=settings,
                    trust_fingerprint=service_worker_pools.trust_fingerprint,
                    certificate_fingerprint=service_worker_pools.certificate_fingerprint,
                ),
                resolution=build_soft_binding_resolution(settings, service_store, worker_pools=service_worker_pools),
                thumbnail_backlog=PendingBound(
                    settings.feed_thumbnails_max_pending, on_refused=metrics.thumbnails_not_staged.inc
                ),
            )
            # Built now, not on the first sign request: a bad Redis URL stops the start with its reason.
            from app.wiring import build_sign_rate_limiter

            app.state.sign_rate_limiter = build_sign_rate_limiter(settings)
            if hasattr(app.state.sign_rate_limiter, "close"):
                owned.push_async_callback(anyio.to_thread.run_sync, app.state.sign_rate_limiter.close)
            # Registered after the worker pools, so run before they close: jobs in flight finish first.
            owned.push_async_callback(anyio.to_thread.run_sync, _stop_embedded_jobs, app)
            log.info(
                "originmark is ready",
                extra={
                    "fields": {
                        "sign_concurrency": settings.sign_concurrency,
                        "verify_workers": settings.verify_workers,
                        "public_label_reads": settings.public_label_reads,
                        "max_upload_bytes": settings.max_upload_bytes,
                        "trust_fingerprint": service_worker_pools.trust_fingerprint,
                    }
                },
            )
            if freeze_gc_after_startup:
                # Everything allocated at start-up (modules, trust lists, the app) lives as long as
                # the process. Moved out of the collector's reach, full collections no longer walk
                # it: they took 70-95 ms each and every request in flight waited (label p99 26-49 ms
                # before, 15-17 ms after; bench/http_labels_bench.py).
                gc.collect()
                gc.freeze()
            yield

    app = FastAPI(
        title="originmark",
        version=originmark_version(),
        description=API_DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # FastAPI's own pages load their assets from a CDN: app/api/api_docs.py serves them
        redoc_url=None,
    )
    install_api_docs(app)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(ReceivePaceMiddleware, pace=ReceivePace.from_settings(settings))
    for module in (
        sign,
        renditions,
        verify,
        verdicts,
        recent_labels,
        labels,
        thumbnails,
        health,
        jobs,
        sbr,
        repository,
    ):
        app.include_router(module.router)
    if settings.web_pages:  # the verify page (/) and the feed page (/feed): app/web
        app.include_router(web_router(settings))
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _open_migrated_store(settings: Settings) -> ServiceStore:
    from app.store.migrate import upgrade_database

    upgrade_database(settings.database_url)
    return open_service_store(settings)


def _build_worker_pools(settings: Settings) -> WorkerPools:
    ensure_signing_credentials(settings)
    return build_worker_pools(settings)


def app_from_environment() -> FastAPI:
    """The factory `originmark serve` hands to uvicorn (settings from ORIGINMARK_* variables)."""
    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings, freeze_gc_after_startup=True)
