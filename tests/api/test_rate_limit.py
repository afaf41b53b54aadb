"""The per-key rate limit on POST /v1/sign: the token bucket itself, then through real HTTP."""

from __future__ import annotations

import math
import threading
import time

import pytest
from pydantic import ValidationError

from app.api.ratelimit import TokenBucketLimiter
from app.settings import Settings
from app.store.interface import Scope

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form


class _Clock:
    """A clock the test moves by hand (the limiter takes any monotonic clock)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the bucket ---


def test_a_key_gets_its_burst_at_once_then_the_rate():
    clock = _Clock()
    limiter = TokenBucketLimiter(rate_per_second=2, burst=3, clock=clock)
    assert [limiter.acquire("a").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.acquire("a")
    assert not refused.allowed and refused.retry_after_seconds == pytest.approx(0.5)

    clock.now += 0.25  # half a token
    refused = limiter.acquire("a")
    assert not refused.allowed and refused.retry_after_seconds == pytest.approx(0.25)
    clock.now += 0.25
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed

    clock.now += 3600  # a long pause refills up to the burst, never beyond
    assert [limiter.acquire("a").allowed for _ in range(4)] == [True, True, True, False]


def test_keys_have_separate_buckets():
    clock = _Clock()
    limiter = TokenBucketLimiter(rate_per_second=1, burst=1, clock=clock)
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    assert limiter.acquire("b").allowed


def test_a_refused_request_takes_no_token():
    clock = _Clock()
    limiter = TokenBucketLimiter(rate_per_second=1, burst=1, clock=clock)
    limiter.acquire("a")
    for _ in range(100):
        clock.now += 0.001
        assert not limiter.acquire("a").allowed
    clock.now += 0.9  # 1 s after the first request in all: the one token is back
    assert limiter.acquire("a").allowed


def test_rate_zero_is_unlimited():
    limiter = TokenBucketLimiter(rate_per_second=0, burst=1, clock=_Clock())
    assert limiter.unlimited
    assert all(limiter.acquire("a").allowed for _ in range(10_000))


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (math.inf, 1), (math.nan, 1), (1, 0)])
def test_nonsense_limits_are_refused(rate, burst):
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_second=rate, burst=burst)


def test_idle_buckets_are_forgotten_without_changing_any_decision():
    clock = _Clock()
    limiter = TokenBucketLimiter(rate_per_second=1, burst=2, clock=clock, max_idle_buckets=100)
    for n in range(1000):
        assert limiter.acquire(f"key-{n}").allowed
        clock.now += 0.1
    assert len(limiter._buckets) <= 101  # bounded: only keys that used a token in the last ~1 s
    # A key just seen still has its bucket: its second token is there, its third is not.
    assert limiter.acquire("key-999").allowed
    assert not limiter.acquire("key-999").allowed


def test_threads_never_get_more_than_the_burst():
    limiter = TokenBucketLimiter(rate_per_second=1e-6, burst=50)
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait(timeout=30)
        allowed.extend(limiter.acquire("shared").allowed for _ in range(100))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert allowed.count(True) == 50 and len(allowed) == 800


def test_settings_default_leaves_a_normal_pipeline_alone_and_refuse_nonsense():
    settings = Settings()
    # The HTTP benchmark signs ~45-70 requests/s with one key per server process on this machine.
    assert settings.sign_rate_per_second >= 100 and settings.sign_rate_burst >= 100
    with pytest.raises(ValidationError):
        Settings(sign_rate_per_second=-1)
    with pytest.raises(ValidationError):
        Settings(sign_rate_burst=0)
    with pytest.raises(ValidationError):
        Settings(sign_rate_per_second=float("inf"))


# --- through HTTP ---

_JUNK = {"files": {"file": ("junk.jpg", b"not an image at all", "image/jpeg")}, "data": sign_form()}


def _sign(client, token: str, *, seed: int):
    return client.post(
        "/v1/sign",
        headers=ApiKeys.header(token),
        files={"file": ("gen.jpg", jpeg_bytes(seed=seed), "image/jpeg")},
        data=sign_form(),
    )


def test_over_the_limit_sign_answers_429_with_retry_after_and_signs_nothing(make_client, store, api_keys):
    client = make_client(sign_rate_per_second=0.01, sign_rate_burst=2)
    assert _sign(client, api_keys.sign, seed=1).status_code == 200
    assert _sign(client, api_keys.sign, seed=2).status_code == 200

    refused = _sign(client, api_keys.sign, seed=3)
    error = assert_error(refused, 429, "rate_limited")
    key_id = api_keys.sign.split("_")[1]
    assert key_id in error["message"] and "0.01" in error["message"]
    assert 90 <= error["retry_after_seconds"] <= 100  # a whole token at 0.01/s, less the time gone by
    assert refused.headers["retry-after"] == str(math.ceil(error["retry_after_seconds"]))
    assert api_keys.sign not in refused.text

    assert len(store.entries()) == 2  # the refused request signed nothing
    # Another key is not held back by this one.
    assert _sign(client, api_keys.all, seed=4).status_code == 200


def test_the_limit_counts_after_authentication_and_scope(make_client, api_keys):
    client = make_client(sign_rate_per_second=0.01, sign_rate_burst=1)
    assert client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code == 415
    assert_error(client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)), 429, "rate_limited")
    # No key, a wrong key, a key without the scope: still told so, and they spend nobody's tokens.
    assert_error(client.post("/v1/sign", **_JUNK), 401, "missing_api_key")
    forged = api_keys.sign[:-4] + ("AAAA" if not api_keys.sign.endswith("AAAA") else "BBBB")
    assert_error(client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(forged)), 401, "invalid_api_key")
    assert_error(client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.read)), 403, "insufficient_scope")
    # Only signing is limited: the same key's other scopes are not.
    for _ in range(3):
        assert client.get("/v1/labels?media_id=a", headers=ApiKeys.header(api_keys.all)).status_code == 200
        assert client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.all)).status_code in (415, 429)


def test_retry_after_is_honest(make_client, api_keys):
    client = make_client(sign_rate_per_second=1, sign_rate_burst=1)
    assert client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code == 415
    refused = client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign))  # well within 1 s
    wait = assert_error(refused, 429, "rate_limited")["retry_after_seconds"]
    assert 0 < wait <= 1 and refused.headers["retry-after"] == "1"
    time.sleep(wait + 0.02)
    assert client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code == 415


def test_a_rate_of_zero_never_limits(make_client, api_keys):
    client = make_client(sign_rate_per_second=0, sign_rate_burst=1)
    statuses = {client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code for _ in range(20)}
    assert statuses == {415}


def test_the_default_limit_lets_a_burst_of_signing_through(client, store, api_keys):
    """Many requests in a row from one key, as fast as the client can: none is refused by default."""
    statuses = [client.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code for _ in range(60)]
    assert statuses == [415] * 60
    signer = store.create_key(name="pipeline", scopes=frozenset({Scope.SIGN}))[1]
    assert all(_sign(client, signer, seed=n).status_code == 200 for n in range(5))
