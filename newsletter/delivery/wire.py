"""Pipelined SMTP transactions (RFC 2920, RFC 3030) on a connection aiosmtplib opened and logged in.

aiosmtplib sends MAIL, RCPT, DATA and the content as four round trips. After aiosmtplib has
done the hard part (greeting, EHLO, STARTTLS, AUTH), this protocol takes over the transport
and keeps several transactions in flight on it:

- DATA: the end of one message's content and the next transaction's MAIL, RCPT and DATA go
  out in one write, so a busy connection waits one round trip per message instead of two.
- BDAT (CHUNKING, when the server offers it): ``MAIL, RCPT, BDAT n LAST`` and the content go
  out in one write without waiting for anything, up to the connection's window.

Every command written appends the reply it expects to one FIFO, and each reply read is matched
to the head of that FIFO, so every message gets exactly its own replies. A drop, a timeout, a
malformed or an unexpected reply fails every transaction without a final reply with
``WireLost`` (the caller re-queues exactly those) and closes the connection.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque

Reply = tuple[int, str]


class WireLost(ConnectionError):
    """The connection dropped, timed out or spoke garbage: the message's fate is unknown."""


class _Expect(enum.Enum):
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # 354, or a refusal
    FINAL = "final"  # the reply after the content (DATA's end or BDAT ... LAST)
    IGNORE = "ignore"  # RSET after a refusal, or the dot that ends a data phase we abandon
    QUIT = "quit"


class _Transaction:
    __slots__ = ("commands", "data", "future", "replies")

    def __init__(self, commands: bytes, data: bytes, future: asyncio.Future[Reply]) -> None:
        self.commands = commands
        self.data = data
        self.future = future
        self.replies: list[Reply] = []

    def refusal(self) -> Reply | None:
        """The first reply of MAIL or RCPT that was not a success."""
        return next((reply for reply in self.replies if reply[0] >= 300), None)


