"""The one seam every message goes through: a Mailer sends bytes and reports an outcome."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from newsletter.delivery.replies import ReplyKind
from newsletter.errors import DeliveryError


@dataclass(frozen=True)
class Envelope:
    """One message to one recipient: exactly these bytes are sent."""

    sender: str
    recipient: str
    data: bytes


@dataclass(frozen=True)
class SendOutcome:
    """What happened to one message; a refusal is data, not an exception."""

    kind: ReplyKind
    code: int | None
    message: str
    retry_elsewhere: bool = False  # nothing reached the server: another one may take it
    retry_after: float | None = None  # held back by our own limits: try again in this many s

    @property
    def describe(self) -> str:
        """``550 5.1.1 no such user`` style text for the ledger."""
        return f"{self.code} {self.message}".strip() if self.code else self.message


class Mailer(Protocol):
    """Sends envelopes; implementations: SMTP (a connection pool) and files (dry runs)."""

    async def check(self) -> None:
        """Raise a DeliveryError when nothing could be sent (before anything is recorded)."""
        ...

    async def send(self, envelope: Envelope) -> SendOutcome:
        """Send one message and say what happened."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...

    @property
    def max_in_flight(self) -> int:
        """The most sends that can usefully run at once (the engine runs this many senders)."""
        ...

    def capacity(self) -> int:
        """How many sends can run right now without one waiting for a connection."""
        ...


class FileMailer:
    """Writes each message as an .eml file instead of sending it (``--dry-run``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DeliveryError(f"cannot create {directory}: {exc.strerror}") from None
        self.count = 0

    async def check(self) -> None:
        """The folder exists and takes files."""
        probe = self.directory / ".probe"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise DeliveryError(f"cannot write to {self.directory}: {exc.strerror}") from None

    max_in_flight = 1  # one file at a time

    def capacity(self) -> int:
        """One file at a time."""
        return 1

    async def send(self, envelope: Envelope) -> SendOutcome:
        """Write the message and report it as sent."""
        self.count += 1
        safe = "".join(ch if ch.isalnum() or ch in "@.-_+" else "_" for ch in envelope.recipient)
        path = self.directory / f"{self.count:06d}-{safe}.eml"
        path.write_bytes(envelope.data)
        return SendOutcome(ReplyKind.SENT, 250, f"written to {path}")

    async def close(self) -> None:
        """Nothing to release."""
