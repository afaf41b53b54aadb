"""The sign rate limit on both backends (in-process and Redis), and what only the shared one does.

The conformance tests run the same token-bucket checks against `TokenBucketLimiter` and
`RedisTokenBucketLimiter` on real clocks (Redis's TIME for the latter). Then: two limiter
instances and two processes share one budget; a Redis that is down, silent, restarted or
refuses our password makes sign fail closed (503) within the timeout; credentials never
reach a log or a message; and the same through real HTTP.

Redis is the test machine's server (ORIGINMARK_TEST_REDIS_URL, default 127.0.0.1:6379):
unreachable FAILS, never skips. Each test uses a key prefix of its own and deletes its keys.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis
from pydantic import SecretStr

from app.api.ratelimit import RateLimitUnavailable, TokenBucketLimiter
from app.api.ratelimit_redis import DEFAULT_PREFIX, RedisTokenBucketLimiter, redacted_url
from app.settings import Settings
from app.wiring import build_sign_rate_limiter
from tests.support import free_port

from .helpers import ApiKeys, assert_error, jpeg_bytes, sign_form

REDIS_URL = os.environ.get("ORIGINMARK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "s3cret-Pa55word"  # must never appear in a log line or an error message

Limiter = TokenBucketLimiter | RedisTokenBucketLimiter


@pytest.fixture(scope="module")
def redis_admin() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({type(error).__name__}); the shared limit tests need it")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_admin) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    own = f"originmark-test:{uuid.uuid4().hex}:"
    yield own
    keys = list(redis_admin.scan_iter(match=f"{own}*"))
    if keys:
        redis_admin.delete(*keys)


@pytest.fixture
def make_redis_limiter(prefix) -> Iterator[Callable[..., RedisTokenBucketLimiter]]:
    made: list[RedisTokenBucketLimiter] = []

    def make(*, rate: float, burst: int, url: str = REDIS_URL, **options) -> RedisTokenBucketLimiter:
        limiter = RedisTokenBucketLimiter(url=url, rate_per_second=rate, burst=burst, prefix=prefix, **options)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        limiter.close()


@pytest.fixture(params=["in-process", "redis"])
def make_limiter(request) -> Callable[..., Limiter]:
    """Either backend, on a real clock: the conformance tests below run against both."""
    if request.param == "in-process":
        return lambda *, rate, burst: TokenBucketLimiter(rate_per_second=rate, burst=burst)
    return request.getfixturevalue("make_redis_limiter")


# --- conformance: the same token bucket on both backends ---


def test_a_key_gets_its_burst_then_a_refusal_with_an_honest_wait(make_limiter):
    limiter = make_limiter(rate=2, burst=3)
    assert [limiter.acquire("a").allowed for _ in range(3)] == [True, True, True]
    refused = limiter.acquire("a")
    assert not refused.allowed
    assert 0.35 < refused.retry_after_seconds <= 0.5  # a whole token at 2/s, less the time gone by


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst(make_limiter):
    limiter = make_limiter(rate=10, burst=2)
    assert limiter.acquire("a").allowed and limiter.acquire("a").allowed
    refused = limiter.acquire("a")
    assert not refused.allowed and 0 < refused.retry_after_seconds <= 0.1
    time.sleep(refused.retry_after_seconds + 0.01)
    assert limiter.acquire("a").allowed  # the wait it was told was enough
    assert not limiter.acquire("a").allowed
    time.sleep(0.5)  # five tokens' worth: the bucket holds two
    assert [limiter.acquire("a").allowed for _ in range(3)] == [True, True, False]


def test_a_refused_request_takes_no_token(make_limiter):
    limiter = make_limiter(rate=10, burst=1)
    assert limiter.acquire("a").allowed
    waits = []
    for _ in range(20):
        decision = limiter.acquire("a")
        assert not decision.allowed
        waits.append(decision.retry_after_seconds)
    assert waits == sorted(waits, reverse=True)  # the wait shrinks: refusals do not dig a hole
    time.sleep(waits[-1] + 0.01)
    assert limiter.acquire("a").allowed


def test_keys_have_separate_buckets(make_limiter):
    limiter = make_limiter(rate=0.5, burst=1)
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    assert limiter.acquire("b").allowed
    assert not limiter.acquire("b").allowed


def test_rate_zero_is_unlimited(make_limiter, redis_admin, prefix):
    limiter = make_limiter(rate=0, burst=1)
    assert limiter.unlimited
    assert all(limiter.acquire("a").allowed for _ in range(1000))
    assert list(redis_admin.scan_iter(match=f"{prefix}*")) == []  # nothing stored, nothing asked


def test_threads_never_get_more_than_the_burst(make_limiter):
    limiter = make_limiter(rate=1e-6, burst=40)
    allowed: list[bool] = []
    barrier = threading.Barrier(8)

    def take() -> None:
        barrier.wait(timeout=10)
        allowed.extend(limiter.acquire("shared").allowed for _ in range(50))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert allowed.count(True) == 40 and len(allowed) == 400


@pytest.mark.parametrize(("rate", "burst"), [(-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0)])
def test_both_backends_refuse_nonsense_limits(rate, burst):
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate_per_second=rate, burst=burst)
    with pytest.raises(ValueError):
        RedisTokenBucketLimiter(url=REDIS_URL, rate_per_second=rate, burst=burst)


# --- shared: one budget for every process ---


def test_two_limiters_share_one_budget(make_redis_limiter):
    """Two instances, as two server processes or replicas would have: one bucket per key."""
    first, second = make_redis_limiter(rate=1e-6, burst=3), make_redis_limiter(rate=1e-6, burst=3)
    assert [first.acquire("k").allowed, second.acquire("k").allowed, first.acquire("k").allowed] == [True] * 3
    assert not second.acquire("k").allowed
    assert not first.acquire("k").allowed
    assert second.acquire("other").allowed


_HAMMER = """
import sys
from app.api.ratelimit_redis import RedisTokenBucketLimiter
url, prefix, attempts = sys.argv[1], sys.argv[2], int(sys.argv[3])
limiter = RedisTokenBucketLimiter(url=url, rate_per_second=1e-6, burst=50, prefix=prefix)
limiter.acquire("warm-up")  # connected and the script cached before the start line
print("ready", flush=True)
sys.stdin.readline()
print(sum(limiter.acquire("shared").allowed for _ in range(attempts)), flush=True)
"""


def test_two_processes_hammering_one_key_get_exactly_the_burst(prefix):
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, REDIS_URL, prefix, "300"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        for process in processes:  # both start together
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        counts = [int(process.communicate(timeout=20)[0].strip()) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert sum(counts) == 50, counts  # 600 attempts, a burst of 50, no refill to speak of (1e-6/s)
    assert all(process.returncode == 0 for process in processes)


def test_a_bucket_is_stored_under_the_key_id_and_expires_when_full_again(make_redis_limiter, redis_admin, prefix):
    limiter = make_redis_limiter(rate=10, burst=2)
    assert limiter.acquire("om_key1").allowed
    bucket = f"{prefix}om_key1"
    assert redis_admin.exists(bucket)
    assert set(redis_admin.hgetall(bucket)) == {b"tokens", b"s", b"us"}
    assert 0 < redis_admin.pttl(bucket) <= 100  # one token to refill at 10/s
    time.sleep(0.15)
    assert not redis_admin.exists(bucket)  # full again: forgotten, so idle keys take no memory
    assert [limiter.acquire("om_key1").allowed for _ in range(3)] == [True, True, False]


# --- failure: fail closed, fast, without credentials in the log ---


@contextlib.contextmanager
def _private_redis(port: int) -> Iterator[subprocess.Popen]:
    """A redis-server of this test's own (to stop and restart), on `port`, keeping nothing on disk."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed; the restart test needs it")
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        probe = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the private redis-server did not start")
                time.sleep(0.02)
        probe.close()
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def _closed_port() -> int:
    return free_port()  # bound a moment ago and closed: connecting is refused


