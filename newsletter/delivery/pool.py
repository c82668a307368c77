"""Several SMTP servers behind one Mailer: weights, token-bucket limits, rest after failures.

A server whose connections keep failing is taken out for a cooldown and new messages go to
the others; a server that answers with a rate-limit reply (Gmail's 4.7.28) rests for about
ten minutes and comes back with half its connections. Bucket states and rest periods are
exposed so the caller can keep them in the database across restarts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from newsletter.delivery.mailer import Envelope, Mailer, SendOutcome
from newsletter.delivery.ratelimit import (
    AsyncRateLimiter,
    BucketState,
    RateLimits,
    ServerHealth,
    ServerWeight,
    full_bucket,
    pick_server,
    wait_time,
)
from newsletter.delivery.replies import ReplyKind, is_rate_limited

UNLIMITED = 1e12


def rate_limits(per_second: float | None, per_hour: float | None) -> RateLimits | None:
    """Limits from optional settings; None when the server has no limit at all."""
    if per_second is None and per_hour is None:
        return None
    return RateLimits(per_second=per_second or UNLIMITED, per_hour=per_hour or UNLIMITED)


class ServerMailer(Mailer, Protocol):
    """What the pool needs of one server's mailer (SmtpMailer): send, check, shrink, close."""

    async def check(self) -> None:
        """Connect and log in once; a DeliveryError says why that failed."""
        ...

    def shrink(self) -> int:
        """Use fewer connections from now on; the new number."""
        ...


@dataclass
class Server:
    """One SMTP server of the pool."""

    name: str
    mailer: ServerMailer
    weight: float = 1.0
    limits: RateLimits | None = None
    limiter: AsyncRateLimiter | None = None


@dataclass(frozen=True)
class ServerState:
    """What is kept in the database for one server."""

    name: str
    bucket: BucketState | None
    down_until: datetime | None
    last_error: str | None


class ServerPool:
    """A Mailer that spreads messages over several servers by weight, within their limits."""

    def __init__(
        self,
        servers: Sequence[Server],
        *,
        clock: Callable[[], datetime],
        failure_threshold: int = 5,
        cooldown: timedelta = timedelta(minutes=5),
        rate_limit_pause: timedelta = timedelta(minutes=10),
        max_wait: float = 60.0,
        rng: random.Random | None = None,
        sleep: Callable[[float], object] = asyncio.sleep,
    ) -> None:
        if not servers:
            raise ValueError("at least one SMTP server is needed")
        self.servers = {server.name: server for server in servers}
        self.clock = clock
        self.health = ServerHealth(failure_threshold, cooldown)
        self.rate_limit_pause = rate_limit_pause
        self.max_wait = max_wait
        self.rng = rng or random.Random()
        self._sleep = sleep
        self._weights = [ServerWeight(s.name, s.weight) for s in servers]
        self._errors: dict[str, str] = {}
        for server in servers:
            if server.limits is not None and server.limiter is None:
                server.limiter = AsyncRateLimiter(
                    server.limits, full_bucket(clock(), server.limits), clock
                )

    @property
    def max_in_flight(self) -> int:
        """The most sends the servers' connections can carry at once."""
        return sum(server.mailer.max_in_flight for server in self.servers.values())

    def capacity(self) -> int:
        """How many sends the servers can carry right now without making one wait."""
        return max(1, sum(server.mailer.capacity() for server in self.servers.values()))

    def restore(self, states: Sequence[ServerState]) -> None:
        """Continue from saved buckets and rest periods (after a restart)."""
        for state in states:
            server = self.servers.get(state.name)
            if server is None:
                continue
            if state.bucket is not None and server.limits is not None:
                server.limiter = AsyncRateLimiter(server.limits, state.bucket, self.clock)
            if state.down_until is not None:
                self.health.suspend(state.name, state.down_until)

    def states(self) -> list[ServerState]:
        """Current buckets and rest periods, to be saved."""
        return [
            ServerState(
                name=name,
                bucket=server.limiter.state if server.limiter is not None else None,
                down_until=self.health.down_until(name),
                last_error=self._errors.get(name),
            )
            for name, server in self.servers.items()
        ]

    def _pick(self, exclude: set[str]) -> Server | None:
        weights = [w for w in self._weights if w.name not in exclude]
        name = pick_server(weights, self.health, self.clock(), self.rng)
        return self.servers[name] if name is not None else None

    async def _wait_for_a_server(self, exclude: set[str]) -> Server | None:
        waited = 0.0
        while True:
            server = self._pick(exclude)
            if server is not None or waited >= self.max_wait:
                return server
            now = self.clock()
            ends = [
                until
                for name in self.servers
                if name not in exclude and (until := self.health.down_until(name)) is not None
            ]
            if not ends:
                return None
            pause = max(0.05, min(5.0, (min(ends) - now).total_seconds()))
            await self._sleep(pause)  # type: ignore[misc]
            waited += pause

    async def send(self, envelope: Envelope) -> SendOutcome:
        """Send through a healthy server; move to another if this one cannot take it."""
        tried: set[str] = set()
        last: SendOutcome | None = None
        throttled: float | None = None
        while True:
            server = await self._wait_for_a_server(tried) if not tried else self._pick(tried)
            if server is None:
                if throttled is not None:
                    return SendOutcome(
                        ReplyKind.TEMPORARY,
                        None,
                        f"sending limit reached; next message allowed in {throttled:.0f} s",
                        retry_after=throttled,
                    )
                return last or SendOutcome(
                    ReplyKind.TEMPORARY,
                    None,
                    "every SMTP server is resting after failures",
                    retry_after=self.max_wait,
                )
            if server.limiter is not None and server.limits is not None:
                wait = wait_time(server.limiter.state, self.clock(), server.limits)
                if wait > self.max_wait:
                    tried.add(server.name)
                    throttled = wait if throttled is None else min(throttled, wait)
                    continue
                await server.limiter.acquire()
            outcome = await server.mailer.send(envelope)
            if outcome.kind is ReplyKind.SENT:
                self.health.record_success(server.name)
                return outcome
            if is_rate_limited(outcome.code, outcome.message):
                self.health.suspend(server.name, self.clock() + self.rate_limit_pause)
                server.mailer.shrink()
                self._errors[server.name] = outcome.describe
                # Nothing was accepted: another server may take the message now.
                tried.add(server.name)
                last = outcome
                continue
            if outcome.kind is ReplyKind.TEMPORARY and (
                outcome.code is None or outcome.code == 421
            ):
                self.health.record_failure(server.name, self.clock())
                self._errors[server.name] = outcome.describe
                if outcome.retry_elsewhere:
                    tried.add(server.name)
                    last = outcome
                    continue
            return outcome

    async def check(self) -> None:
        """Refuse to start when no server can be reached (one clear error, the first's)."""
        problems: list[Exception] = []
        for server in self.servers.values():
            try:
                await server.mailer.check()
                return
            except Exception as exc:  # noqa: BLE001 - each server's own DeliveryError
                problems.append(exc)
        raise problems[0]

    async def close(self) -> None:
        """Close every server's connections."""
        for server in self.servers.values():
            await server.mailer.close()
