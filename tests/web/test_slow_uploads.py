"""The public verify page against slow and greedy clients, over real sockets (issue 12).

Before: the page's verifier place was taken before the body arrived and receiving had no time
limit, so 8 connections trickling bytes (ORIGINMARK_WEB_MAX_PENDING=8) made every other upload
503 until they closed. Now: the place is taken once the body is spooled, each client address has
at most ORIGINMARK_WEB_MAX_UPLOADS_PER_CLIENT uploads in flight (429 past it), and a body that is
too slow is cut off with 408 (app/api/receive_pace.py). The slow clients connect from other
loopback addresses (127.0.0.2...) so that the server sees distinct clients, as it would on the
internet; the settings are seconds, not minutes, so that each test takes a few seconds.
"""

from __future__ import annotations

import threading
import time

import httpx

from app.store.interface import Scope
from tests.slow_clients import Trickler, multipart_upload
from tests.verifier.hostile_assets import assertion_bomb

from .conftest import file_part

# Slow clients trickle at 640 bytes/s, above this minimum rate: only the whole-body limit ends them.
HOLDING = {"upload_receive_timeout_seconds": 3.0, "upload_min_bytes_per_second": 100, "upload_rate_grace_seconds": 0.5}
# The ninth client's verdict must come while the eight are still sending: a deadline with room for a
# slow, busy CI machine (the point is "not blocked", not "fast").
HOLDING_LONG = {**HOLDING, "upload_receive_timeout_seconds": 8.0}
TRICKLE = {"bytes_per_tick": 64, "tick_seconds": 0.1}


def _page_trickler(base_url: str, *, source_address: str, **pace) -> Trickler:
    body, content_type = multipart_upload("file", b"\xff\xd8\xff" + bytes(200_000))
    return Trickler(
        base_url=base_url, path="/", body=body, content_type=content_type, source_address=source_address, **pace
    )


def _status_of(answer) -> tuple[int | None, bytes]:
    head, _, body = answer.raw.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert b"text/html" in head.lower()  # the page answers as a page
    return answer.status, body


def test_eight_trickling_uploads_no_longer_lock_the_page(serve, client, media):
    base_url = serve(web_max_pending=8, **HOLDING_LONG)
    # 8 slow clients, 2 per address (the default per-client limit).
    slow = [_page_trickler(base_url, source_address=f"127.0.0.{2 + n // 2}", **TRICKLE).start() for n in range(8)]
    try:
        time.sleep(0.3)  # they are all sending by now
        started = time.monotonic()
        response = client.post("/", files=file_part(media.ai))
        assert response.status_code == 200, response.text[:500]
        assert "AI-generated" in response.text
        assert time.monotonic() - started < 6
        assert not any(t.answered for t in slow)
        for trickler in slow:
            answer = trickler.answer(timeout=15)
            status, body = _status_of(answer)
            assert status == 408 and b"arrived too slowly" in body
            assert 7.9 <= answer.seconds <= 12, answer.seconds
    finally:
        for trickler in slow:
            trickler.close()


def test_the_api_verify_is_answered_while_the_page_is_trickled(serve, client, media, store):
    base_url = serve(**HOLDING_LONG)
    token = store.create_key(name="verifier", scopes=frozenset({Scope.VERIFY}))[1]
    slow = [_page_trickler(base_url, source_address=f"127.0.0.{2 + n // 2}", **TRICKLE).start() for n in range(8)]
    try:
        time.sleep(0.3)
        response = client.post("/v1/verify", files=file_part(media.ai), headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json()["label"]["text"] == "AI-generated"
        assert not any(t.answered for t in slow)
    finally:
        for trickler in slow:
            trickler.close()


def test_a_client_gets_429_past_its_uploads_in_flight_and_others_do_not(serve, media):
    base_url = serve(web_max_uploads_per_client=2, **HOLDING)
    greedy = "127.0.0.20"
    slow = [_page_trickler(base_url, source_address=greedy, **TRICKLE).start() for _ in range(2)]
    try:
        time.sleep(0.3)
        transport = httpx.HTTPTransport(local_address=greedy)
        with httpx.Client(base_url=base_url, transport=transport, timeout=30) as same_address:
            refused = same_address.post("/", files=file_part(media.ai))
        assert refused.status_code == 429, refused.text[:300]
        assert refused.headers["retry-after"] == "5"
        assert refused.headers["connection"] == "close"  # its body was not read
        assert "other uploads in progress" in refused.text
        with httpx.Client(base_url=base_url, timeout=30) as other_address:
            assert "AI-generated" in other_address.post("/", files=file_part(media.ai)).text
    finally:
        for trickler in slow:
            trickler.close()
    # The slow uploads ended (their sockets closed): the address has its places back.
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=base_url, transport=httpx.HTTPTransport(local_address=greedy), timeout=30) as again:
        while (response := again.post("/", files=file_part(media.ai))).status_code == 429:
            assert time.monotonic() < deadline, "the places of uploads that ended were never given back"
            time.sleep(0.05)
    assert "AI-generated" in response.text


def test_a_client_below_the_minimum_rate_is_cut_off_with_408(serve):
    base_url = serve(upload_receive_timeout_seconds=60, upload_min_bytes_per_second=1000, upload_rate_grace_seconds=0.5)
    # 100 bytes/s: due at 0.5 s + received/1000 bytes/s, so cut off at ~0.56 s.
    trickler = _page_trickler(base_url, source_address="127.0.0.30", first_bytes=0, bytes_per_tick=10).start()
    try:
        answer = trickler.answer(timeout=10)
    finally:
        trickler.close()
    status, body = _status_of(answer)
    assert status == 408 and b"The file could not be checked" in body
    assert 0.5 <= answer.seconds <= 3, answer.seconds


def test_verifications_beyond_the_pending_cap_get_503(serve, client, media):
    """The cap on the page's verifications still holds once uploads are complete (a bomb keeps one busy)."""
    base_url = serve(web_max_pending=1)
    bomb = assertion_bomb()
    outcome: dict = {}

    def post_bomb() -> None:
        with httpx.Client(base_url=base_url, timeout=60) as own:
            # Until it has the one place (a file checked by the loop below may hold it a moment).
            while (answer := own.post("/", files=file_part(bomb))).status_code == 503:
                time.sleep(0.01)
            outcome["response"] = answer

    thread = threading.Thread(target=post_bomb)
    thread.start()
    try:
        time.sleep(0.2)  # the bomb's upload is small: it is being verified by now
        deadline = time.monotonic() + 10
        while (response := client.post("/", files=file_part(media.ai))).status_code != 503:
            assert time.monotonic() < deadline, "the cap on verifications in flight never refused an upload"
            assert "response" not in outcome, "the bomb was verified before the cap could be seen"
        assert "busy" in response.text and response.headers["retry-after"] == "5"
    finally:
        thread.join(60)
    assert outcome["response"].status_code == 200
    assert "AI-generated" in client.post("/", files=file_part(media.ai)).text  # its place is free again
