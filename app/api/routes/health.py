"""Operations: GET /healthz (alive), GET /readyz (database + signer), GET /metrics (Prometheus).

None of them needs an API key: orchestrators and scrapers call them. /metrics exposes only
counts and timings by route template and outcome, never ids or keys; keep it on an internal
network all the same.
"""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from app.api import work
from app.api.deps import ServicesDep
from app.api.error_responses import error_body

router = APIRouter(tags=["operations"])
log = logging.getLogger("originmark.api")

READINESS_TIMEOUT_SECONDS = 5.0


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and the signer passed its start-up self-test")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    # The signer exists only once its probe image signed and verified (signer/probe.py).
    checks["signer"] = f"ok ({services.worker_pools.signer.probe.state.lower()} probe)"
    try:
        with anyio.fail_after(READINESS_TIMEOUT_SECONDS):
            await work.in_thread(services.store.ping)
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means "not ready", said in the body
        log.warning("readiness: database check failed: %s: %s", type(error).__name__, error)
        checks["database"] = "unreachable"
        body = error_body("not_ready", "the database is not reachable", {"checks": checks})
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"status": "ready", "checks": checks})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(services: ServicesDep) -> Response:
    return Response(services.metrics.render(), media_type=services.metrics.content_type)
