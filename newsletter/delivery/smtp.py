"""SMTP delivery over a pool of reused aiosmtplib connections: the only module that talks SMTP."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

import aiosmtplib

from newsletter.config import SmtpTarget
from newsletter.delivery.mailer import Envelope, SendOutcome
from newsletter.delivery.replies import ReplyKind, classify_reply
from newsletter.errors import SmtpAuthError, SmtpUnavailable


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    sent: int = 0


class SmtpMailer:
    """Sends through ``pool_size`` connections, each reused for many messages."""

    def __init__(
        self,
        target: SmtpTarget,
        *,
        pool_size: int = 4,
        timeout: float = 30.0,
        messages_per_connection: int = 1000,
        local_hostname: str | None = "localhost",
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.pool_size = pool_size
        self.timeout = timeout
        self.messages_per_connection = messages_per_connection
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        self._idle: asyncio.Queue[_Connection] | None = None
        self.connects = 0

    def _client(self) -> aiosmtplib.SMTP:
        target = self.target
        return aiosmtplib.SMTP(
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            timeout=self.timeout,
            use_tls=target.security == "tls",
            start_tls=target.security == "starttls",
            local_hostname=self.local_hostname,
            tls_context=self.tls_context,
        )

    def _pool(self) -> asyncio.Queue[_Connection]:
        if self._idle is None:
            self._idle = asyncio.Queue()
            for _ in range(self.pool_size):
                self._idle.put_nowait(_Connection(self._client()))
        return self._idle

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
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                if client.client.is_connected:
                    await client.client.quit()
            # a failed TLS handshake leaves the transport open inside aiosmtplib
            client.client.close()

    async def _drop(self, connection: _Connection) -> None:
        with contextlib.suppress(Exception):
            connection.client.close()
        connection.client = self._client()
        connection.sent = 0

    async def send(self, envelope: Envelope) -> SendOutcome:
        """Send on an idle pooled connection; reconnect after a drop or the per-connection cap."""
        pool = self._pool()
        connection = await pool.get()
        try:
            return await self._send_on(connection, envelope)
        finally:
            pool.put_nowait(connection)

    async def _send_on(self, connection: _Connection, envelope: Envelope) -> SendOutcome:
        client = connection.client
        try:
            if client.is_connected and connection.sent >= self.messages_per_connection:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
                await self._drop(connection)
                client = connection.client
            if not client.is_connected:
                await self._connect(connection)
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
            refusal = errors[envelope.recipient]
            return _outcome(refusal.code, refusal.message)
        return SendOutcome(ReplyKind.SENT, 250, response)

    async def _reset(self, connection: _Connection) -> None:
        try:
            if connection.client.is_connected:
                await connection.client.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self._drop(connection)

    async def close(self) -> None:
        """Say QUIT on every open connection."""
        if self._idle is None:
            return
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection.client.is_connected:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await connection.client.quit()
        self._idle = None


def _outcome(code: int, message: str) -> SendOutcome:
    return SendOutcome(classify_reply(code, message), code, message)
