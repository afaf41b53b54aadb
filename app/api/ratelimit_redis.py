"""The sign rate limit shared through Redis: one token bucket per API key for all processes.

Same arithmetic as `TokenBucketLimiter` (app/api/ratelimit.py): `burst` tokens, refilled at
`rate_per_second`, one per request, a refusal says how long until the next token. The bucket
is a Redis hash (tokens, time counted) under `prefix + key id` (the key's public id, never
its secret), read, refilled, spent and written back by one Lua script, so:
- it is atomic: concurrent requests from any number of processes never share a token;
- it costs one round trip per request (EVALSHA; EVAL once if Redis lost its script cache);
- time is Redis's own (TIME inside the script): the API hosts' clocks do not matter;
- memory stays bounded: a bucket expires when it would be full again (a full bucket and no
  bucket give the same decisions), so only keys used in the last `burst / rate` seconds
  take room.

Failure policy: fails CLOSED. When Redis cannot answer (down, unreachable, too slow, out of
memory, wrong password), `acquire` raises RateLimitUnavailable and sign answers 503
`rate_limit_unavailable` with Retry-After. Signing issues credentials in the operator's name,
and the limit is what stops a leaked or runaway key from signing without bound: failing open
would lift it for every key, on every replica, for as long as Redis is down. Only signing is
affected (verify and label reads never ask Redis).

Bounded: every socket operation times out after 0.5 s, with no retries (redis-py's `Redis()`
retries ten times with backoff by default, so it is said explicitly). After a failure the
limiter answers "unavailable" at once for one second without trying Redis, so a dead Redis
neither holds request threads nor gets hammered. The first failure is logged as a warning, then
nothing until Redis answers again (logged too); the 503s count in
originmark_http_requests{route="/v1/sign",status="503"}.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from app.api.ratelimit import RateDecision, RateLimitUnavailable, check_limits

log = logging.getLogger("originmark.api")

DEFAULT_PREFIX = "originmark:sign-rate:"
TIMEOUT_SECONDS = 0.5  # connect, send, receive: Redis answers in well under 1 ms on a LAN
UNAVAILABLE_FOR_SECONDS = 1.0  # after a failure, refuse at once this long before trying Redis again
# A bucket slower than this to refill is forgotten anyway (only for rates below burst per 10 years).
MAX_TTL_MS = 10 * 365 * 86_400 * 1000

_ALLOWED = RateDecision(allowed=True)

# KEYS[1] the bucket; ARGV burst, rate per second, longest TTL in ms. Returns {allowed 0|1,
# retry-after seconds as a string} (a Lua number returned as such would be cut to an integer).
# Numbers are written with %.17g: Lua's tostring keeps only 14 digits. Time is kept as TIME's
# two integers (seconds, microseconds), exact, rather than one float. The 1e-9 is the in-process
# limiter's _ROUNDING: a caller who waited exactly long enough gets in.
SCRIPT = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local max_ttl_ms = tonumber(ARGV[3])
local now = redis.call('TIME')
local state = redis.call('HMGET', KEYS[1], 'tokens', 's', 'us')
local tokens = burst
if state[1] and state[2] and state[3] then
    local elapsed = (tonumber(now[1]) - tonumber(state[2])) + (tonumber(now[2]) - tonumber(state[3])) / 1000000
    if elapsed < 0 then elapsed = 0 end -- a failover to a server whose clock is behind: no refill, no harm
    tokens = math.min(burst, tonumber(state[1]) + elapsed * rate)
end
local allowed = 0
local retry_after = 0
if tokens >= 1 - 1e-9 then
    tokens = tokens - 1
    allowed = 1
else
    retry_after = (1 - tokens) / rate
end
local ttl_ms = math.ceil((burst - tokens) / rate * 1000)
if ttl_ms < 1 then ttl_ms = 1 end
if ttl_ms > max_ttl_ms then ttl_ms = max_ttl_ms end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 's', now[1], 'us', now[2])
redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl_ms))
return {allowed, string.format('%.17g', retry_after)}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


def redacted_url(url: str) -> str:
    """The URL without user name or password (for logs and messages)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    # redis-py also takes ?password=... (and username) in the query.
    hidden = ("password", "username")
    pairs = [(name, "***" if name.lower() in hidden else value) for name, value in parse_qsl(parts.query)]
    query = urlencode(pairs, safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _secrets(url: str) -> tuple[str, ...]:
    """The password as written in the URL and as sent (percent-decoded), to scrub from error text."""
    parts = urlsplit(url)
    found = {parts.password, dict(parse_qsl(parts.query)).get("password")}
    found |= {unquote(secret) for secret in found if secret}
    return tuple(secret for secret in found if secret)


class RedisTokenBucketLimiter:
    """Token buckets by key in one Redis, shared by every process that uses the same URL and prefix.

    Thread-safe (redis-py's connection pool). `rate_per_second` 0 means unlimited (Redis is
    not asked). Raises RateLimitUnavailable when Redis cannot answer (see the module's policy).
    """

    def __init__(
        self,
        *,
        url: str,
        rate_per_second: float,
        burst: int,
        prefix: str = DEFAULT_PREFIX,
        timeout_seconds: float = TIMEOUT_SECONDS,
        unavailable_for_seconds: float = UNAVAILABLE_FOR_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_limits(rate_per_second, burst)
        self.description = f"Redis at {redacted_url(url)}"
        self._secrets = _secrets(url)  # only to scrub them from error text, should any carry them
        self._rate = rate_per_second
        self._prefix = prefix
        self._args = (str(burst), repr(float(rate_per_second)), str(MAX_TTL_MS))
        self._unavailable_for = unavailable_for_seconds
        self._clock = clock
        # from_url connects lazily: nothing is sent before the first acquire. Its ValueError for a
        # URL that is not redis://, rediss:// or unix:// does not quote the URL.
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),  # one try: the bound on a request's wait is the timeout
        )
        self._lock = threading.Lock()
        self._unavailable_until = 0.0
        self._failing = False

    @property
    def unlimited(self) -> bool:
        return self._rate == 0

    def acquire(self, key: str) -> RateDecision:
        """Take one token from `key`'s bucket, or say how long until there is one."""
        if self._rate == 0:
            return _ALLOWED
        if self._clock() < self._unavailable_until:
            raise RateLimitUnavailable(f"the rate limit store ({self.description}) failed less than a second ago")
        try:
            allowed, retry_after = self._run(self._prefix + key)
            decision = _ALLOWED if int(allowed) else RateDecision(allowed=False, retry_after_seconds=float(retry_after))
        except (RedisError, ValueError, TypeError) as error:
            # ValueError/TypeError: an answer that is not the script's (a proxy in the way).
            raise RateLimitUnavailable(self._failed(error)) from None
        if self._failing:
            self._recovered()
        return decision

    def close(self) -> None:
        self._client.close()

    def _run(self, bucket: str) -> list:
        try:
            return self._client.evalsha(SCRIPT_SHA, 1, bucket, *self._args)
        except NoScriptError:
            # Redis restarted or its cache was flushed: EVAL runs the script and caches it again.
            return self._client.eval(SCRIPT, 1, bucket, *self._args)

    def _failed(self, error: Exception) -> str:
        text = str(error)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        message = f"the rate limit store ({self.description}) did not answer: {type(error).__name__}: {text}"
        with self._lock:
            self._unavailable_until = self._clock() + self._unavailable_for
            first = not self._failing
            self._failing = True
        if first:
            log.warning("%s; signing answers 503 until it does", message)
        return message

    def _recovered(self) -> None:
        with self._lock:
            was_failing, self._failing = self._failing, False
        if was_failing:
            log.warning("the rate limit store (%s) answers again", self.description)
