"""Slow request bodies over real sockets (app/api/receive_pace.py): cut off with 408, nothing kept,
and never in the way of other clients.

The deadlines are set to seconds here so that each test takes a few seconds; the rule is the
same at the defaults (600 s whole body, 16 KiB/s after 10 s).
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.slow_clients import Trickler, multipart_upload

from .helpers import ApiKeys, jpeg_bytes

# Trickling at 640 bytes/s: above this minimum rate, so only the whole-body limit stops them.
HOLDING = {"upload_receive_timeout_seconds": 3.0, "upload_min_bytes_per_second": 100, "upload_rate_grace_seconds": 0.5}
# The ninth client's verification must end while the eight are still sending: a deadline with room
# for a slow, busy CI machine (the point is "not blocked", not "fast").
HOLDING_LONG = {**HOLDING, "upload_receive_timeout_seconds": 8.0}


def _base_url(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/")


def _verify_trickler(client: httpx.Client, token: str, **pace) -> Trickler:
    body, content_type = multipart_upload("file", b"\xff\xd8\xff" + bytes(200_000))
    return Trickler(
        base_url=_base_url(client),
        path="/v1/verify",
        body=body,
        content_type=content_type,
        headers=ApiKeys.header(token),
        **pace,
    )


def _wait_for_spools(spool_dir: Path | None, count: int) -> None:
    assert spool_dir is not None
    deadline = time.monotonic() + 5
    while len(list(spool_dir.iterdir())) < count:
        assert time.monotonic() < deadline, "the slow uploads were not being spooled"
        time.sleep(0.02)


def _assert_cut_off(answer, *, after: float, within: float) -> None:
    assert answer.status == 408, answer.raw[:300]
    head, _, body = answer.raw.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    assert b'"code":"upload_too_slow"' in body
    assert after <= answer.seconds <= within, answer.seconds


def test_eight_trickling_uploads_do_not_delay_a_ninth_verification(make_client, api_keys, base_settings):
    client = make_client(**HOLDING_LONG)
    slow = [_verify_trickler(client, api_keys.verify, bytes_per_tick=64).start() for _ in range(8)]
    try:
        _wait_for_spools(base_settings.spool_dir, 8)  # each is spooling its part
        started = time.monotonic()
        response = client.post(
            "/v1/verify", files={"file": ("a.jpg", jpeg_bytes())}, headers=ApiKeys.header(api_keys.verify)
        )
        assert response.status_code == 200, response.text
        assert response.json()["verdict"]["state"] == "none"  # a plain JPEG: a verdict, not a refusal
        assert time.monotonic() - started < 6
        assert not any(t.answered for t in slow)  # they were still sending meanwhile
        for trickler in slow:  # and the whole-body limit ends each of them, spool removed (fixture)
            _assert_cut_off(trickler.answer(timeout=15), after=7.9, within=12)
    finally:
        for trickler in slow:
            trickler.close()


def test_a_client_below_the_minimum_rate_is_cut_off_after_the_grace_period(make_client, api_keys):
    client = make_client(
        upload_receive_timeout_seconds=60, upload_min_bytes_per_second=1000, upload_rate_grace_seconds=0.5
    )
    # 100 bytes/s: due at 0.5 s + received/1000, so cut off at ~0.56 s.
    trickler = _verify_trickler(client, api_keys.verify, first_bytes=0, bytes_per_tick=10).start()
    try:
        _assert_cut_off(trickler.answer(timeout=10), after=0.5, within=3)
    finally:
        trickler.close()
    # A client at a normal pace is unaffected by the same settings.
    response = client.post(
        "/v1/verify", files={"file": ("a.jpg", jpeg_bytes())}, headers=ApiKeys.header(api_keys.verify)
    )
    assert response.status_code == 200, response.text


UPLOAD_ROUTES = {
    "/v1/verify": ("verify", multipart_upload("file", b"\xff\xd8\xff" + bytes(10_000))),
    "/v1/sign": ("sign", multipart_upload("file", b"\xff\xd8\xff" + bytes(10_000))),
    "/v1/jobs/verify": ("all", multipart_upload("file", b"\xff\xd8\xff" + bytes(10_000))),
    "/v1/jobs/sign": ("all", multipart_upload("file", b"\xff\xd8\xff" + bytes(10_000))),
    "/v1/jobs/rendition": ("all", multipart_upload("file", b"\xff\xd8\xff" + bytes(10_000))),
    "/v1/labels:batch": ("read", (b'["a-media-id", ' * 1000 + b'"last"]', "application/json")),
}


@pytest.mark.parametrize("route", list(UPLOAD_ROUTES))
def test_a_body_that_stops_arriving_gets_408_on_every_route_that_reads_one(make_client, api_keys, route):
    client = make_client(upload_receive_timeout_seconds=1.0, upload_min_bytes_per_second=0)
    scope, (body, content_type) = UPLOAD_ROUTES[route]
    trickler = Trickler(
        base_url=_base_url(client),
        path=route,
        body=body,
        content_type=content_type,
        headers=ApiKeys.header(getattr(api_keys, scope)),
        first_bytes=300,
    ).start()
    try:
        _assert_cut_off(trickler.answer(timeout=10), after=0.9, within=4)
    finally:
        trickler.close()
