"""A pipelined SMTP transaction (RFC 2920) on a connection aiosmtplib opened and logged in.

aiosmtplib sends MAIL, RCPT, DATA and the content as four round trips with several awaits
each, which caps one process at about 1,700 messages a second on loopback. After aiosmtplib
has done the hard part (greeting, EHLO, STARTTLS, AUTH), this protocol takes over the
transport and sends MAIL, RCPT and DATA in one write, then the content: two round trips and
two awaits per message. Replies are parsed here; anything odd becomes a ``WireLost``.
"""

from __future__ import annotations

import asyncio
from collections import deque

Reply = tuple[int, str]


class WireLost(ConnectionError):
    """The connection dropped, timed out or spoke garbage: the message's fate is unknown."""


class PipelinedWire(asyncio.Protocol):
    """Reads SMTP replies off a transport taken over from aiosmtplib."""

    def __init__(self, transport: asyncio.BaseTransport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._replies: deque[Reply] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._want = 0
        self._lost: Exception | None = None
        self._loop = asyncio.get_running_loop()
        transport.set_protocol(self)

    @property
    def is_open(self) -> bool:
        """Tell whether the connection can carry another message."""
        return self._lost is None and not self.transport.is_closing()

    def data_received(self, data: bytes) -> None:
        """Collect complete replies; wake the reader when it has what it asked for."""
        buffer = self._buffer
        buffer += data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
            if len(line) < 3 or not line[:3].isdigit():
                self._fail(WireLost(f"malformed reply line {line[:80]!r}"))
                return
            self._lines.append(line[4:].decode("utf-8", "replace"))
            if line[3:4] != b"-":
                self._replies.append((int(line[:3]), "\n".join(self._lines)))
                self._lines = []
        del buffer[:start]
        waiter = self._waiter
        if waiter is not None and not waiter.done() and len(self._replies) >= self._want:
            waiter.set_result(None)

    def eof_received(self) -> bool:
        """The server hung up."""
        self._fail(WireLost("server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport is gone."""
        self._fail(WireLost(f"connection lost: {exc}" if exc else "connection closed"))

    def _fail(self, exc: Exception) -> None:
        if self._lost is None:
            self._lost = exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(self._lost)
            waiter.exception()  # retrieved: nobody may await it after a timeout
        if not self.transport.is_closing():
            self.transport.close()

    def _timed_out(self) -> None:
        self._fail(WireLost(f"no reply within {self.timeout:g} s"))

    def write(self, data: bytes) -> None:
        """Send bytes; raise WireLost if the connection is already gone."""
        if self._lost is not None:
            raise self._lost
        if self.transport.is_closing():
            raise WireLost("connection closed")
        self.transport.write(data)  # type: ignore[attr-defined]

    async def read(self, count: int) -> list[Reply]:
        """Wait for ``count`` replies (raises WireLost on drop or timeout)."""
        if len(self._replies) < count:
            if self._lost is not None:
                raise self._lost
            self._want = count
            self._waiter = self._loop.create_future()
            timer = self._loop.call_later(self.timeout, self._timed_out)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None
        return [self._replies.popleft() for _ in range(count)]

    async def transaction(self, sender: str, recipient: str, data: bytes) -> Reply:
        """Send one message; the reply that decided its fate (250 when it was accepted)."""
        self.write(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (_arg(sender), _arg(recipient)))
        mail, rcpt, start = await self.read(3)
        if start[0] != 354:
            # The transaction is half open (MAIL accepted, no data): clear it for the next one.
            self.write(b"RSET\r\n")
            await self.read(1)
            for reply in (mail, rcpt):
                if reply[0] >= 300:
                    return reply
            return start
        self.write(_stuff(data))
        return (await self.read(1))[0]

    async def quit(self) -> None:
        """Say QUIT and close, ignoring a server that is already gone."""
        try:
            self.write(b"QUIT\r\n")
            await asyncio.wait_for(self.read(1), timeout=min(self.timeout, 5.0))
        except (WireLost, TimeoutError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Drop the connection."""
        if not self.transport.is_closing():
            self.transport.close()


def _arg(address: str) -> bytes:
    if any(ch in address for ch in "\r\n<> ") or not address.isascii():
        raise ValueError(f"unsafe envelope address {address!r}")
    return address.encode("ascii")


def _stuff(data: bytes) -> bytes:
    """Dot-stuff the content and add the end-of-data line (RFC 5321 4.5.2)."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"
