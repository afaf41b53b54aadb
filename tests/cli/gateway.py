"""A gateway on loopback in front of a real `originmark serve`, as a rate-limiting proxy or a load
balancer would stand there: it records what each request carried and forwards it, except the
answers a test plans for given bodies (a 429 with Retry-After, a 502 with no backend, ...).

Why: the service itself never answers 429 to POST /v1/verify, and answers 5xx only when it is
broken; what `verify --server` does with such answers is tested against these, over real HTTP,
with every other request answered by the real service.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One request as it reached the gateway."""

    arrived: float  # time.monotonic() when its body had been read
    content_type: str | None
    content_length: str | None
    sha256: str  # of the body
    answered: int  # the status the client got


@dataclass(frozen=True, slots=True, kw_only=True)
class Planned:
    """An answer the gateway gives instead of forwarding."""

    status: int
    retry_after: str | None = None
    code: str = "planned"
    html: bool = False  # the page a proxy shows, not the API's JSON error

    def body(self) -> bytes:
        if self.html:
            return f"<html><body><h1>{self.status}</h1></body></html>".encode()
        return json.dumps({"error": {"code": self.code, "message": f"the gateway answered {self.status}"}}).encode()


class Gateway:
    """Forwards to `upstream`; `plan(sha256, answers)` answers the next requests with that body from `answers`."""

    def __init__(self, upstream: str) -> None:
        self.seen: list[Seen] = []
        self._plans: dict[str, list[Planned]] = {}
        self._lock = threading.Lock()
        self._upstream = httpx.Client(base_url=upstream, timeout=120)
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # kept-alive connections, as the client uses them

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.monotonic()
                digest = hashlib.sha256(body).hexdigest()
                with gateway._lock:
                    planned = gateway._plans.get(digest)
                    answer = planned.pop(0) if planned else None
                if answer is not None:
                    status, headers, payload = answer.status, _planned_headers(answer), answer.body()
                else:
                    forwarded = gateway._upstream.post(
                        self.path,
                        content=body,
                        headers={k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS},
                    )
                    status, payload = forwarded.status_code, forwarded.content
                    headers = {k: v for k, v in forwarded.headers.items() if k.lower() not in _HOP_HEADERS}
                with gateway._lock:
                    gateway.seen.append(
                        Seen(
                            arrived=arrived,
                            content_type=self.headers.get("Content-Type"),
                            content_length=self.headers.get("Content-Length"),
                            sha256=digest,
                            answered=status,
                        )
                    )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:  # quiet
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="gateway")
        self._thread.start()

    def plan(self, body: bytes, answers: list[Planned]) -> None:
        with self._lock:
            self._plans[hashlib.sha256(body).hexdigest()] = list(answers)

    def requests_with(self, body: bytes) -> list[Seen]:
        digest = hashlib.sha256(body).hexdigest()
        with self._lock:
            return [seen for seen in self.seen if seen.sha256 == digest]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._upstream.close()


# Per connection, not forwarded (RFC 9110 7.6.1); lengths are set again for the body sent.
_HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding", "te", "upgrade"}
)


def _planned_headers(answer: Planned) -> dict[str, str]:
    headers = {"Content-Type": "text/html" if answer.html else "application/json"}
    if answer.retry_after is not None:
        headers["Retry-After"] = answer.retry_after
    return headers


@contextmanager
def gateway_to(upstream: str) -> Iterator[Gateway]:
    gateway = Gateway(upstream)
    try:
        yield gateway
    finally:
        gateway.close()
