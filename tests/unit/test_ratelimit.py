"""Tests for token buckets, the async rate limiter and server health."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.ratelimit import (
    AsyncRateLimiter,
    BucketState,
    RateLimits,
    ServerHealth,
    ServerWeight,
    full_bucket,
    pick_server,
    take,
    wait_time,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_second_bucket_limits_bursts() -> None:
    limits = RateLimits(per_second=5, per_hour=10_000)
    granted, state = take(full_bucket(T0, limits), T0, 20, limits)
    assert granted == 5
    assert take(state, T0, 1, limits)[0] == 0
    assert wait_time(state, T0, limits) == pytest.approx(0.2)
    assert take(state, at(0.2), 1, limits)[0] == 1
    assert take(state, at(1), 10, limits)[0] == 5  # refills to the burst, no further


def test_hour_bucket_limits_the_long_run() -> None:
    limits = RateLimits(per_second=100, per_hour=360, hour_burst=10)
    state = full_bucket(T0, limits)
    granted, state = take(state, T0, 100, limits)
    assert granted == 10
    # 360 an hour is one every 10 seconds, whatever the per-second allowance.
    assert wait_time(state, T0, limits) == pytest.approx(10)
    assert take(state, at(9.9), 1, limits)[0] == 0
    assert take(state, at(10), 1, limits)[0] == 1


def test_state_survives_a_restart_as_plain_values() -> None:
    limits = RateLimits(per_second=1, per_hour=3600)
    _, state = take(full_bucket(T0, limits), T0, 1, limits)
    saved = (state.tokens_sec, state.tokens_hour, state.updated_at.isoformat())
    restored = BucketState(saved[0], saved[1], datetime.fromisoformat(saved[2]))
    assert restored == state
    assert take(restored, at(0.5), 1, limits)[0] == 0
    assert take(restored, at(1), 1, limits)[0] == 1


def test_clock_going_backwards_does_not_mint_tokens() -> None:
    limits = RateLimits(per_second=1, per_hour=3600)
    _, state = take(full_bucket(at(100), limits), at(100), 1, limits)
    granted, back = take(state, at(50), 1, limits)
    assert granted == 0
    assert back.updated_at == at(100)
    assert wait_time(back, at(50), limits) == pytest.approx(51)
    assert take(back, at(101), 1, limits)[0] == 1


def test_limits_lowered_between_runs_cap_saved_tokens() -> None:
    old = RateLimits(per_second=50, per_hour=100_000)
    new = RateLimits(per_second=2, per_hour=100_000)
    assert take(full_bucket(T0, old), at(1), 50, new)[0] == 2


def test_take_zero_and_negative() -> None:
    limits = RateLimits(per_second=1, per_hour=10)
    state = full_bucket(T0, limits)
    assert take(state, T0, 0, limits) == (0, state)
    with pytest.raises(ValueError):
        take(state, T0, -1, limits)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_second": 0, "per_hour": 10},
        {"per_second": 1, "per_hour": -1},
        {"per_second": 1, "per_hour": 10, "hour_burst": 0.5},
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RateLimits(**kwargs)


def test_fractional_rates_still_allow_one_message() -> None:
    limits = RateLimits(per_second=0.5, per_hour=0.5)
    assert take(full_bucket(T0, limits), T0, 5, limits)[0] == 1


@settings(max_examples=200)
@given(
    per_second=st.floats(0.1, 50),
    per_hour=st.floats(1, 20_000),
    steps=st.lists(st.tuples(st.floats(0, 30), st.integers(0, 20)), max_size=60),
)
def test_never_exceeds_the_limits(
    per_second: float, per_hour: float, steps: list[tuple[float, int]]
) -> None:
    limits = RateLimits(per_second=per_second, per_hour=per_hour)
    state = full_bucket(T0, limits)
    elapsed = 0.0
    total = 0
    for gap, wanted in steps:
        elapsed += gap
        granted, state = take(state, at(elapsed), wanted, limits)
        assert 0 <= granted <= wanted
        total += granted
        assert state.tokens_sec >= 0 and state.tokens_hour >= 0
    # A token bucket's bound: its burst plus what its rate refills in the time elapsed.
    slack = 1e-6
    assert total <= limits.second_capacity + per_second * elapsed + slack
    assert total <= limits.hour_capacity + per_hour / 3600 * elapsed + slack


@settings(max_examples=200)
@given(
    per_second=st.floats(0.1, 50),
    per_hour=st.floats(1, 20_000),
    drained=st.integers(0, 100),
    start=st.floats(0, 10_000),
)
def test_wait_time_is_enough_and_not_too_much(
    per_second: float, per_hour: float, drained: int, start: float
) -> None:
    limits = RateLimits(per_second=per_second, per_hour=per_hour)
    _, state = take(full_bucket(at(start), limits), at(start), drained, limits)
    wait = wait_time(state, at(start), limits)
    assert wait >= 0
    # After the wait a token is there: datetime has microseconds, wait_time rounds up to them.
    assert take(state, at(start) + timedelta(microseconds=round(wait * 1e6)), 1, limits)[0] == 1
    if wait > 0.001:
        assert take(state, at(start + wait - 0.001), 1, limits)[0] == 0


class FakeClock:
    """A clock that only moves when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = T0
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def test_async_limiter_paces_messages() -> None:
    clock = FakeClock()
    limits = RateLimits(per_second=2, per_hour=100_000)
    limiter = AsyncRateLimiter(limits, full_bucket(T0, limits), clock, clock.sleep)
    times = []
    for _ in range(6):
        await limiter.acquire()
        times.append((clock.now - T0).total_seconds())
    assert times == pytest.approx([0, 0, 0.5, 1.0, 1.5, 2.0])
    assert limiter.state.updated_at == clock.now


