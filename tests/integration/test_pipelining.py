"""Several transactions in flight per connection (RFC 2920 DATA chaining, RFC 3030 BDAT):
every message gets exactly its own reply, and a drop fails exactly those without one."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlmodel import Session, select

from newsletter.config import parse_smtp_url
from newsletter.db import make_engine
from newsletter.delivery.mailer import Envelope, SendOutcome
from newsletter.delivery.replies import ReplyKind
from newsletter.delivery.smtp import SmtpMailer
from newsletter.models import Delivery, DeliveryStatus
from newsletter.operations import runs
from tests.chunkserver import ChunkServer
from tests.conftest import NOW, make_runtime, make_settings
from tests.faultserver import FaultServer
from tests.helpers import add_articles, seed_list, subscribe


def _data(name: str) -> bytes:
    return (
        f"From: a@example.org\r\nTo: {name}@example.com\r\nSubject: {name}\r\n\r\n"
        f".leading dot for {name}\r\n.\r\n..two\r\nend\r\n"
    ).encode()


NAMES = [
    *(f"ok{i}" for i in range(12)),
    "nouser1",
    *(f"ok{i}" for i in range(12, 20)),
    "temp1",
    *(f"ok{i}" for i in range(20, 30)),
]
EXPECTED = {"ok": ReplyKind.SENT, "nouser": ReplyKind.BAD_MAILBOX, "temp": ReplyKind.TEMPORARY}


@pytest.fixture(params=["data", "bdat"])
def server(request: pytest.FixtureRequest) -> Iterator[ChunkServer]:
    chunk_server = ChunkServer(chunking=request.param == "bdat")
    chunk_server.start()
    try:
        yield chunk_server
    finally:
        chunk_server.stop()


async def _send_all(port: int, names: list[str], **options: int) -> dict[str, SendOutcome]:
    mailer = SmtpMailer(parse_smtp_url(f"smtp://127.0.0.1:{port}"), pipelining="on", **options)
    try:
        outcomes = await asyncio.gather(
            *(mailer.send(Envelope("b@example.org", f"{n}@example.com", _data(n))) for n in names)
        )
    finally:
        await mailer.close()
    return dict(zip(names, outcomes, strict=True))


def test_each_message_gets_its_own_reply(server: ChunkServer) -> None:
    outcomes = asyncio.run(_send_all(server.port, NAMES, pool_size=2, window=4))
    for name, outcome in outcomes.items():
        assert outcome.kind is EXPECTED[name.rstrip("0123456789")], (name, outcome)
    received = {m.rcpt_tos[0].split("@")[0]: m.data for m in server.messages}
    assert set(received) == {n for n in NAMES if n.startswith("ok")}
    assert all(data == _data(name) for name, data in received.items())  # exact bytes


@pytest.mark.parametrize("window", [1, 4])
def test_next_commands_do_not_wait_for_the_final_reply(server: ChunkServer, window: int) -> None:
    server.final_delay = 0.05  # the server takes its time over every final reply
    asyncio.run(_send_all(server.port, [f"ok{i}" for i in range(8)], pool_size=1, window=window))
    # With a window, the next transaction's commands are already there when the server gets
    # round to a message's final reply (with DATA they came with the message's end); without
    # one, the client waits for that reply first. The last message has nobody behind it.
    assert server.rode_along == (0 if window == 1 else 7)
    joined = b"".join(server.reads)
    assert joined.count(b"MAIL FROM") == 8
    if server.chunking:
        assert b"DATA\r\n" not in joined and joined.count(b" LAST\r\n") == 8
    else:
        assert joined.count(b"DATA\r\n") == 8
    assert len(server.messages) == 8


@pytest.mark.parametrize("window", [1, 2, 4])
def test_a_drop_fails_exactly_the_messages_without_a_final_reply(
    server: ChunkServer, window: int
) -> None:
    names = [*(f"ok{i}" for i in range(10)), "drop1", *(f"ok{i}" for i in range(10, 20))]
    outcomes = asyncio.run(_send_all(server.port, names, pool_size=1, window=window))
    sent = {name for name, outcome in outcomes.items() if outcome.kind is ReplyKind.SENT}
    received = [m.rcpt_tos[0].split("@")[0] for m in server.messages]
    # Nothing reported sent that the server did not take, and the other way round.
    assert sorted(received) == sorted(sent)
    assert outcomes["drop1"].kind is ReplyKind.TEMPORARY
    lost = {name for name, outcome in outcomes.items() if outcome.kind is ReplyKind.TEMPORARY}
    assert lost | sent == set(names)
    # the messages behind the drop were sent again on a new connection or failed for retry
    assert len(received) == len(set(received))


def test_aiosmtpd_pipelined_with_faults_at_data_and_drops() -> None:
    faults = FaultServer()
    faults.start()
    try:
        names = [
            *(f"ok{i}" for i in range(8)),
            "policy1",
            "drop1",
            *(f"ok{i}" for i in range(8, 16)),
            "nouser1",
        ]
        outcomes = asyncio.run(_send_all(faults.port, names, pool_size=2, window=3))
    finally:
        faults.stop()
    sent = {name for name, outcome in outcomes.items() if outcome.kind is ReplyKind.SENT}
    received = [m.rcpt_tos[0].split("@")[0] for m in faults.messages]
    assert len(received) == len(set(received)) and sent <= set(received)
    # aiosmtpd's abortive close can reset away a reply we had not read yet (see chunkserver):
    # such a message is reported temporary, never sent, and at most a window's worth.
    for name in set(received) - sent:
        assert outcomes[name].kind is ReplyKind.TEMPORARY
    assert len(set(received) - sent) <= 3
    assert outcomes["policy1"].kind is ReplyKind.POLICY
    assert outcomes["nouser1"].kind is ReplyKind.BAD_MAILBOX
    assert outcomes["drop1"].kind is ReplyKind.TEMPORARY


def test_the_engine_sends_each_person_exactly_once_over_pipelined_paths(
    sqlite_url: str, server: ChunkServer, tmp_path: Path
) -> None:
    """Plan, send as production does (2 pipelined connections, a window of 4: 8 sender tasks;
    a drop among them), let the retry come due, send again: every deliverable person got
    exactly one signed digest."""
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    names = [*(f"ok{i}" for i in range(25)), "drop1", "nouser1", *(f"ok{i}" for i in range(25, 40))]
    for name in names:
        subscribe(engine, NOW, f"{name}@example.com", ["tech"])
    engine.dispose()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    settings = make_settings(
        sqlite_url,
        smtp_url=f"smtp://127.0.0.1:{server.port}",
        smtp_pipelining="on",
        smtp_pool_size=2,
        retry_base_seconds=60,
        dkim_key_file=key_file,
        dkim_selector="s1",
        dkim_domain="news.example.org",
    )
    runtime = make_runtime(settings)
    plan = runs.plan_list(runtime, slug="daily")
    assert plan.queued == len(names)

    async def send(clock_now: datetime) -> None:
        runtime.clock = lambda: clock_now
        mailer = runtime.mailer()
        sender, signer = runs.make_sender(runtime, mailer)  # the production wiring
        assert sender._sender_tasks() == 8  # 2 connections x a window of 4
        try:
            await sender.send_run(plan.run_id)
        finally:
            await mailer.close()
            if signer is not None:
                signer.close()

    wanted = {f"{n}@example.com" for n in names if n.startswith("ok")}
    # The drop takes the messages in flight behind it along (deferred, sent on a later pass);
    # it is retried on every pass and drops again, so a few passes may be needed.
    for passes in range(8):
        asyncio.run(send(NOW + timedelta(hours=7 * passes)))
        received = [m.rcpt_tos[0] for m in server.messages]
        assert len(received) == len(set(received))  # never twice
        if set(received) == wanted:
            break
    assert set(received) == wanted
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
    assert all(dkim.verify(m.data, dnsfunc=lambda n, timeout=5: record) for m in server.messages)
    with Session(runtime.engine) as session:
        statuses = {
            d.email.split("@")[0]: d.status
            for d in session.exec(select(Delivery).where(Delivery.run_id == plan.run_id))
        }
    assert statuses["nouser1"] == DeliveryStatus.BOUNCED
    assert statuses["drop1"] == DeliveryStatus.DEFERRED
    assert {s for n, s in statuses.items() if n.startswith("ok")} == {DeliveryStatus.SENT}
    runtime.dispose()


def test_sender_tasks_follow_what_the_connections_can_carry(sqlite_url: str) -> None:
    """connections x window tasks; beyond what the open connections carry now, a task waits
    without taking a message; under a rate limit, one task per connection."""
    runtime = make_runtime(make_settings(sqlite_url, smtp_pool_size=3))
    mailer = runtime.mailer()
    try:
        sender, _ = runs.make_sender(runtime, mailer)
        assert sender._sender_tasks() == 12
        # nothing is open yet: each connection carries one message until it is pipelined
        assert [sender._may_take(i) for i in range(12)] == [True] * 3 + [False] * 9
        limited = replace(runtime.send_policy(), rate_per_second=50.0)
        assert runs.make_sender(runtime, mailer, policy=limited)[0]._sender_tasks() == 3
    finally:
        asyncio.run(mailer.close())
        runtime.dispose()
