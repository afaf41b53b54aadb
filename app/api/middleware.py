"""Per request: a request id, one structured log line, the request metrics, and a JSON 500.

A plain ASGI middleware (not BaseHTTPMiddleware): it adds no task or buffering around
streamed bodies. It sits just inside Starlette's outermost error middleware, so it also
answers an unhandled exception itself — with the JSON error shape and the request id, the
traceback going to the log only.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_responses import error_body
from app.api.logs import ACCESS_LOGGER
from app.api.metrics import UNMATCHED_ROUTE, Metrics
from app.store.tokens import TOKEN_PREFIX
from verifier.hostile_text import clean_text

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTED_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_API_KEY_START = f"{TOKEN_PREFIX}_".encode()
# The path is the client's text (up to ~64 KB, any decoded character): logged bounded, without controls.
_MAX_LOGGED_PATH = 512

access_log = logging.getLogger(ACCESS_LOGGER)
error_log = logging.getLogger("originmark.api")


# A random per-process prefix and a counter: unique across processes and restarts, and far
# cheaper than uuid4 (os.urandom costs tens of µs per call on some virtual machines).
_ID_PREFIX = secrets.token_hex(8)
_ID_COUNTER = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            # Echoed and logged: only a plain token is taken over, anything else is replaced —
            # including anything shaped like an API key (`om_...`), which a confused client could
            # send here and which must never reach a log.
            if not _ACCEPTED_REQUEST_ID.fullmatch(value) or value.startswith(_API_KEY_START):
                return None
            return value.decode("ascii")
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or _new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:  # noqa: BLE001 - logged with its request id, then the 500 below
            error_log.exception(
                "unhandled error on %s %s",
                scope.get("method"),
                _route_template(scope),
                extra={"request_id": request_id},
            )
            status = 500
            if not response_started:
                await _send_internal_error(send, request_id)
            # A response already under way cannot be changed: the server closes the connection.
        finally:
            seconds = time.perf_counter() - started
            route = _route_template(scope)
            method = scope.get("method", "")
            self.metrics.observe_request(method=method, route=route, status=status, seconds=seconds)
            access_log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "route": route,
                        "path": clean_text(scope.get("path", ""), limit=_MAX_LOGGED_PATH) or "",
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "key_id": state.get("key_id"),
                    }
                },
            )


async def _send_internal_error(send: Send, request_id: str) -> None:
    body = json.dumps(error_body("internal_error", "internal error; see the server log")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
