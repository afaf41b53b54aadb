"""A token bucket per API key, for POST /v1/sign.

Each key has a bucket of `burst` tokens that refills at `rate_per_second`; a request takes one
token or is refused with the time until the next one. So a key may send `burst` requests at
once, then `rate_per_second` on average.

Two backends answer the same `RateLimiter` protocol with the same arithmetic:
- `TokenBucketLimiter` (here, the default): in-process, per server process. With `originmark
  serve --workers N` or N replicas each process has its own buckets and a key's effective limit
  is N times the setting. The check runs on the event loop after the key is authenticated, so
  only real keys get a bucket; buckets left full (idle keys) are dropped when there are many, so
  memory stays bounded.
- `RedisTokenBucketLimiter` (app/api/ratelimit_redis.py), when ORIGINMARK_RATE_LIMIT_REDIS_URL
  is set: one bucket per key in Redis, shared by every process and replica, so the limit is the
  setting whatever the number of servers. When Redis cannot answer, `acquire` raises
  `RateLimitUnavailable` (the API answers 503; see that module for why it fails closed).

Why not the `limits` package: it counts requests per fixed or moving window, not a sustained
rate with a separate burst, and its moving window keeps one timestamp per request; a bucket is
two floats per key and a few lines.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

MAX_IDLE_BUCKETS = 10_000  # above this many keys, buckets that are full again are dropped
_ROUNDING = 1e-9  # of a token: refills add up in floats, and a caller who waited exactly long enough gets in


@dataclass(frozen=True, slots=True, kw_only=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: float = 0.0  # when refused: until a token is there again


_ALLOWED = RateDecision(allowed=True)


class RateLimitUnavailable(Exception):
    """The limiter could not decide (its shared store is unreachable or failing).

    The message names the store without credentials; it is safe to log.
    """


class RateLimiter(Protocol):
    """What the API needs from a limiter: one decision per request, by key."""

    def acquire(self, key: str) -> RateDecision:
        """Take one token from `key`'s bucket, or say how long until there is one.

        Raises RateLimitUnavailable when the decision cannot be made.
        """
        ...


def check_limits(rate_per_second: float, burst: int) -> None:
    """The same limits are refused by every backend."""
    if rate_per_second < 0 or not math.isfinite(rate_per_second):
        raise ValueError("the rate is a finite number of requests per second, 0 for unlimited")
    if burst < 1:
        raise ValueError("the burst is at least 1 request")


class TokenBucketLimiter:
    """Token buckets by key; thread-safe. `rate_per_second` 0 means unlimited."""

    def __init__(
        self,
        *,
        rate_per_second: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_idle_buckets: int = MAX_IDLE_BUCKETS,
    ) -> None:
        check_limits(rate_per_second, burst)
        self._rate = rate_per_second
        self._burst = float(burst)
        self._clock = clock
        self._max_idle = max_idle_buckets
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)
        self._lock = threading.Lock()

    @property
    def unlimited(self) -> bool:
        return self._rate == 0

    def acquire(self, key: str) -> RateDecision:
        """Take one token from `key`'s bucket, or say how long until there is one."""
        if self._rate == 0:
            return _ALLOWED
        with self._lock:
            now = self._clock()
            tokens, counted_at = self._buckets.get(key, (self._burst, now))
            tokens = min(self._burst, tokens + (now - counted_at) * self._rate)
            if tokens >= 1 - _ROUNDING:
                self._buckets[key] = (tokens - 1, now)
                if len(self._buckets) > self._max_idle:
                    self._drop_full_buckets(now)
                return _ALLOWED
            self._buckets[key] = (tokens, now)
            return RateDecision(allowed=False, retry_after_seconds=(1 - tokens) / self._rate)

    def _drop_full_buckets(self, now: float) -> None:
        # A full bucket is the same as no bucket: forgetting it changes no decision.
        self._buckets = {
            key: (tokens, counted_at)
            for key, (tokens, counted_at) in self._buckets.items()
            if tokens + (now - counted_at) * self._rate < self._burst
        }
