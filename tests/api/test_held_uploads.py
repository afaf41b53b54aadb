"""Raw-body verify uploads held in memory (app/api/held_bodies.py), over real sockets: bytes
verified before are answered from the store without a spool folder, others are read by a verifier
worker in shared memory (tests/api/test_verify_in_memory.py); whatever must read the file
(keeping, recovery, a thumbnail) gets it written out; the memory held is bounded per body and per process,
and a body over the bound is spooled as before."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from app.api.held_bodies import HELD_BODIES_MAX_BYTES, BodyMemory
from app.settings import Settings

from .helpers import TEST_UPLOAD_LIMIT, ApiKeys, jpeg_bytes

JPEG = {"Content-Type": "image/jpeg"}
SETTLE_SECONDS = 0.5  # for the server to read what a stalled client sent (a held body leaves no trace on disk)


def _folders(settings: Settings) -> list[str]:
    assert settings.spool_dir is not None
    return sorted(p.name for p in settings.spool_dir.iterdir())


def _wait_until(condition, what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@contextlib.contextmanager
def stalled_raw_verify(
    client: httpx.Client, token: str, *, declared: int, data: bytes, query: str = ""
) -> Iterator[socket.socket]:
    """A raw-body POST /v1/verify that declares `declared` bytes and sends only `data`; closed at the end."""
    host, _, port = str(client.base_url).removeprefix("http://").rstrip("/").partition(":")
    head = (
        f"POST /v1/verify{query} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: image/jpeg\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + data)
        yield connection


def _read_answer(connection: socket.socket) -> bytes:
    """One whole HTTP answer (head and its Content-Length of body)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head + b"\r\n\r\n" + body


def _raw_verify(client: httpx.Client, token: str, data: bytes, **params: str) -> httpx.Response:
    return client.post("/v1/verify", params=params, content=data, headers={**ApiKeys.header(token), **JPEG})


def test_bytes_verified_before_are_answered_without_touching_the_spool(client, api_keys, base_settings):
    photo = jpeg_bytes((256, 256))
    first = _raw_verify(client, api_keys.verify, photo)
    assert first.status_code == 200 and first.json()["cached"] is False, first.text

    # Half of the same bytes sent, the rest withheld: the server holds them in memory, no folder; asked
    # to verify again, too: a verifier worker reads them in shared memory.
    half = len(photo) // 2
    for query, cached in (("", b'"cached":true'), ("?refresh=true", b'"cached":false')):
        with stalled_raw_verify(
            client, api_keys.verify, declared=len(photo), data=photo[:half], query=query
        ) as connection:
            time.sleep(SETTLE_SECONDS)
            assert _folders(base_settings) == []
            connection.sendall(photo[half:])
            answer = _read_answer(connection)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
        assert cached in answer
        assert _folders(base_settings) == []


def test_new_bytes_held_in_memory_are_verified_as_the_same_bytes_spooled(client, api_keys):
    photo = jpeg_bytes((128, 128))
    fresh = _raw_verify(client, api_keys.verify, photo, media_id="held-1")
    assert fresh.status_code == 200, fresh.text
    body = fresh.json()
    assert body["cached"] is False and body["verdict"]["state"] == "none"
    again = client.post(
        "/v1/verify?refresh=true", headers=ApiKeys.header(api_keys.verify), files={"file": ("p.jpg", photo)}
    )
    assert again.json()["verdict"] == body["verdict"]  # the engine read the same bytes (the multipart one spooled)


def test_keeping_a_manifest_answered_from_the_store_reads_the_held_upload(client, api_keys):
    signed = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("gen.jpg", jpeg_bytes(), "image/jpeg")},
        data={"generator": "Held Diffusion"},
    )
    assert signed.status_code == 200, signed.text
    first = _raw_verify(client, api_keys.verify, signed.content)
    assert first.status_code == 200 and first.json()["verdict"]["state"] == "trusted", first.text
    kept = _raw_verify(client, api_keys.verify, signed.content, keep_manifest="true")
    assert kept.status_code == 200, kept.text
    assert kept.json()["cached"] is True
    manifest_id = first.json()["verdict"]["manifests"][0]["label"]
    assert kept.json()["kept_manifest_id"] == manifest_id  # the manifest store was cut from the bytes


def test_memory_held_is_bounded_per_process_and_given_back(client, api_keys, base_settings):
    # Each stalled upload declares the largest accepted body: that much is reserved before reading.
    declared = TEST_UPLOAD_LIMIT
    fit = HELD_BODIES_MAX_BYTES // declared
    token = api_keys.verify
    with contextlib.ExitStack() as uploads:
        held = [
            uploads.enter_context(stalled_raw_verify(client, token, declared=declared, data=b"\xff\xd8\xff" * 10))
            for _ in range(fit)
        ]
        time.sleep(SETTLE_SECONDS)
        assert _folders(base_settings) == []  # all in memory, within the budget
        with stalled_raw_verify(client, token, declared=declared, data=b"\xff\xd8\xff" * 10):
            _wait_until(lambda: len(_folders(base_settings)) == 1, "an upload over the budget goes to disk")
        _wait_until(lambda: _folders(base_settings) == [], "its folder is removed when the client leaves")

        held.pop().close()  # one held upload ends: its memory is given back
        time.sleep(SETTLE_SECONDS)
        with stalled_raw_verify(client, token, declared=declared, data=b"\xff\xd8\xff" * 10):
            time.sleep(SETTLE_SECONDS)
            assert _folders(base_settings) == []  # held again


def test_a_body_over_the_upload_limit_is_never_held(client, api_keys, base_settings):
    # Past ORIGINMARK_MAX_UPLOAD_BYTES (within the drain allowance) the body is read to disk and refused.
    with stalled_raw_verify(client, api_keys.verify, declared=TEST_UPLOAD_LIMIT + 1, data=b"\xff\xd8\xff"):
        _wait_until(lambda: len(_folders(base_settings)) == 1, "a body over the limit is not held in memory")
    _wait_until(lambda: _folders(base_settings) == [], "its folder is removed when the client leaves")


def test_the_budget_never_lends_more_than_it_has():
    memory = BodyMemory(per_body=10, total=25)
    assert memory.reserve(11) is None  # over the per-body bound
    assert memory.reserve(0) is None  # nothing to hold
    first, second = memory.reserve(10), memory.reserve(10)
    assert first is not None and second is not None
    assert memory.reserve(10) is None and memory.held == 20  # over the total
    third = memory.reserve(5)
    assert third is not None and memory.held == 25
    first.release()
    first.release()  # once only
    assert memory.held == 15
    with pytest.raises(ValueError):
        BodyMemory(per_body=10, total=5)


def test_the_budget_holds_under_threads():
    memory = BodyMemory(per_body=3, total=30)
    peak: list[int] = []

    def churn() -> None:
        for _ in range(2000):
            reservation = memory.reserve(3)
            if reservation is not None:
                peak.append(memory.held)
                reservation.release()

    threads = [threading.Thread(target=churn) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert memory.held == 0 and max(peak) <= 30
