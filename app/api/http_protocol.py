"""uvicorn's httptools protocol, receiving a request body in fewer, larger pieces.

Why: uvicorn stops reading a connection as soon as more than 64 KiB of body wait for the app
(`flow_control.HIGH_WATER_LIMIT`), while uvloop reads up to 256 KiB at a time. So every read
of an upload pauses the socket and every piece is one round trip through the event loop: the
parser's callback, a task wake-up, `receive`, the receive deadline (app/api/receive_pace.py) and
the upload's own write and hash, then resuming the socket. A 3 MB JPEG arrived as 12-14 pieces.
With the pause at `RECEIVE_HIGH_WATER_BYTES` the same body arrives in 3-4 pieces, the bytes
themselves hashed and copied exactly as before. On python-svc (2026-12-07, load ~2) a bare ASGI
app that only reads such a body spent 0.87 ms of CPU per request instead of 1.59 ms, and an
upload answered from the store ~0.25 ms less (bench/http_request_cpu.py stored-raw, medians of
four alternating runs: 5.19 against 5.44 ms).

Still bounded: a connection whose app is not reading holds at most this much body plus one read
in memory (uvicorn's own: 64 KiB plus one read). Only the pause threshold differs from uvicorn's
HttpToolsProtocol; everything else is its own code.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

RECEIVE_HIGH_WATER_BYTES = 1024 * 1024
# What `originmark serve` (and the tests' server) hand to uvicorn as `http=`.
HTTP_PROTOCOL = f"{__name__}:UploadHttpProtocol"


class UploadHttpProtocol(HttpToolsProtocol):
    def on_body(self, body: bytes) -> None:
        # uvicorn's on_body, the threshold aside (uvicorn 0.55 httptools_impl).
        if (self.parser.should_upgrade() and self._should_upgrade()) or self.cycle.response_complete:
            return
        self.cycle.body += body
        if len(self.cycle.body) > RECEIVE_HIGH_WATER_BYTES:
            self.flow.pause_reading()
        self.cycle.message_event.set()
