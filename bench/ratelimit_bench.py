"""The sign rate limit's cost per request: in-process token buckets against the shared Redis ones.

    python bench/ratelimit_bench.py [--acquires 20000] [--redis-url redis://127.0.0.1:6379/0]

One thread, one key, a limit high enough that every acquire is allowed (the common case). The
in-process limiter is the reference; the Redis one is a round trip per acquire (one EVALSHA of
the token-bucket script). Buckets go under a prefix of their own (`originmark-bench:`) and expire
by themselves once full again, at once at this rate.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def per_acquire_us(acquire, key: str, count: int) -> float:
    for _ in range(min(1000, count)):  # warm-up (script loaded, connection open)
        acquire(key)
    started = time.perf_counter()
    for _ in range(count):
        decision = acquire(key)
        assert decision.allowed
    return (time.perf_counter() - started) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--acquires", type=int, default=20_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    from app.api.ratelimit import TokenBucketLimiter
    from app.api.ratelimit_redis import RedisTokenBucketLimiter

    rate, burst = 1e9, 1_000_000_000
    local = TokenBucketLimiter(rate_per_second=rate, burst=burst)
    key = f"bench-{uuid.uuid4().hex[:8]}"
    shared = RedisTokenBucketLimiter(url=args.redis_url, rate_per_second=rate, burst=burst, prefix="originmark-bench:")
    try:
        local_us = per_acquire_us(local.acquire, key, args.acquires)
        redis_us = per_acquire_us(shared.acquire, key, args.acquires)
    finally:
        shared.close()
    print(f"{args.acquires} acquires, one key, one thread")
    print(f"in-process token bucket : {local_us:8.1f} µs per acquire")
    print(f"Redis token bucket      : {redis_us:8.1f} µs per acquire  ({shared.description})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
