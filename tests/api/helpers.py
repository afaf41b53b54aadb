"""Helpers for the API tests: media made on the fly, API key tokens, a uvicorn server in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from PIL import Image

from app.store.migrate import upgrade_database
from tests.support import postgres_schema

TEST_UPLOAD_LIMIT = 4 * 1024 * 1024  # small, so the 413 tests stay fast
BACKENDS = ("sqlite", "postgresql")
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def backend_database(backend: str, *, request, tmp_path) -> Iterator[str]:
    """A migrated, empty database on `backend` for one test."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/originmark.db"
        upgrade_database(url)
        yield url
        return
    with postgres_schema(request.getfixturevalue("postgres_server")) as url:
        upgrade_database(url)
        yield url


def jpeg_bytes(size: tuple[int, int] = (64, 64), *, seed: int | None = None) -> bytes:
    """A small real JPEG; a different `seed` gives different bytes (and so a different SHA-256)."""
    seed = secrets.randbelow(1 << 30) if seed is None else seed
    image = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, (seed * 13) % 256))
    image.putpixel((0, 0), (seed % 256, (seed >> 8) % 256, (seed >> 16) % 256))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKeys:
    """Tokens for each kind of caller (shown once by the store, kept here for the test)."""

    sign: str
    verify: str
    read: str
    all: str

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _QuickServer(uvicorn.Server):
    """uvicorn checks for shutdown every 100 ms; tests start and stop many servers."""

    async def main_loop(self) -> None:
        while not await self.on_tick(0):
            await asyncio.sleep(0.005)


class AppSwitch:
    """An ASGI app forwarding to whichever app a test installed: one uvicorn server serves them all.

    Each installed app gets its own lifespan (run on the server's event loop) and so its own
    services and metrics, exactly as if it were served alone; only the socket is shared.
    """

    def __init__(self) -> None:
        self._current: FastAPI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            self._loop = asyncio.get_running_loop()
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self._current is not None, "no app installed"
        await self._current(scope, receive, send)

    @contextlib.contextmanager
    def installed(self, app: FastAPI) -> Iterator[None]:
        assert self._loop is not None, "serve the switch first"
        lifespan = app.router.lifespan_context(app)
        asyncio.run_coroutine_threadsafe(lifespan.__aenter__(), self._loop).result(60)
        self._current = app
        try:
            yield
        finally:
            self._current = None
            asyncio.run_coroutine_threadsafe(lifespan.__aexit__(None, None, None), self._loop).result(60)


@contextlib.contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """uvicorn on a free port in a background thread; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on")
    server = _QuickServer(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def sign_form(**fields: str) -> dict[str, str]:
    return {"generator": "Test Diffusion", "generator_version": "1.0", **fields}


def assert_error(response, status: int, code: str) -> dict:
    """The response is the JSON error shape with this status and code; returns the "error" member."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert "Traceback" not in response.text
    assert response.headers.get("x-request-id")
    return error


def raw_exchange(base_url: str, request: bytes, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send hand-written HTTP/1.1 bytes (for what httpx refuses to send, like a lying
    Content-Length); return the status code and everything the server sent."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
            if b"\r\n\r\n" in received:
                head, _, body = received.partition(b"\r\n\r\n")
                length = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    status = int(received.split(b" ", 2)[1])
    return status, received


def check_signed_thumbnail(
    plain_reader, response, *, source_sha256: str, size: tuple[int, int], parent: str, actions: list[str]
) -> tuple[dict, dict]:
    """A feed thumbnail as GET /v1/thumbnails/{id} served it: of the content `source_sha256`, a JPEG of
    `size`, Trusted to a plain c2pa reader, its one ingredient the `parent` manifest (parentOf), its
    actions `actions`. Returns that ingredient (the reader's JSON) and the crJSON."""
    assert response.status_code == 200, response.text
    assert response.headers["x-source-sha256"] == source_sha256
    with Image.open(io.BytesIO(response.content)) as image:
        assert (image.format, image.size) == ("JPEG", size)
    report, crjson = plain_reader(response.content)
    assert report["validation_state"] == "Trusted", report.get("validation_results")
    active = report["manifests"][report["active_manifest"]]
    [ingredient] = active["ingredients"]
    assert (ingredient["relationship"], ingredient["active_manifest"]) == ("parentOf", parent)
    assert [a["action"] for a in active["assertions"][0]["data"]["actions"]] == actions
    return ingredient, crjson


def forge_original_label(monkeypatch, kind) -> None:
    """Every rendition's original read with its stored label forged to `kind` (a verifier.label_types
    LabelKind): the renditions use case's label guard is not reached with real data."""
    import dataclasses

    from app.usecases.renditions import Renditions

    real = Renditions.original

    def forged(self, key, ref, *, allow_no_upstream):
        found = real(self, key, ref, allow_no_upstream=allow_no_upstream)
        label = dataclasses.replace(found.verdict.label, kind=kind)
        return dataclasses.replace(found, verdict=dataclasses.replace(found.verdict, label=label))

    monkeypatch.setattr(Renditions, "original", forged)


def limit_verdict(code: str = "resource_limit"):
    """The `error` verdict of a verifier stopped at a limit per file (its time limit, with
    `resource_limit`; over its size limit, with `too_large`): no content hash, as the isolated
    verifier gives it (verifier/isolation.py). Hard to reach on purpose with a real small file."""
    from verifier.verdict import Verdict, VerdictError, VerdictState

    return Verdict(
        state=VerdictState.ERROR,
        sha256="",
        size=1,
        engine_version="test",
        reason=f"stopped at the verifier's limit ({code})",
        error_code=VerdictError(code),
    )
