"""The HTTP protocol `originmark serve` runs (app/api/http_protocol.py): bodies in larger pieces, intact."""

from __future__ import annotations

import asyncio
import hashlib
import os

import httpx

from app.api.http_protocol import RECEIVE_HIGH_WATER_BYTES

from .helpers import serve_in_thread

_UVICORN_DEFAULT_PIECE = 64 * 1024 + 256 * 1024  # its pause threshold plus one uvloop read


def _body_recorder(pieces: list[int], *, wait_before_reading: float = 0.0):
    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await asyncio.sleep(wait_before_reading)  # the body piles up meanwhile, up to the threshold
        digest = hashlib.sha256()
        while True:
            message = await receive()
            body = message.get("body", b"")
            if body:
                pieces.append(len(body))
                digest.update(body)
            if not message.get("more_body", False):
                break
        answer = digest.hexdigest().encode()
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(answer))]}
        )
        await send({"type": "http.response.body", "body": answer})

    return app


def test_a_body_arrives_intact_in_pieces_up_to_the_threshold():
    body = os.urandom(5 * 1024 * 1024 + 17)
    pieces: list[int] = []
    with serve_in_thread(_body_recorder(pieces, wait_before_reading=0.5)) as base_url:
        answer = httpx.post(f"{base_url}/", content=body, timeout=30)
    assert answer.status_code == 200
    assert answer.text == hashlib.sha256(body).hexdigest()
    assert sum(pieces) == len(body)
    # The app did not read for half a second: the first piece is what the server held meanwhile,
    # more than uvicorn's own threshold would have let it hold, never more than ours plus one read.
    assert _UVICORN_DEFAULT_PIECE < pieces[0] <= RECEIVE_HIGH_WATER_BYTES + 256 * 1024