async def test_async_limiter_serves_concurrent_waiters_in_order() -> None:
    clock = FakeClock()
    limits = RateLimits(per_second=1, per_hour=100_000)
    limiter = AsyncRateLimiter(limits, full_bucket(T0, limits), clock, clock.sleep)
    order: list[int] = []

    async def worker(n: int) -> None:
        await limiter.acquire()
        order.append(n)

    await asyncio.gather(*(worker(n) for n in range(4)))
    assert order == [0, 1, 2, 3]
    assert clock.now == at(3)


async def test_async_limiter_with_the_real_clock_and_sleep() -> None:
    limits = RateLimits(per_second=50, per_hour=100_000, second_burst=1)
    limiter = AsyncRateLimiter(
        limits, full_bucket(datetime.now(UTC), limits), lambda: datetime.now(UTC)
    )
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(4):
        await limiter.acquire()
    assert loop.time() - start >= 0.059  # three waits of 20 ms after the first token


def test_server_out_after_threshold_and_back_after_cooldown() -> None:
    health = ServerHealth(threshold=3, cooldown=timedelta(minutes=5))
    assert not health.record_failure("a", T0)
    assert not health.record_failure("a", T0)
    assert health.is_available("a", T0)
    assert health.record_failure("a", T0)
    assert not health.is_available("a", at(299))
    assert health.is_available("a", at(300))
    # Half-open: one more failure after the cooldown takes it out again at once.
    assert health.record_failure("a", at(301))
    assert not health.is_available("a", at(302))
    assert health.down_until("a") == at(601)


def test_success_ends_the_streak() -> None:
    health = ServerHealth(threshold=2, cooldown=timedelta(minutes=1))
    health.record_failure("a", T0)
    health.record_success("a")
    assert health.failures("a") == 0
    assert not health.record_failure("a", T0)
    assert health.is_available("a", T0)


def test_suspend_keeps_the_later_deadline() -> None:
    health = ServerHealth(threshold=5, cooldown=timedelta(minutes=1))
    health.suspend("a", at(600))
    health.suspend("a", at(60))
    assert health.down_until("a") == at(600)
    assert not health.is_available("a", at(599))
    assert health.is_available("b", T0)
    assert health.down_until("b") is None


def test_bad_health_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        ServerHealth(threshold=0, cooldown=timedelta(minutes=1))
    with pytest.raises(ValueError):
        ServerHealth(threshold=1, cooldown=timedelta(0))


def test_pick_server_skips_unhealthy_and_zero_weight() -> None:
    health = ServerHealth(threshold=1, cooldown=timedelta(minutes=1))
    servers = [ServerWeight("a", 1), ServerWeight("b", 3), ServerWeight("c", 0)]
    rng = random.Random(1)
    counts = Counter(pick_server(servers, health, T0, rng) for _ in range(4000))
    assert set(counts) == {"a", "b"}
    assert 2.6 < counts["b"] / counts["a"] < 3.4
    health.record_failure("b", T0)
    assert {pick_server(servers, health, T0, rng) for _ in range(50)} == {"a"}
    health.record_failure("a", T0)
    assert pick_server(servers, health, T0, rng) is None
    assert pick_server(servers, health, at(60), rng) in {"a", "b"}
    assert pick_server([], health, T0, rng) is None


def test_pick_server_is_reproducible() -> None:
    health = ServerHealth(threshold=1, cooldown=timedelta(minutes=1))
    servers = [ServerWeight("a", 1), ServerWeight("b", 1), ServerWeight("c", 1)]
    first = [pick_server(servers, health, T0, random.Random(42)) for _ in range(5)]
    assert len(set(first)) == 1
