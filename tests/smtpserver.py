"""A recording aiosmtpd server for tests, with refusals injected through the handler."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from newsletter.devtools.capture import free_port


@dataclass(frozen=True)
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    def parsed(self) -> EmailMessage:
        """The message parsed with the modern policy."""
        message = email.message_from_bytes(self.data, policy=email.policy.default)
        if not isinstance(message, EmailMessage):
            raise TypeError("not an EmailMessage")
        return message


@dataclass
class RecordingHandler:
    """Records messages; ``rcpt_reply`` / ``data_reply`` decide refusals per recipient."""

    messages: list[Received] = field(default_factory=list)
    rcpt_reply: Callable[[str], str | None] = lambda address: None
    data_reply: Callable[[str], str | None] = lambda address: None
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self.rcpt_reply(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        for address in envelope.rcpt_tos:
            reply = self.data_reply(address)
            if reply:
                return reply
        with self.lock:
            self.messages.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), envelope.original_content)
            )
        return "250 2.0.0 OK queued"


class RecordingServer:
    """Runs a RecordingHandler (or any handler with ``messages`` and ``lock``) on a free
    loopback port."""

    def __init__(self, handler: Any = None) -> None:
        self.handler = handler or RecordingHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Received]:
        """Messages received so far."""
        with self.handler.lock:
            return list(self.handler.messages)

    def start(self) -> None:
        """Start serving in a thread."""
        self.controller.start()

    def stop(self) -> None:
        """Stop serving."""
        self.controller.stop()
