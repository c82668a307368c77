"""Exactly once, nothing lost: leases that cannot be outlived, results only from the lease
holder, a stopped ledger stops sending, unsubscribes honoured for claimed rows, a pending
digest holds the next one, late news offered once. Counted at a real SMTP server."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import make_engine, session_scope
from newsletter.errors import LedgerError
from newsletter.ledger.planning import Plan, plan_run
from newsletter.ledger.record import (
    DeliveryResult,
    claim_batch,
    db_now,
    record_results,
)
from newsletter.models import Delivery, DeliveryStatus, SentArticle
from newsletter.operations import runs
from newsletter.runtime import Runtime
from newsletter.schedule.drain import drain_runs, sendable_runs
from newsletter.sending.kinds import STOPPED
from subscribers import service
from subscribers.models import UnsubscribeSource
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingHandler, RecordingServer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The test runs once on a SQLite file and once on a PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


def _people(url: str, count: int, prefix: str = "reader") -> list[str]:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"], ["tech"]])
    emails = [f"{prefix}{i:04d}@example.com" for i in range(count)]
    for address in emails:
        subscribe(engine, NOW, address, ["tech"])
    engine.dispose()
    return emails


def _plan(runtime: Runtime) -> Plan:
    """Plan a manual run of the daily list now."""
    with session_scope(runtime.engine) as session:
        return plan_run(
            session,
            mailing_list=service.get_list(session, slug="daily"),
            now=NOW,
            limits=runtime.limits,
            lookback=runtime.lookback,
        )


def _story(url: str, title: str, *, published: datetime, stored: datetime) -> int:
    """Store one tech story published at ``published``, arriving at ``stored``."""
    engine = make_engine(url)
    with session_scope(engine) as session:
        draft = ArticleDraft(
            title=title,
            body_html=f"<p>{title}, in full.</p>",
            published_at=published,
            url=f"https://news.example.org/{title.lower().replace(' ', '-')}",
            summary=f"{title}.",
            topics=("tech",),
        )
        result = store_drafts(session, [draft], topics=[], now=stored, source="test")
    engine.dispose()
    return result.article_ids[0]


def _received(server: RecordingServer) -> collections.Counter[str]:
    return collections.Counter(m.rcpt_tos[0] for m in server.messages)


def _assert_each_once(server: RecordingServer, emails: list[str]) -> None:
    """The server accepted exactly one message for each of ``emails`` and for nobody else."""
    received = _received(server)
    assert sorted(received) == emails
    assert set(received.values()) == {1}


def _statuses(url: str) -> collections.Counter[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return collections.Counter(r.status for r in session.exec(select(Delivery)))
    finally:
        engine.dispose()


@pytest.fixture
def slow_server() -> Iterator[RecordingServer]:
    server = RecordingServer(RecordingHandler(delay=0.05))
    server.start()
    yield server
    server.stop()


# -- leases --------------------------------------------------------------------------------


def test_a_rate_limited_send_longer_than_its_lease_sends_everyone_once(
    db_url: str, smtp_server: RecordingServer
) -> None:
    emails = _people(db_url, 300)
    # 300 messages at 50/s take 6 s; every lease is 3 s: without renewal rows would expire
    # while queued and be claimed and sent a second time. (A lease this short leaves the
    # watcher 0.75 s of slack per renewal; shorter ones made the test fail on a busy machine,
    # safely: the engine stops and hands the rows back when it cannot renew in time.)
    settings = make_settings(
        db_url, smtp_server, smtp_rate_per_second=50, send_lease_seconds=3, smtp_pool_size=2
    )
    runtime = make_runtime(settings)
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    runtime.dispose()
    assert summary.report is not None
    _assert_each_once(smtp_server, emails)
    assert _statuses(db_url) == {DeliveryStatus.SENT: 300}


def test_a_holder_that_lost_its_lease_writes_nothing(db_url: str) -> None:
    _people(db_url, 3)
    runtime = make_runtime(make_settings(db_url))
    plan = _plan(runtime)
    lease = timedelta(minutes=5)
    with session_scope(runtime.engine) as session:
        first, _ = claim_batch(
            session, run_id=plan.run_id, claim="a#1", now=NOW, limit=10, lease=lease
        )
        assert len(first) == 3
        # the first holder stalls past its lease (on the database's clock)...
        session.execute(
            text("UPDATE deliveries SET lease_until = :t"), {"t": db_now(session) - lease}
        )
    with session_scope(runtime.engine) as session:
        second, _ = claim_batch(
            session, run_id=plan.run_id, claim="b#1", now=NOW, limit=10, lease=lease
        )
        assert [r.id for r in second] == [r.id for r in first]
    with session_scope(runtime.engine) as session:
        # ...and then reports: nothing changes, the rows stay the second holder's
        stale = record_results(
            session,
            [DeliveryResult(r.id, DeliveryStatus.FAILED, error="late") for r in first],
            {r.id: r for r in first},
            now=NOW,
            digest_articles={},
        )
        assert stale.written == 0 and stale.stale == tuple(r.id for r in first)
    with session_scope(runtime.engine) as session:
        fresh = record_results(
            session,
            [DeliveryResult(r.id, DeliveryStatus.SENT, message_id=f"m{r.id}") for r in second],
            {r.id: r for r in second},
            now=NOW,
            digest_articles={},
        )
        assert fresh.written == 3 and fresh.stale == ()
    assert _statuses(db_url) == {DeliveryStatus.SENT: 3}
    runtime.dispose()


def test_a_sender_whose_clock_runs_ahead_does_not_take_live_leases(db_url: str) -> None:
    _people(db_url, 4)
    runtime = make_runtime(make_settings(db_url))
    plan = _plan(runtime)
    lease = timedelta(minutes=5)
    with session_scope(runtime.engine) as session:
        held, _ = claim_batch(
            session, run_id=plan.run_id, claim="a#1", now=NOW, limit=2, lease=lease
        )
    skewed = NOW + timedelta(minutes=10)  # a process whose clock is 10 minutes ahead
    with session_scope(runtime.engine) as session:
        taken, _ = claim_batch(
            session, run_id=plan.run_id, claim="b#1", now=skewed, limit=10, lease=lease
        )
    assert {r.id for r in taken}.isdisjoint({r.id for r in held})
    assert len(taken) == 2
    runtime.dispose()


# -- the ledger cannot be written ----------------------------------------------------------


@pytest.mark.slow
def test_a_locked_ledger_stops_sending_and_nothing_is_sent_twice(sqlite_url: str) -> None:
    emails = _people(sqlite_url, 200)
    server = RecordingServer(RecordingHandler(delay=0.05))
    server.start()
    path = sqlite_url.removeprefix("sqlite:///")
    released = threading.Event()

    def hold_lock() -> None:
        while len(server.messages) < 10:
            time.sleep(0.005)
        locker = sqlite3.connect(path, timeout=30)
        locker.execute("BEGIN IMMEDIATE")  # the write lock, past the 10 s busy timeout
        time.sleep(13)
        locker.rollback()
        locker.close()
        released.set()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    runtime = make_runtime(make_settings(sqlite_url, server, smtp_pool_size=2))
    try:
        with pytest.raises(LedgerError, match="database is locked"):
            asyncio.run(runs.send_list(runtime, slug="daily"))
        holder.join()
        at_stop = _received(server)
        statuses = _statuses(sqlite_url)
        # everything accepted was recorded once the lock went; nothing is left leased
        assert statuses[DeliveryStatus.SENT] == sum(at_stop.values())
        assert statuses[DeliveryStatus.SENDING] == 0
        # it stopped within about a second of the stuck write (2 connections, 0.05 s each)
        assert sum(at_stop.values()) < 10 + 60
        run_id = 1
        report = asyncio.run(runs.resume_run(runtime, run_id=run_id))
        assert report.status == "done"
    finally:
        runtime.dispose()
        server.stop()
    _assert_each_once(server, emails)


# -- unsubscribes while rows are claimed -----------------------------------------------------


def test_an_unsubscribe_during_a_send_is_honoured_for_rows_already_claimed(
    db_url: str,
) -> None:
    emails = _people(db_url, 40)
    server = RecordingServer(RecordingHandler(delay=0.1))
    server.start()
    leaving = emails[20:]  # their turn comes two seconds after they leave

    def unsubscribe_when_sending() -> None:
        while len(server.messages) < 3:
            time.sleep(0.005)
        engine = make_engine(db_url)
        with session_scope(engine) as session:
            mailing_list = service.get_list(session, slug="daily")
            for address in leaving:
                person = service.find_subscriber(session, email=address)
                assert person is not None and person.id is not None
                service.unsubscribe(
                    session,
                    subscriber_id=person.id,
                    list_id=mailing_list.id,
                    source=UnsubscribeSource.ONE_CLICK,
                    now=NOW,
                )
        engine.dispose()

    worker = threading.Thread(target=unsubscribe_when_sending)
    worker.start()
    # one connection and a large batch: every row is claimed long before its turn
    runtime = make_runtime(make_settings(db_url, server, smtp_pool_size=1))
    try:
        asyncio.run(runs.send_list(runtime, slug="daily"))
    finally:
        worker.join()
        runtime.dispose()
        server.stop()
    received = _received(server)
    late = [a for a in leaving if a in received]
    assert late == []
    assert len(received) == 20
    engine = make_engine(db_url)
    with Session(engine) as session:
        skipped = session.exec(
            select(Delivery).where(Delivery.status == DeliveryStatus.SKIPPED)
        ).all()
        assert {r.email for r in skipped} == set(leaving) - set(late)
        assert {r.last_error for r in skipped} == {STOPPED}
    engine.dispose()


# -- a pending digest holds the next one; late news is offered once ------------------------


def test_a_second_send_with_retries_pending_does_not_mail_them_twice(
    db_url: str, smtp_server: RecordingServer
) -> None:
    _people(db_url, 3, prefix="ok")
    engine = make_engine(db_url)
    subscribe(engine, NOW, "grey@example.com", ["tech"])
    engine.dispose()
    smtp_server.handler.rcpt_reply = lambda a: (
        "451 4.7.1 greylisted" if a.startswith("grey") else None
    )
    runtime = make_runtime(make_settings(db_url, smtp_server))
    first = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert first.report is not None and first.report.deferred == 1
    _story(db_url, "Meanwhile", published=NOW, stored=NOW)  # more news meanwhile
    second = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert second.plan.held == 1  # grey's first digest is still pending
    assert second.plan.queued == 3
    smtp_server.handler.rcpt_reply = lambda a: None
    later = make_runtime(make_settings(db_url, smtp_server), now=NOW + timedelta(hours=3))
    with session_scope(later.engine) as session:
        due = sendable_runs(session, now=later.clock())
    assert due == [first.plan.run_id]
    asyncio.run(drain_runs(later, due, worker="t", stopping=lambda: False))
    received = _received(smtp_server)
    assert received["grey@example.com"] == 1
    # the news that came meanwhile is not lost for grey: the next send offers it
    third = asyncio.run(runs.send_list(later, slug="daily"))
    assert third.plan.queued == 1 and third.plan.held == 0
    assert _received(smtp_server)["grey@example.com"] == 2
    for rt in (runtime, later):
        rt.dispose()


def test_late_news_published_before_the_last_digest_is_offered_once(
    db_url: str, smtp_server: RecordingServer
) -> None:
    _people(db_url, 2)
    runtime = make_runtime(make_settings(db_url, smtp_server))
    asyncio.run(runs.send_list(runtime, slug="daily"))
    # a feed delivers a story dated three hours before that digest, an hour later
    later = make_runtime(make_settings(db_url, smtp_server), now=NOW + timedelta(hours=1))
    late = _story(
        db_url, "Late story", published=NOW - timedelta(hours=3), stored=NOW + timedelta(hours=1)
    )
    summary = asyncio.run(runs.send_list(later, slug="daily"))
    assert summary.plan.queued == 2
    again = asyncio.run(runs.send_list(later, slug="daily"))
    assert again.plan.queued == 0  # never twice
    with Session(later.engine) as session:
        got = session.exec(select(SentArticle).where(SentArticle.article_id == late)).all()
        assert len(got) == 2
    for rt in (runtime, later):
        rt.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_dropped_postgresql_connections_lose_nothing_and_send_nothing_twice(
    postgres_url: str,
) -> None:
    import psycopg

    emails = _people(postgres_url, 150)
    server = RecordingServer(RecordingHandler(delay=0.02))
    server.start()
    database = postgres_url.rsplit("/", 1)[1]
    admin_url = postgres_url.rsplit("/", 1)[0] + "/postgres"

    def drop_connections() -> None:
        while len(server.messages) < 10:
            time.sleep(0.005)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for _ in range(20):  # for a second: some land inside a transaction
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (database,),
                )
                time.sleep(0.05)

    dropper = threading.Thread(target=drop_connections)
    dropper.start()
    runtime = make_runtime(make_settings(postgres_url, server, smtp_pool_size=2))
    try:
        try:
            asyncio.run(runs.send_list(runtime, slug="daily"))
        except LedgerError as exc:
            assert "PostgreSQL" in str(exc)
        dropper.join()
        runtime.engine.dispose()
        assert _statuses(postgres_url)[DeliveryStatus.SENDING] == 0
        asyncio.run(runs.resume_run(runtime, run_id=1))
    finally:
        runtime.dispose()
        server.stop()
    _assert_each_once(server, emails)


def test_articles_over_the_cap_are_counted_linked_and_not_brought_back(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]] * 5)
    subscribe(engine, NOW, "ann@example.com", ["tech"])
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, max_articles_per_topic=2))
    asyncio.run(runs.send_list(runtime, slug="daily"))
    (message,) = smtp_server.messages
    text_part = message.parsed().get_body(("plain",))
    assert text_part is not None
    body = text_part.get_content()
    assert "3 more in Tech: https://news.example.test/l/daily/topics/tech" in body
    with Session(runtime.engine) as session:  # all five count as offered
        assert len(session.exec(select(SentArticle)).all()) == 5
    again = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert again.plan.queued == 0
    runtime.dispose()
