"""A small real SMTP server offering PIPELINING and CHUNKING (BDAT, RFC 3030) on loopback.

aiosmtpd has no BDAT, and Postfix's smtp-sink does not offer it, so the CHUNKING path is
tested against this one. It reads commands as they come (pipelined or not), answers each in
order, and records what it accepted. The recipient's local part injects faults:
``nouser*`` 550 5.1.1 at RCPT, ``temp*`` 451 4.3.0 at RCPT, ``drop*`` the connection is
closed (without a reply) once the message's content has arrived. The hang-up is graceful
(the replies already written arrive, then EOF): an abortive close with pipelined commands
still unread makes the kernel send a reset, which can destroy replies the client has not read
yet, and then a message the server took is reported lost (RFC 1047's duplicate, which no
client can prevent).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from newsletter.devtools.capture import free_port
from tests.smtpserver import Received


class ChunkServer:
    """Serves on a free loopback port in a thread of its own."""

    def __init__(self, *, chunking: bool = True, final_delay: float = 0.0) -> None:
        self.port = free_port()
        self.chunking = chunking
        self.final_delay = final_delay  # seconds before each message's final reply
        self.lock = threading.Lock()
        self._messages: list[Received] = []
        self.reads: list[bytes] = []  # every line read
        # messages whose final reply was due while the next commands had already arrived:
        # the client sent them with (or before) this message's end, without waiting
        self.rode_along = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def messages(self) -> list[Received]:
        """Messages accepted so far."""
        with self.lock:
            return list(self._messages)

    def start(self) -> None:
        """Start serving."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._session, "127.0.0.1", self.port), self._loop
        )
        self._server = future.result(10)

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._server is not None:
            server = self._server

            async def shut() -> None:
                server.close()
                for task in asyncio.all_tasks():
                    if task is not asyncio.current_task():
                        task.cancel()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 chunkserver ESMTP\r\n")
        sender: str | None = None
        recipients: list[str] = []
        chunks: list[bytes] = []
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                with self.lock:
                    self.reads.append(line)
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    extensions = [b"PIPELINING", b"8BITMIME"] + [b"CHUNKING"] * self.chunking
                    writer.write(b"250-chunkserver\r\n")
                    writer.write(b"".join(b"250-%s\r\n" % e for e in extensions[:-1]))
                    writer.write(b"250 %s\r\n" % extensions[-1])
                elif verb == b"MAIL":
                    if sender is not None:
                        writer.write(b"503 5.5.1 nested MAIL command\r\n")
                    else:
                        sender = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                        writer.write(b"250 2.1.0 Ok\r\n")
                elif verb == b"RCPT":
                    address = line.split(b"<", 1)[1].split(b">", 1)[0].decode()
                    local = address.split("@")[0]
                    if sender is None:
                        writer.write(b"503 5.5.1 need MAIL\r\n")
                    elif local.startswith("nouser"):
                        writer.write(b"550 5.1.1 User unknown\r\n")
                    elif local.startswith("temp"):
                        writer.write(b"451 4.3.0 Try later\r\n")
                    else:
                        recipients.append(address)
                        writer.write(b"250 2.1.5 Ok\r\n")
                elif verb == b"BDAT":
                    parts = line.split()
                    chunks.append(await reader.readexactly(int(parts[1])))
                    if len(parts) < 3:
                        writer.write(b"250 2.0.0 chunk Ok\r\n")
                        continue
                    if not recipients:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                    elif not self._accept(sender, recipients, b"".join(chunks)):
                        await self._hang_up(reader, writer)
                        return
                    else:
                        await self._count_ride(reader)
                        writer.write(b"250 2.0.0 Ok: queued\r\n")
                    sender, recipients, chunks = None, [], []
                elif verb == b"DATA":
                    if not recipients:
                        writer.write(b"554 5.5.1 no valid recipients\r\n")
                        continue
                    writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    lines = []
                    while (data := await reader.readline()) != b".\r\n":
                        if not data:
                            return
                        lines.append(data[1:] if data.startswith(b".") else data)
                    if not self._accept(sender, recipients, b"".join(lines)):
                        await self._hang_up(reader, writer)
                        return
                    await self._count_ride(reader)
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
                    sender, recipients = None, []
                elif verb == b"RSET":
                    sender, recipients, chunks = None, [], []
                    writer.write(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 2.0.0 Bye\r\n")
                    await writer.drain()
                    return
                else:
                    writer.write(b"502 5.5.2 Error: command not recognized\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _count_ride(self, reader: asyncio.StreamReader) -> None:
        if self.final_delay:
            await asyncio.sleep(self.final_delay)
        if reader._buffer:  # type: ignore[attr-defined]  # bytes read but not consumed yet
            with self.lock:
                self.rode_along += 1

    @staticmethod
    async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await writer.drain()
        writer.write_eof()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader.read(), 5)  # until the client closes

    def _accept(self, sender: str | None, recipients: list[str], data: bytes) -> bool:
        if recipients[0].split("@")[0].startswith("drop"):
            return False
        with self.lock:
            self._messages.append(Received(sender or "", tuple(recipients), data))
        return True
