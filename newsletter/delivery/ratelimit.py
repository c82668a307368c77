"""Per-server sending limits (token buckets) and server health for the delivery pool."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# Refills are float sums; without this slack a bucket could sit at 0.9999999 tokens and
# wait_time() would keep promising a token that take() then refuses.
_EPSILON = 1e-9


@dataclass(frozen=True)
class RateLimits:
    """Limits of one SMTP server: messages per second and per hour, each a token bucket.

    A bucket holds at most its burst and refills at its rate, so after a long idle spell up
    to `hour_burst` messages can go at once and, in the worst rolling hour, about
    `hour_burst + per_hour`. Lower `hour_burst` for servers that count strictly per hour.
    """

    per_second: float
    per_hour: float
    second_burst: float | None = None  # default: per_second, at least 1
    hour_burst: float | None = None  # default: per_hour

    def __post_init__(self) -> None:
        if not (self.per_second > 0 and self.per_hour > 0):
            raise ValueError(
                f"rate limits must be positive, got per_second={self.per_second} "
                f"per_hour={self.per_hour}"
            )
        for name in ("second_burst", "hour_burst"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1 message, got {value}")

    @property
    def second_capacity(self) -> float:
        """Most tokens the per-second bucket holds."""
        return self.second_burst if self.second_burst is not None else max(1.0, self.per_second)

    @property
    def hour_capacity(self) -> float:
        """Most tokens the per-hour bucket holds."""
        return self.hour_burst if self.hour_burst is not None else max(1.0, self.per_hour)


@dataclass(frozen=True)
class BucketState:
    """Tokens left in both buckets at `updated_at`; small enough to keep in the database."""

    tokens_sec: float
    tokens_hour: float
    updated_at: datetime


def full_bucket(now: datetime, limits: RateLimits) -> BucketState:
    """Return the state of a server that has not sent anything recently."""
    return BucketState(limits.second_capacity, limits.hour_capacity, now)


def _refill(state: BucketState, now: datetime, limits: RateLimits) -> BucketState:
    # A clock that goes backwards (restart on another host, NTP step) must not mint tokens:
    # keep the later timestamp so the same interval is never counted twice.
    elapsed = max(0.0, (now - state.updated_at).total_seconds())
    return BucketState(
        tokens_sec=min(limits.second_capacity, state.tokens_sec + elapsed * limits.per_second),
        tokens_hour=min(
            limits.hour_capacity, state.tokens_hour + elapsed * limits.per_hour / 3600.0
        ),
        updated_at=max(state.updated_at, now),
    )


def take(state: BucketState, now: datetime, n: int, limits: RateLimits) -> tuple[int, BucketState]:
    """Take up to `n` tokens at `now`; return how many were granted and the new state."""
    if n < 0:
        raise ValueError(f"cannot take a negative number of tokens: {n}")
    refilled = _refill(state, now, limits)
    available = math.floor(min(refilled.tokens_sec, refilled.tokens_hour) + _EPSILON)
    granted = max(0, min(n, available))
    return granted, replace(
        refilled,
        tokens_sec=max(0.0, refilled.tokens_sec - granted),
        tokens_hour=max(0.0, refilled.tokens_hour - granted),
    )


def wait_time(state: BucketState, now: datetime, limits: RateLimits) -> float:
    """Seconds from `now` until one token is available in both buckets (0 if one is)."""
    refilled = _refill(state, now, limits)
    # updated_at may be ahead of now (clock went back): tokens only accrue after it.
    ahead = max(0.0, (refilled.updated_at - now).total_seconds())
    need = max(
        _time_to_one(refilled.tokens_sec, limits.per_second),
        _time_to_one(refilled.tokens_hour, limits.per_hour / 3600.0),
    )
    if need == 0:
        return 0.0
    # Round up to the microsecond, the resolution of datetime: a clock that advances by
    # exactly this much then finds the token there instead of a hair short of it.
    return math.ceil((ahead + need) * 1e6) / 1e6


def _time_to_one(tokens: float, rate: float) -> float:
    return 0.0 if tokens + _EPSILON >= 1.0 else (1.0 - tokens) / rate


class AsyncRateLimiter:
    """Awaitable token bucket for one server; the clock and the sleep are passed in."""

    def __init__(
        self,
        limits: RateLimits,
        state: BucketState,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._limits = limits
        self._state = state
        self._clock = clock
        self._sleep = sleep
        # One waiter at a time, in arrival order: otherwise every waiter wakes at the same
        # moment and all but one go back to sleep.
        self._lock = asyncio.Lock()

    @property
    def state(self) -> BucketState:
        """Current bucket state, for saving across restarts."""
        return self._state

    async def acquire(self) -> None:
        """Wait until the server may take one more message."""
        async with self._lock:
            while True:
                granted, self._state = take(self._state, self._clock(), 1, self._limits)
                if granted:
                    return
                await self._sleep(wait_time(self._state, self._clock(), self._limits))


@dataclass(frozen=True)
class ServerWeight:
    """A server name and its share of the traffic."""

    name: str
    weight: float


@dataclass
class _Status:
    failures: int = 0
    down_until: datetime | None = None


class ServerHealth:
    """Consecutive failures per server; a server is out for `cooldown` after `threshold`."""

    def __init__(self, threshold: int, cooldown: timedelta) -> None:
        if threshold < 1:
            raise ValueError(f"threshold must be at least 1, got {threshold}")
        if cooldown <= timedelta(0):
            raise ValueError(f"cooldown must be positive, got {cooldown}")
        self._threshold = threshold
        self._cooldown = cooldown
        self._servers: dict[str, _Status] = {}

    def record_success(self, name: str) -> None:
        """Note a success: the failure streak ends."""
        self._servers.pop(name, None)

    def record_failure(self, name: str, now: datetime) -> bool:
        """Note a failure at `now`; return True if the server is now out for a cooldown."""
        status = self._servers.setdefault(name, _Status())
        status.failures += 1
        # The streak is not reset when the cooldown starts, so a server that comes back and
        # fails at once goes straight out again (a half-open circuit breaker).
        if status.failures >= self._threshold:
            self.suspend(name, now + self._cooldown)
            return True
        return False

    def suspend(self, name: str, until: datetime) -> None:
        """Take a server out until `until` (e.g. on a 4.7.28 rate-limit reply)."""
        status = self._servers.setdefault(name, _Status())
        if status.down_until is None or until > status.down_until:
            status.down_until = until

    def failures(self, name: str) -> int:
        """Length of the server's current failure streak."""
        status = self._servers.get(name)
        return status.failures if status else 0

    def down_until(self, name: str) -> datetime | None:
        """When the server's latest cooldown ends (may be in the past), or None."""
        status = self._servers.get(name)
        return status.down_until if status else None

    def is_available(self, name: str, now: datetime) -> bool:
        """Tell whether the server may be used at `now`."""
        until = self.down_until(name)
        return until is None or now >= until


def pick_server(
    servers: Sequence[ServerWeight], health: ServerHealth, now: datetime, rng: random.Random
) -> str | None:
    """Choose a healthy server with probability proportional to its weight, or None."""
    candidates = [s for s in servers if s.weight > 0 and health.is_available(s.name, now)]
    if not candidates:
        return None
    return rng.choices(candidates, weights=[s.weight for s in candidates])[0].name
