"""A deadline for receiving every request body: a whole-body limit and a minimum rate.

Why: a client that sends its headers and then trickles the body (or sends nothing) keeps its
request, its spool folder and its socket for as long as it likes. Eight of them took every
place of the public verify page (a hostile-caller review); any upload endpoint can be held the
same way. uvicorn has no body timeout of its own (its `timeout_keep_alive` is for idle
connections between requests).

The rule, as Apache's mod_reqtimeout (`body=...,MinRate=...`): a body must be complete within
`timeout_seconds` of the request's start, and at any moment past a grace period it must have
sent at least `min_bytes_per_second` times the seconds elapsed since the grace period ended. So
a client may start slowly (TLS, a phone waking its radio) but may never fall below the rate for
long, and nothing takes longer than the whole limit. A client that breaks it gets 408
`upload_too_slow` with `Connection: close`.

Done once for every route, here as a plain ASGI middleware that wraps `receive`: multipart
uploads (app/api/uploads.py), JSON bodies (app/api/json_body.py) and whatever reads a body in
future all get the same deadline. The error is raised from inside `receive`, so it unwinds the
route like any other upload error: the partial file is deleted and the request's spool folder
removed (UploadSpool) before the 408 is sent. Once the body is complete `receive` is passed
through untouched (Starlette waits on it for a disconnect while streaming a response).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_responses import request_timeout
from app.settings import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceivePace:
    """How fast a request body must arrive."""

    timeout_seconds: float  # the whole body, from the request's start
    min_bytes_per_second: float  # 0: no minimum rate (the whole-body limit still holds)
    grace_seconds: float  # before the minimum rate is counted

    @classmethod
    def from_settings(cls, settings: Settings) -> ReceivePace:
        return cls(
            timeout_seconds=settings.upload_receive_timeout_seconds,
            min_bytes_per_second=settings.upload_min_bytes_per_second,
            grace_seconds=settings.upload_rate_grace_seconds,
        )

    def deadline(self, *, started: float, received: int) -> float:
        """When the next bytes are due, on the clock that gave `started`."""
        end = started + self.timeout_seconds
        if self.min_bytes_per_second <= 0:
            return end
        return min(end, started + self.grace_seconds + received / self.min_bytes_per_second)


class ReceivePaceMiddleware:
    """Applies a ReceivePace to the body of every HTTP request."""

    def __init__(self, app: ASGIApp, *, pace: ReceivePace) -> None:
        self.app = app
        self.pace = pace

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, _PacedReceive(receive, pace=self.pace), send)


class _PacedReceive:
    __slots__ = ("_receive", "_pace", "_started", "_received", "_complete")

    def __init__(self, receive: Receive, *, pace: ReceivePace) -> None:
        self._receive = receive
        self._pace = pace
        self._started = time.monotonic()
        self._received = 0
        self._complete = False

    async def __call__(self) -> Message:
        if self._complete:
            return await self._receive()
        wait = self._pace.deadline(started=self._started, received=self._received) - time.monotonic()
        message: Message | None = None
        if wait > 0:
            # asyncio's timeout, not anyio's cancel scope: this runs once per body chunk (~50 times
            # for 3 MB) and anyio's scope cost 3x as much CPU per wait (1/10 of the Python time of
            # an upload answered from the store). The server is uvicorn's asyncio loop.
            try:
                async with asyncio.timeout(wait):
                    message = await self._receive()
            except TimeoutError:
                message = None
        if message is None:
            raise request_timeout(
                "upload_too_slow",
                "the request body arrived too slowly and was dropped: send it within "
                f"{self._pace.timeout_seconds:g} s, at {self._pace.min_bytes_per_second:g} bytes/s or more "
                f"after the first {self._pace.grace_seconds:g} s",
            )
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        else:
            self._complete = True  # http.disconnect: nothing more will come
        return message
