"""Slow HTTP clients on raw sockets: headers at once, then the body a few bytes at a time.

What a hostile caller does to hold a server's places (a slowloris on the body). Each `Trickler`
runs in its own thread: it sends the request head and the first bytes of the body, then every
`tick_seconds` the next `bytes_per_tick` bytes (0: nothing more), and reads the server's answer
as soon as there is one (it never sends while an answer is waiting, so the server's close after
its answer does not race the client's next bytes).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from dataclasses import dataclass

BOUNDARY = "sl0wb0undary"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlowAnswer:
    status: int | None  # None: the connection ended with no answer
    raw: bytes
    seconds: float  # from the first byte sent to the answer (or the end)


def multipart_upload(field: str, content: bytes, *, filename: str = "slow.jpg") -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart form with one file."""
    body = (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={BOUNDARY}"


class Trickler:
    def __init__(
        self,
        *,
        base_url: str,
        path: str,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        first_bytes: int = 256,
        bytes_per_tick: int = 0,
        tick_seconds: float = 0.1,
        source_address: str = "127.0.0.1",
    ) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._address = (host, int(port))
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self._head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        ).encode()
        self._body = body
        self._first_bytes = first_bytes
        self._bytes_per_tick = bytes_per_tick
        self._tick_seconds = tick_seconds
        self._source_address = source_address
        self._stop = threading.Event()
        self.started = threading.Event()  # set once the head and the first bytes are sent
        self.sent = 0  # body bytes sent so far
        self._answer: SlowAnswer | None = None
        self._thread = threading.Thread(target=self._run, name="trickler", daemon=True)

    def start(self) -> Trickler:
        self._thread.start()
        if not self.started.wait(10):
            raise RuntimeError("the slow client could not connect")
        return self

    @property
    def answered(self) -> bool:
        return self._answer is not None

    def answer(self, timeout: float) -> SlowAnswer:
        self._thread.join(timeout)
        if self._answer is None:
            raise AssertionError(f"no answer within {timeout} s ({self.sent} body bytes sent)")
        return self._answer

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with socket.create_connection(self._address, timeout=10, source_address=(self._source_address, 0)) as sock:
            began = time.monotonic()
            sock.sendall(self._head + self._body[: self._first_bytes])
            self.sent = min(self._first_bytes, len(self._body))
            self.started.set()
            while not self._stop.is_set():
                readable, _, _ = select.select([sock], [], [], self._tick_seconds)
                if readable:
                    self._answer = _read_answer(sock, began)
                    return
                piece = self._body[self.sent : self.sent + self._bytes_per_tick]
                if piece:
                    try:
                        sock.sendall(piece)
                    except OSError:
                        continue  # the server closed: its answer (if any) is read next round
                    self.sent += len(piece)


def _read_answer(sock: socket.socket, began: float) -> SlowAnswer:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:
        pass  # a reset after the answer: what arrived is kept
    seconds = time.monotonic() - began
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else None
    return SlowAnswer(status=status, raw=received, seconds=seconds)
