"""A fault-injecting aiosmtpd server: refusals, dropped connections and slow replies by address.

The local part of the recipient decides what happens:
``temp*`` 451 4.3.0 at RCPT, ``nouser*`` 550 5.1.1 at RCPT, ``policy*`` 550 5.7.1 at DATA,
``rate*`` 421 4.7.28 at RCPT, ``drop*`` the connection is closed at DATA, ``slow*`` the DATA
reply waits ``slow_seconds``. Everyone else is accepted and recorded.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.smtpserver import Received, RecordingServer


@dataclass
class FaultHandler:
    """Records accepted messages; misbehaves for recipients whose name asks for it."""

    messages: list[Received] = field(default_factory=list)
    slow_seconds: float = 2.0
    refuse_everything: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    attempts: dict[str, int] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        local = address.split("@")[0]
        with self.lock:
            self.attempts[address] = self.attempts.get(address, 0) + 1
        if self.refuse_everything:
            return self.refuse_everything
        if local.startswith("temp"):
            return "451 4.3.0 Temporary local problem, try later"
        if local.startswith("nouser"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("rate"):
            return "421 4.7.28 Our system has detected an unusual rate of unsolicited mail"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        local = envelope.rcpt_tos[0].split("@")[0]
        if local.startswith("policy"):
            return "550 5.7.1 Message rejected: DMARC policy of the sender domain"
        if local.startswith("drop"):
            server.transport.close()
            return "421 4.4.2 closing"
        if local.startswith("slow"):
            await asyncio.sleep(self.slow_seconds)
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 OK queued"


class FaultServer(RecordingServer):
    """Runs a FaultHandler on a free loopback port."""

    def __init__(self, handler: FaultHandler | None = None) -> None:
        super().__init__(handler or FaultHandler())