def test_redis_down_fails_closed_fast_and_says_so_once_without_the_password(make_redis_limiter, caplog):
    limiter = make_redis_limiter(rate=10, burst=5, url=f"redis://originmark:{PASSWORD}@127.0.0.1:{_closed_port()}/0")
    caplog.set_level(logging.WARNING, logger="originmark.api")
    started = time.monotonic()
    with pytest.raises(RateLimitUnavailable) as failed:
        limiter.acquire("a")
    assert time.monotonic() - started < 0.6
    assert "127.0.0.1" in str(failed.value) and PASSWORD not in str(failed.value)
    # Within the next second: refused at once, without trying Redis, and not logged again.
    started = time.monotonic()
    for _ in range(10):
        with pytest.raises(RateLimitUnavailable):
            limiter.acquire("a")
    assert time.monotonic() - started < 0.05
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and "did not answer" in warnings[0] and "***@127.0.0.1" in warnings[0]
    assert PASSWORD not in caplog.text


def test_a_redis_that_never_answers_fails_closed_within_the_timeout(make_redis_limiter):
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        limiter = make_redis_limiter(rate=10, burst=5, url=f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        started = time.monotonic()
        with pytest.raises(RateLimitUnavailable):
            limiter.acquire("a")
        assert 0.4 < time.monotonic() - started < 0.9  # the 0.5 s timeout, one try (no retries)
        # For the next second, requests are refused at once: a dead Redis holds no request threads.
        started = time.monotonic()
        for _ in range(10):
            with pytest.raises(RateLimitUnavailable):
                limiter.acquire("a")
        assert time.monotonic() - started < 0.1


def test_a_wrong_password_fails_closed_and_is_not_shown(make_redis_limiter, caplog):
    limiter = make_redis_limiter(rate=10, burst=5, url=REDIS_URL.replace("redis://", f"redis://nobody:{PASSWORD}@", 1))
    with pytest.raises(RateLimitUnavailable) as failed:
        limiter.acquire("a")
    assert "AuthenticationError" in str(failed.value) and PASSWORD not in str(failed.value)
    assert PASSWORD not in caplog.text


def test_a_restarted_redis_is_used_again_and_reloads_the_script(make_redis_limiter, caplog):
    port = free_port()
    limiter = make_redis_limiter(rate=1e-6, burst=2, url=f"redis://127.0.0.1:{port}/0", unavailable_for_seconds=0.1)
    caplog.set_level(logging.WARNING, logger="originmark.api")
    with _private_redis(port) as first:
        assert limiter.acquire("a").allowed  # a fresh server: EVALSHA misses, EVAL loads the script
        redis.Redis(port=port).script_flush()
        assert limiter.acquire("a").allowed  # the cache flushed: loaded again, the bucket kept
        assert not limiter.acquire("a").allowed
        first.terminate()
        first.wait(timeout=10)
        with pytest.raises(RateLimitUnavailable):
            limiter.acquire("a")
    time.sleep(0.15)  # past the limiter's pause
    with _private_redis(port):
        # Nothing is kept on disk: a restarted Redis starts with full buckets (and no script).
        assert limiter.acquire("a").allowed
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2 and "did not answer" in messages[0] and "answers again" in messages[1]


def test_the_url_is_described_without_credentials():
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    for url in (
        f"redis://:{PASSWORD}@cache:6379/2",
        f"rediss://user:{PASSWORD}@[::1]:6380/0",
        f"unix://:{PASSWORD}@/run/redis.sock?db=1",
        f"redis://cache/0?password={PASSWORD}&db=1",
    ):
        shown = redacted_url(url)
        assert PASSWORD not in shown and "user" not in shown and "***" in shown, shown
    limiter = RedisTokenBucketLimiter(url=f"redis://u:{PASSWORD}@cache:6379/0", rate_per_second=1, burst=1)
    assert limiter.description == "Redis at redis://***@cache:6379/0"
    limiter.close()


# --- settings ---


def test_settings_choose_the_backend_and_hide_the_url(monkeypatch, caplog):
    assert Settings().rate_limit_redis_url is None
    assert isinstance(build_sign_rate_limiter(Settings()), TokenBucketLimiter)  # the embedded default

    url = f"redis://:{PASSWORD}@127.0.0.1:6379/0"
    monkeypatch.setenv("ORIGINMARK_RATE_LIMIT_REDIS_URL", url)
    settings = Settings()
    assert settings.rate_limit_redis_url is not None
    assert settings.rate_limit_redis_url.get_secret_value() == url
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())

    caplog.set_level(logging.INFO, logger="originmark.api")
    shared = build_sign_rate_limiter(settings)
    assert isinstance(shared, RedisTokenBucketLimiter)
    shared.close()
    assert "Redis at redis://***@127.0.0.1:6379/0" in caplog.text and PASSWORD not in caplog.text
    # Unlimited needs no shared store (and no round trip per request).
    assert isinstance(build_sign_rate_limiter(Settings(sign_rate_per_second=0)), TokenBucketLimiter)


