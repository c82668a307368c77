"""SMTP delivery over a pool of reused aiosmtplib connections: the only module that talks SMTP."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

import aiosmtplib

from newsletter.delivery.mailer import Envelope, SendOutcome
from newsletter.delivery.replies import ReplyKind, classify_reply
from newsletter.delivery.target import SmtpSecurity, SmtpTarget
from newsletter.delivery.wire import PipelinedWire, WireLost
from newsletter.errors import SmtpAuthError, SmtpUnavailable

PIPELINING_MODES = ("auto", "on", "off")


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    sent: int = 0
    wire: PipelinedWire | None = None
    busy: int = 0  # sends using this connection now
    draining: bool = False  # at its message cap: no new sends, reconnect when idle
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # connect, drop, quit


class SmtpMailer:
    """Sends through ``pool_size`` reused connections, up to ``window`` messages each at once.

    A connection aiosmtplib drives carries one message at a time; a pipelined one (the server
    offers PIPELINING, or ``pipelining="on"``) carries up to ``window``: with DATA, the next
    message's commands ride with the previous message's content (one round trip per message
    once two are in flight); with CHUNKING, whole transactions stream (``BDAT n LAST``).
    """

    def __init__(
        self,
        target: SmtpTarget,
        *,
        pool_size: int = 4,
        timeout: float = 30.0,
        messages_per_connection: int = 1000,
        local_hostname: str | None = "localhost",
        tls_context: ssl.SSLContext | None = None,
        pipelining: str = "auto",
        window: int = 4,
        chunking: bool = True,
    ) -> None:
        if pipelining not in PIPELINING_MODES:
            raise ValueError(f"pipelining must be one of {PIPELINING_MODES}, not {pipelining!r}")
        if window < 1:
            raise ValueError("window must be at least 1")
        self.target = target
        self.pipelining = pipelining
        self.window = window
        self.chunking = chunking
        self.target_size = pool_size
        self.pool_size = pool_size
        self.timeout = timeout
        self.messages_per_connection = messages_per_connection
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        self._connections: list[_Connection] = []
        self._changed: asyncio.Condition | None = None
        self.connects = 0

    @property
    def max_in_flight(self) -> int:
        """How many sends can usefully run at once (connections x window)."""
        return self.pool_size * (self.window if self.pipelining != "off" else 1)

    def capacity(self) -> int:
        """How many sends the connections can carry right now without making one wait: a
        pipelined connection takes ``window``, any other (or one not open yet) takes one."""
        connections = self._connections[: self.target_size]
        if not connections:
            return self.target_size
        return sum(0 if c.draining else self._limit(c) for c in connections) or 1

    def _client(self) -> aiosmtplib.SMTP:
        target = self.target
        return aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            timeout=self.timeout,
            use_tls=target.security is SmtpSecurity.TLS,
            start_tls=target.security is SmtpSecurity.STARTTLS,
            local_hostname=self.local_hostname,
            tls_context=self.tls_context,
        )

    def _limit(self, connection: _Connection) -> int:
        if connection.wire is not None and connection.wire.is_open:
            return self.window
        return 1

    async def _acquire(self) -> _Connection:
        """The connection with the fewest sends in flight that can take one more."""
        if self._changed is None:
            self._changed = asyncio.Condition()
            self._connections = [_Connection(self._client()) for _ in range(self.pool_size)]
        async with self._changed:
            while True:
                usable = [
                    c
                    for c in self._connections[: self.target_size]
                    if not c.draining and c.busy < self._limit(c)
                ]
                if usable:
                    connection = min(usable, key=lambda c: c.busy)
                    connection.busy += 1
                    return connection
                await self._changed.wait()

    async def _release(self, connection: _Connection) -> None:
        connection.busy -= 1
        if connection not in self._connections:
            return  # closed meanwhile
        retired = self._connections.index(connection) >= self.target_size
        if connection.busy == 0 and (connection.draining or retired):
            async with connection.lock:
                if connection.busy == 0:
                    await self._quit(connection)
                    await self._drop(connection)
                    connection.draining = False
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    async def _connect(self, connection: _Connection) -> None:
        try:
            await connection.client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SmtpAuthError(
                f"SMTP server {self.target.host}:{self.target.port} refused our credentials "
                f"({exc.code} {exc.message})"
            ) from None
        except aiosmtplib.SMTPException as exc:
            if "TLS" in str(exc) or "STARTTLS" in str(exc):
                raise SmtpAuthError(
                    f"SMTP server {self.target.host}:{self.target.port}: TLS failed ({exc})"
                ) from None
            raise
        except ssl.SSLError as exc:
            raise SmtpAuthError(
                f"SMTP server {self.target.host}:{self.target.port}: TLS failed ({exc})"
            ) from None
        self.connects += 1
        connection.sent = 0
        client = connection.client
        if self.pipelining != "off" and client.last_ehlo_response is None:
            # aiosmtplib says EHLO lazily, in sendmail(); the pipelined path needs it now.
            try:
                await client.ehlo()
            except aiosmtplib.SMTPHeloError:
                await client.helo()
        offered = client.supports_extension("pipelining")
        if client.transport is not None and (
            self.pipelining == "on" or (self.pipelining == "auto" and offered)
        ):
            chunking = self.chunking and client.supports_extension("chunking")
            connection.wire = PipelinedWire(client.transport, self.timeout, chunking=chunking)

    def shrink(self) -> int:
        """Use half as many connections from now on (a server asked us to slow down)."""
        self.target_size = max(1, self.target_size // 2)
        return self.target_size

    async def check(self) -> None:
        """Connect and log in once, turning failure into one clear error."""
        client = _Connection(self._client())
        try:
            await self._connect(client)
        except SmtpAuthError:
            raise
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SmtpUnavailable(
                f"cannot reach SMTP server {self.target.host}:{self.target.port} ({exc})"
            ) from None
        finally:
            await self._quit(client)
            # a failed TLS handshake or AUTH leaves the transport open inside aiosmtplib
            client.client.close()

    async def _drop(self, connection: _Connection) -> None:
        with contextlib.suppress(Exception):
            if connection.wire is not None:
                connection.wire.close()
            connection.client.close()
        connection.client = self._client()
        connection.wire = None
        connection.sent = 0

    async def _quit(self, connection: _Connection) -> None:
        if connection.wire is not None:
            await connection.wire.quit()
            # aiosmtplib still believes it owns the (now closed) transport.
            connection.client.close()
        elif connection.client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await connection.client.quit()

    async def send(self, envelope: Envelope) -> SendOutcome:
        """Send on a pooled connection; reconnect after a drop or the per-connection cap."""
        connection = await self._acquire()
        try:
            return await self._send_on(connection, envelope)
        finally:
            await self._release(connection)

    async def _send_wire(self, connection: _Connection, envelope: Envelope) -> SendOutcome:
        wire = connection.wire
        if wire is None:
            raise RuntimeError("no pipelined connection")
        connection.sent += 1
        if connection.sent >= self.messages_per_connection:
            connection.draining = True  # the others in flight finish; then it reconnects
        try:
            code, message = await wire.transaction(
                envelope.sender, envelope.recipient, envelope.data
            )
        except WireLost as exc:
            async with connection.lock:
                if connection.wire is wire:
                    await self._drop(connection)
            return SendOutcome(ReplyKind.TEMPORARY, None, str(exc))
        except ValueError as exc:
            return SendOutcome(ReplyKind.PERMANENT, None, str(exc))
        if code == 250:
            return SendOutcome(ReplyKind.SENT, 250, message)
        return _outcome(code, message)

    async def _ready(self, connection: _Connection) -> SendOutcome | None:
        """Open the connection if needed; an outcome when that failed."""
        async with connection.lock:
            client = connection.client
            if connection.wire is None and connection.sent >= self.messages_per_connection:
                if client.is_connected:
                    await self._quit(connection)
                await self._drop(connection)
                client = connection.client
            if connection.wire is not None and not connection.wire.is_open:
                await self._drop(connection)
                client = connection.client
            if connection.wire is None and not client.is_connected:
                try:
                    await self._connect(connection)
                except SmtpAuthError:
                    raise
                except (aiosmtplib.SMTPException, OSError) as exc:
                    await self._drop(connection)
                    return SendOutcome(
                        ReplyKind.TEMPORARY, None, f"cannot connect: {exc}", retry_elsewhere=True
                    )
                if connection.wire is not None and self._changed is not None:
                    async with self._changed:
                        self._changed.notify_all()  # it takes a window of sends now
        return None

    async def _send_on(self, connection: _Connection, envelope: Envelope) -> SendOutcome:
        try:
            failed = await self._ready(connection)
            if failed is not None:
                return failed
            if connection.wire is not None:
                return await self._send_wire(connection, envelope)
            client = connection.client
            errors, response = await client.sendmail(
                envelope.sender, [envelope.recipient], envelope.data
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0]
            await self._reset(connection)
            return _outcome(refusal.code, refusal.message)
        except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            await self._drop(connection)
            return SendOutcome(ReplyKind.TEMPORARY, None, f"connection lost: {exc}")
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset(connection)
            return _outcome(exc.code, exc.message)
        except aiosmtplib.SMTPException as exc:
            await self._drop(connection)
            return SendOutcome(ReplyKind.TEMPORARY, None, f"SMTP error: {exc}")
        connection.sent += 1
        if envelope.recipient in errors:
            partial = errors[envelope.recipient]  # refused without an exception
            return _outcome(partial.code, partial.message)
        return SendOutcome(ReplyKind.SENT, 250, response)

    async def _reset(self, connection: _Connection) -> None:
        try:
            if connection.client.is_connected:
                await connection.client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self._drop(connection)

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        for connection in self._connections:
            async with connection.lock:
                await self._quit(connection)
        self._connections = []
        self._changed = None
        self.target_size = self.pool_size


def _outcome(code: int, message: str) -> SendOutcome:
    return SendOutcome(classify_reply(code, message), code, message)
