"""The chaos campaign's SMTP server: a real aiosmtpd server whose handler injects faults.

Per recipient, a ``FaultPlan`` can make the DATA reply slow, answer RCPT with a greylisting
451 (always, or for the first few attempts), or accept a message and then close the connection
instead of sending the 250. Every accepted copy is recorded with its connection and times, and
every connection that ends without QUIT is noted with the moment it was lost, so the counting
in ``tally`` can tell duplicates no sender could avoid from the others.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from bench.chaos.tally import Copy
from newsletter.devtools.capture import free_port

GREYLIST_REPLY = "451 4.7.1 Greylisted: please try again later"


@dataclass(frozen=True)
class FaultPlan:
    """What the server does to whom; replace the handler's plan to change it mid-scenario."""

    delay: float = 0.0  # seconds before every DATA reply
    slow: frozenset[str] = frozenset()  # these wait `slow_delay` instead
    slow_delay: float = 0.5
    greylist: frozenset[str] = frozenset()  # RCPT answered with a 451 ...
    greylist_attempts: int | None = None  # ... for this many attempts per address (None: always)
    drop: frozenset[str] = frozenset()  # accepted, then the connection closes without the 250 ...
    drop_times: int = 1  # ... for this many accepted copies per address


_connection_ids = itertools.count(1)


class _TrackedSMTP(SMTP):
    """aiosmtpd's protocol with a connection id, and news of connections lost without QUIT."""

    def __init__(self, handler: ChaosHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.chaos_handler = handler
        self.chaos_id = next(_connection_ids)
        self.chaos_closed_on_purpose = False

    def connection_made(self, transport: Any) -> None:
        self.chaos_handler.connection_made(self.chaos_id)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self.chaos_closed_on_purpose:
            self.chaos_handler.connection_lost(self.chaos_id)
        super().connection_lost(error)


class ChaosHandler:
    """Records accepted copies per recipient and misbehaves as the plan says."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.lock = threading.Lock()
        self.copies: list[Copy] = []
        self.lost: dict[int, float] = {}
        self.opened: dict[int, float] = {}
        self.attempts: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()

    async def handle_QUIT(self, server: _TrackedSMTP, session: Any, envelope: Any) -> str:
        server.chaos_closed_on_purpose = True
        return "221 Bye"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        plan = self.plan
        with self.lock:
            self.attempts[address] += 1
            attempt = self.attempts[address]
        if address in plan.greylist and (
            plan.greylist_attempts is None or attempt <= plan.greylist_attempts
        ):
            return GREYLIST_REPLY
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: _TrackedSMTP, session: Any, envelope: Any) -> str:
        handed_at = time.monotonic()
        plan = self.plan
        recipient = envelope.rcpt_tos[0]
        delay = plan.slow_delay if recipient in plan.slow else plan.delay
        if delay:
            await asyncio.sleep(delay)
        with self.lock:
            drop = recipient in plan.drop and self.drops[recipient] < plan.drop_times
            if drop:
                self.drops[recipient] += 1
            for address in envelope.rcpt_tos:
                self.copies.append(
                    Copy(address, server.chaos_id, handed_at, time.monotonic(), drop)
                )
        if drop and server.transport is not None:
            # The copy itself is marked; the loss must not also explain earlier copies.
            server.chaos_closed_on_purpose = True
            server.transport.close()
        return "250 2.0.0 OK queued"

    def connection_made(self, connection: int) -> None:
        """A client connected."""
        with self.lock:
            self.opened[connection] = time.monotonic()

    def busy_connections_since(self, moment: float) -> int:
        """Connections opened at or after ``moment`` that carried at least one copy: a
        process started then has joined the sending."""
        with self.lock:
            carried = {c.connection for c in self.copies}
            return sum(1 for c, at in self.opened.items() if at >= moment and c in carried)

    def connection_lost(self, connection: int) -> None:
        """A client went away without QUIT (killed, or we dropped it)."""
        with self.lock:
            self.lost[connection] = time.monotonic()

    def snapshot(self) -> tuple[list[Copy], dict[int, float]]:
        """Copies accepted and connections lost so far."""
        with self.lock:
            return list(self.copies), dict(self.lost)

    def accepted(self) -> int:
        """How many copies were accepted so far."""
        with self.lock:
            return len(self.copies)


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _TrackedSMTP(self.handler, **self.SMTP_kwargs)


class ChaosServer:
    """A ChaosHandler served on a free loopback port from a thread of this process."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.handler = ChaosHandler(plan or FaultPlan())
        self.port = free_port()
        self._controller = _Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        """The NEWSLETTER_SMTP_URL pointing here."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start serving."""
        self._controller.start()

    def stop(self) -> None:
        """Stop serving."""
        self._controller.stop()
