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
        paced = _PacedReceive(receive, pace=self.pace)
        try:
            await self.app(scope, paced, send)
        finally:
            paced.close()


class _PacedReceive:
    """`receive` with the pace's deadline: one timer per request body, not one per chunk.

    A 3 MB body arrives in ~15-50 chunks; a timeout armed and disarmed around each of them (as
    `asyncio.timeout` does) was a tenth of the event loop's CPU for an upload answered from the
    store. Here one timer is armed at the deadline known when the body starts; when it fires it
    looks again (the deadline moves later as bytes arrive: the minimum rate) and either re-arms at
    the new deadline or, if it has passed while a receive waits, cancels that wait, which becomes
    the 408. The cancellation is told apart from any other (the client gone, server shutdown) as
    `asyncio.timeout` does it: by the task's cancel count (`uncancel`)."""

    __slots__ = ("_receive", "_pace", "_started", "_received", "_complete", "_timer", "_waiting", "_expired")

    def __init__(self, receive: Receive, *, pace: ReceivePace) -> None:
        self._receive = receive
        self._pace = pace
        self._started = time.monotonic()
        self._received = 0
        self._complete = False
        self._timer: asyncio.TimerHandle | None = None
        self._waiting: tuple[asyncio.Task, int] | None = None  # the task in a receive, its cancel count before
        self._expired = False  # the timer cancelled the waiting receive

    def _deadline(self) -> float:
        return self._pace.deadline(started=self._started, received=self._received)

    def _arm(self, seconds: float) -> None:
        # call_later: the loop's own clock (uvloop's is not time.monotonic's), `seconds` from now.
        self._timer = asyncio.get_running_loop().call_later(seconds, self._on_timer)

    def close(self) -> None:
        """The request has ended: no timer outlives it (a body left unread keeps none alive)."""
        self._complete = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _too_slow(self) -> Exception:
        return request_timeout(
            "upload_too_slow",
            "the request body arrived too slowly and was dropped: send it within "
            f"{self._pace.timeout_seconds:g} s, at {self._pace.min_bytes_per_second:g} bytes/s or more "
            f"after the first {self._pace.grace_seconds:g} s",
        )

    def _on_timer(self) -> None:
        self._timer = None
        if self._complete:
            return
        remaining = self._deadline() - time.monotonic()
        if remaining > 0:  # bytes came meanwhile: the deadline moved
            self._arm(remaining)
            return
        if self._waiting is not None and not self._expired:
            self._expired = True
            self._waiting[0].cancel()
        # No receive waiting: the next one finds the deadline passed.

    async def __call__(self) -> Message:
        if self._complete:
            return await self._receive()
        wait = self._deadline() - time.monotonic()
        if wait <= 0:
            raise self._too_slow()
        if self._timer is None:
            self._arm(wait)
        task = asyncio.current_task()
        assert task is not None  # a receive is always awaited by a task (the request's)
        self._waiting = (task, task.cancelling())
        try:
            message = await self._receive()
        except asyncio.CancelledError:
            if self._expired and task.uncancel() <= self._waiting[1]:
                raise self._too_slow() from None
            raise
        finally:
            self._waiting = None
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        else:
            self._complete = True  # http.disconnect: nothing more will come
        if self._complete:
            self.close()
        return message