class PipelinedWire(asyncio.Protocol):
    """Reads SMTP replies off a transport taken over from aiosmtplib and matches them up."""

    def __init__(
        self, transport: asyncio.BaseTransport, timeout: float, *, chunking: bool = False
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.chunking = chunking
        self._buffer = bytearray()
        self._lines: list[str] = []
        self._expect: deque[tuple[_Expect, _Transaction | None]] = deque()
        self._queue: deque[_Transaction] = deque()  # submitted, commands not written yet
        self._awaiting_data = False  # a DATA command's reply is still to come
        self._quit: asyncio.Future[Reply] | None = None
        self._lost: WireLost | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()
        transport.set_protocol(self)

    @property
    def is_open(self) -> bool:
        """Tell whether the connection can carry another message."""
        return self._lost is None and not self.transport.is_closing()

    @property
    def in_flight(self) -> int:
        """Transactions submitted that have no final reply yet."""
        return len(self._queue) + len({id(t) for _, t in self._expect if t is not None})

    # -- submitting ----------------------------------------------------------------------

    async def transaction(self, sender: str, recipient: str, data: bytes) -> Reply:
        """Send one message; the reply that decided its fate (250 when it was accepted)."""
        commands = b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n" % (_arg(sender), _arg(recipient))
        if self._lost is not None:
            raise self._lost
        if self.transport.is_closing():
            raise WireLost("connection closed")
        if self.chunking:
            body = data if data.endswith(b"\r\n") else data + b"\r\n"
            commands += b"BDAT %d LAST\r\n" % len(body)
        else:
            commands += b"DATA\r\n"
            body = _stuff(data)
        transaction = _Transaction(commands, body, self._loop.create_future())
        self._queue.append(transaction)
        self._pump([], [])
        return await transaction.future

    def _pump(
        self, chunks: list[bytes], expects: list[tuple[_Expect, _Transaction | None]]
    ) -> None:
        """Write ``chunks`` and whatever queued commands may go now, in one write."""
        if self._lost is not None:
            return
        if self.chunking:
            while self._queue:
                transaction = self._queue.popleft()
                chunks += [transaction.commands, transaction.data]
                expects += [
                    (_Expect.MAIL, transaction),
                    (_Expect.RCPT, transaction),
                    (_Expect.FINAL, transaction),
                ]
        elif self._queue and not self._awaiting_data:
            # DATA needs its 354 before the content: one command group ahead at a time.
            transaction = self._queue.popleft()
            chunks.append(transaction.commands)
            expects += [
                (_Expect.MAIL, transaction),
                (_Expect.RCPT, transaction),
                (_Expect.DATA, transaction),
            ]
            self._awaiting_data = True
        if not chunks:
            return
        self._expect.extend(expects)
        self.transport.write(b"".join(chunks))  # type: ignore[attr-defined]
        if self._timer is None:
            self._timer = self._loop.call_later(self.timeout, self._timed_out)

    # -- replies -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Collect complete replies and hand each to the command that expects it."""
        buffer = self._buffer
        buffer += data
        start = 0
        while self._lost is None:
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
                reply = (int(line[:3]), "\n".join(self._lines))
                self._lines = []
                self._dispatch(reply)
        del buffer[:start]
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            if self._expect and self._lost is None:
                self._timer = self._loop.call_later(self.timeout, self._timed_out)

    def _dispatch(self, reply: Reply) -> None:
        if not self._expect:
            self._fail(WireLost(f"unexpected reply {reply[0]} {reply[1][:80]!r}"))
            return
        kind, transaction = self._expect.popleft()
        if kind is _Expect.QUIT:
            if self._quit is not None and not self._quit.done():
                self._quit.set_result(reply)
            return
        if kind is _Expect.IGNORE or transaction is None:
            return
        if kind in (_Expect.MAIL, _Expect.RCPT):
            transaction.replies.append(reply)
            return
        if kind is _Expect.DATA:
            self._awaiting_data = False
            refusal = transaction.refusal()
            if reply[0] == 354 and refusal is None:
                self._pump([transaction.data], [(_Expect.FINAL, transaction)])
                return
            if reply[0] == 354:
                # A server that opened the data phase although MAIL or RCPT failed: end it
                # empty (there is no valid recipient), then clear the transaction.
                self._settle(transaction, refusal or reply)
                self._pump([b".\r\nRSET\r\n"], [(_Expect.IGNORE, None), (_Expect.IGNORE, None)])
                return
            self._settle(transaction, refusal or reply)
            self._pump([b"RSET\r\n"], [(_Expect.IGNORE, None)])
            return
        # FINAL: with BDAT, a refused MAIL or RCPT is the reason the chunk was refused.
        refusal = transaction.refusal()
        self._settle(transaction, refusal or reply)
        if self.chunking and (refusal is not None or reply[0] >= 300):
            self._pump([b"RSET\r\n"], [(_Expect.IGNORE, None)])

    @staticmethod
    def _settle(transaction: _Transaction, reply: Reply) -> None:
        if not transaction.future.done():
            transaction.future.set_result(reply)

    def eof_received(self) -> bool:
        """The server hung up."""
        self._fail(WireLost("server closed the connection"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The transport is gone."""
        self._fail(WireLost(f"connection lost: {exc}" if exc else "connection closed"))

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(WireLost(f"no reply within {self.timeout:g} s"))

    def _fail(self, exc: WireLost) -> None:
        """Fail every transaction without a final reply, and close."""
        if self._lost is None:
            self._lost = exc
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting = [t for _, t in self._expect if t is not None] + list(self._queue)
        self._expect.clear()
        self._queue.clear()
        for transaction in waiting:
            if not transaction.future.done():
                transaction.future.set_exception(self._lost)
                transaction.future.exception()  # retrieved: its sender may be gone
        if self._quit is not None and not self._quit.done():
            self._quit.set_exception(self._lost)
            self._quit.exception()
        if not self.transport.is_closing():
            self.transport.close()

    # -- ending ----------------------------------------------------------------------------

    async def quit(self) -> None:
        """Say QUIT (after the replies still due) and close; a gone server is fine."""
        try:
            if self._lost is None and not self.transport.is_closing():
                self._quit = self._loop.create_future()
                self._pump([b"QUIT\r\n"], [(_Expect.QUIT, None)])
                await asyncio.wait_for(self._quit, timeout=min(self.timeout, 5.0))
        except (WireLost, TimeoutError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        """Drop the connection (transactions still in flight fail with WireLost)."""
        if self._lost is None:
            self._fail(WireLost("connection closed by us"))
        elif not self.transport.is_closing():
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
