"""The pipelined SMTP path against a real aiosmtpd server: exact bytes, reuse, reconnects."""

from __future__ import annotations

import asyncio

import pytest

from newsletter.config import parse_smtp_url
from newsletter.delivery.mailer import Envelope
from newsletter.delivery.replies import ReplyKind
from newsletter.delivery.smtp import SmtpMailer
from tests.faultserver import FaultServer
from tests.smtpserver import RecordingServer

DATA = (
    b"From: a@example.org\r\nTo: b@example.com\r\nSubject: dots\r\n\r\n"
    b".leading dot\r\n.\r\n..two\r\nend\r\n"
)


@pytest.mark.parametrize("pipelining", ["on", "off"])
def test_exact_bytes_arrive_and_connections_are_reused(
    smtp_server: RecordingServer, pipelining: str
) -> None:
    async def go() -> SmtpMailer:
        mailer = SmtpMailer(
            parse_smtp_url(f"smtp://127.0.0.1:{smtp_server.port}"),
            pool_size=2,
            messages_per_connection=3,
            pipelining=pipelining,
        )
        outcomes = await asyncio.gather(
            *(mailer.send(Envelope("a@example.org", f"r{i}@example.com", DATA)) for i in range(10))
        )
        await mailer.close()
        assert {o.kind for o in outcomes} == {ReplyKind.SENT}
        return mailer

    mailer = asyncio.run(go())
    assert [m.data for m in smtp_server.messages] == [DATA] * 10
    # 10 messages, 3 per connection, 2 connections: reconnects, but far fewer than messages
    assert 4 <= mailer.connects <= 6


def test_a_dropped_connection_is_reopened_for_the_next_message() -> None:
    server = FaultServer()
    server.start()
    try:

        async def go() -> list[ReplyKind]:
            mailer = SmtpMailer(
                parse_smtp_url(f"smtp://127.0.0.1:{server.port}"), pool_size=1, pipelining="on"
            )
            kinds = []
            for name in ("ok1", "drop", "ok2", "nouser", "ok3"):
                outcome = await mailer.send(Envelope("a@example.org", f"{name}@example.com", DATA))
                kinds.append(outcome.kind)
            await mailer.close()
            return kinds

        kinds = asyncio.run(go())
    finally:
        server.stop()
    assert kinds == [
        ReplyKind.SENT,
        ReplyKind.TEMPORARY,
        ReplyKind.SENT,
        ReplyKind.BAD_MAILBOX,
        ReplyKind.SENT,
    ]
    assert [m.rcpt_tos[0] for m in server.messages] == [
        "ok1@example.com",
        "ok2@example.com",
        "ok3@example.com",
    ]