# --- through HTTP ---

_JUNK = {"files": {"file": ("junk.jpg", b"not an image at all", "image/jpeg")}, "data": sign_form()}


@pytest.fixture
def forget_buckets(redis_admin, api_keys) -> Iterator[None]:
    """The app's buckets live under the default prefix and these keys' ids: removed afterwards."""
    yield
    redis_admin.delete(*(DEFAULT_PREFIX + token.split("_")[1] for token in (api_keys.sign, api_keys.all)))


def test_two_apps_on_one_redis_share_a_keys_limit(make_client, api_keys, forget_buckets):
    """Two apps (as two replicas behind a load balancer) give a key one budget, not two."""
    shared = {"rate_limit_redis_url": SecretStr(REDIS_URL), "sign_rate_per_second": 0.01, "sign_rate_burst": 2}
    first = make_client(**shared)
    assert first.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code == 415
    second = make_client(**shared)  # a new app: its own limiter, its own Redis client
    assert second.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign)).status_code == 415
    refused = second.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.sign))
    error = assert_error(refused, 429, "rate_limited")
    assert 90 <= error["retry_after_seconds"] <= 100
    assert refused.headers["retry-after"] == str(math.ceil(error["retry_after_seconds"]))
    # Another key has its own bucket.
    assert second.post("/v1/sign", **_JUNK, headers=ApiKeys.header(api_keys.all)).status_code == 415


def test_redis_down_makes_sign_answer_503_and_nothing_else(make_client, store, api_keys, caplog):
    client = make_client(
        rate_limit_redis_url=SecretStr(f"redis://:{PASSWORD}@127.0.0.1:{_closed_port()}/0"),
        sign_rate_per_second=10,
        sign_rate_burst=10,
    )
    started = time.monotonic()
    refused = client.post(
        "/v1/sign",
        headers=ApiKeys.header(api_keys.sign),
        files={"file": ("gen.jpg", jpeg_bytes(seed=1), "image/jpeg")},
        data=sign_form(),
    )
    assert time.monotonic() - started < 2
    error = assert_error(refused, 503, "rate_limit_unavailable")
    assert "nothing was signed" in error["message"] and refused.headers["retry-after"]
    assert PASSWORD not in refused.text and PASSWORD not in caplog.text
    assert store.entries() == []
    # The key is still checked first; and reads never ask Redis.
    assert_error(client.post("/v1/sign", **_JUNK), 401, "missing_api_key")
    assert client.get("/v1/labels?media_id=a", headers=ApiKeys.header(api_keys.all)).status_code == 200
