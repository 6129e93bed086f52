"""limits with its redis storage on tandemkv: the fixed-window, moving-window and
sliding-window-counter strategies admit exactly the limit and refuse every request over it,
per identifier, and report their windows."""

from __future__ import annotations

import pytest
from limits import parse, storage, strategies

STRATEGIES = {
    "fixed-window": strategies.FixedWindowRateLimiter,
    "moving-window": strategies.MovingWindowRateLimiter,
    "sliding-window": strategies.SlidingWindowCounterRateLimiter,
}


@pytest.fixture
def redis_storage(flushed: str) -> storage.RedisStorage:
    backend = storage.storage_from_string(flushed)
    assert isinstance(backend, storage.RedisStorage) and backend.check()
    return backend


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_refuses_exactly_the_requests_over_the_limit(name: str, redis_storage) -> None:
    limiter = STRATEGIES[name](redis_storage)
    per_minute = parse("7/minute")
    outcomes = [limiter.hit(per_minute, "api", "alice") for _ in range(12)]
    assert outcomes == [True] * 7 + [False] * 5
    assert not limiter.test(per_minute, "api", "alice")
    assert limiter.hit(per_minute, "api", "bob")  # another identifier has its own window
    stats = limiter.get_window_stats(per_minute, "api", "alice")
    assert stats.remaining == 0 and stats.reset_time > 0
    assert limiter.get_window_stats(per_minute, "api", "bob").remaining == 6

    limiter.clear(per_minute, "api", "alice")
    assert limiter.test(per_minute, "api", "alice")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_weighted_hits(name: str, redis_storage) -> None:
    limiter = STRATEGIES[name](redis_storage)
    per_hour = parse("10 per hour")
    assert limiter.hit(per_hour, "upload", cost=6)
    assert limiter.hit(per_hour, "upload", cost=4)
    assert not limiter.hit(per_hour, "upload")
    assert limiter.hit(per_hour, "download", cost=10)
    assert not limiter.hit(per_hour, "download", cost=1)
    assert limiter.get_window_stats(per_hour, "upload").remaining == 0


def test_storage_counters(redis_storage) -> None:
    assert redis_storage.incr("plain", 30) == 1
    assert redis_storage.incr("plain", 30, amount=4) == 5
    assert redis_storage.get("plain") == 5
    assert redis_storage.get_expiry("plain") > 0
    redis_storage.clear("plain")
    assert redis_storage.get("plain") == 0
    redis_storage.reset()
