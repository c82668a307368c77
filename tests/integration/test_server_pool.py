"""Several SMTP servers: weights, a dead server's work moving on, rate limits kept across runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.delivery.pool import ServerPool
from newsletter.devtools.capture import free_port
from newsletter.models import Delivery, DeliveryStatus, SmtpServerState
from newsletter.operations import runs
from tests.conftest import NOW, make_runtime, make_settings
from tests.faultserver import FaultHandler, FaultServer
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer


@pytest.fixture
def second_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


def _setup(url: str, count: int) -> None:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    for index in range(count):
        subscribe(engine, NOW, f"reader{index}@example.com", ["tech"])
    engine.dispose()


def _statuses(url: str) -> list[str]:
    with Session(make_engine(url)) as session:
        return [row.status for row in session.exec(select(Delivery))]


def test_weights_split_the_traffic(
    sqlite_url: str, smtp_server: RecordingServer, second_server: RecordingServer
) -> None:
    _setup(sqlite_url, 60)
    servers = [
        {"url": f"smtp://127.0.0.1:{smtp_server.port}", "weight": 3},
        {"url": f"smtp://127.0.0.1:{second_server.port}", "weight": 1},
    ]
    settings = make_settings(sqlite_url, smtp_servers=servers)
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.sent == 60
    first, second = len(smtp_server.messages), len(second_server.messages)
    assert first + second == 60
    assert first > second > 0


def test_a_dead_server_is_rested_and_its_work_goes_to_the_others(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    _setup(sqlite_url, 30)
    dead = free_port()
    servers = [
        {"url": f"smtp://127.0.0.1:{dead}", "name": "dead", "weight": 10},
        {"url": f"smtp://127.0.0.1:{smtp_server.port}", "name": "alive", "weight": 1},
    ]
    settings = make_settings(sqlite_url, smtp_servers=servers, smtp_failure_threshold=2)
    runtime = make_runtime(settings)
    mailer = runtime.mailer()
    assert isinstance(mailer, ServerPool)
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None and summary.report.sent == 30
    assert len(smtp_server.messages) == 30
    assert set(_statuses(sqlite_url)) == {DeliveryStatus.SENT}


def test_rate_limit_reply_rests_the_server_and_shrinks_its_pool(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    _setup(sqlite_url, 10)
    limited = FaultServer(FaultHandler(refuse_everything="421 4.7.28 unusual rate, slow down"))
    limited.start()
    try:
        servers = [
            {"url": f"smtp://127.0.0.1:{limited.port}", "name": "gmailish", "weight": 100},
            {"url": f"smtp://127.0.0.1:{smtp_server.port}", "name": "relay", "weight": 1},
        ]
        settings = make_settings(sqlite_url, smtp_servers=servers, smtp_pool_size=4)
        runtime = make_runtime(settings)
        summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    finally:
        limited.stop()
    assert summary.report is not None and summary.report.sent == 10
    assert len(smtp_server.messages) == 10
    # the rest period is kept in the database for the next process
    with Session(make_engine(sqlite_url)) as session:
        state = session.get(SmtpServerState, "gmailish")
    assert state is not None and state.down_until is not None
    assert "4.7.28" in (state.last_error or "")


def test_rate_limits_are_honoured_and_survive_a_restart(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    _setup(sqlite_url, 12)
    settings = make_settings(
        sqlite_url,
        smtp_server,
        smtp_rate_per_second=20,
        smtp_rate_per_hour=10,
        smtp_max_wait_seconds=1,
    )
    runtime = make_runtime(settings)
    # the hour bucket holds 10: the 11th message would wait 6 minutes for a token, longer
    # than smtp_max_wait_seconds, so it is deferred and the pass ends
    started = time.monotonic()
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None
    assert summary.report.sent == 10
    assert time.monotonic() - started < 30
    with Session(make_engine(sqlite_url)) as session:
        state = session.exec(select(SmtpServerState)).one()
    assert state.tokens_hour < 1
    # a new process starts from the saved bucket: nothing may go out now
    with Session(make_engine(sqlite_url)) as session:
        for row in session.exec(select(Delivery)):
            row.next_attempt_at = None  # due now, as far as the ledger is concerned
            session.add(row)
        session.commit()
    report = asyncio.run(runs.send_run(make_runtime(settings), run_id=summary.plan.run_id))
    assert report.sent == 0 and report.deferred == 1
    assert len(smtp_server.messages) == 10
