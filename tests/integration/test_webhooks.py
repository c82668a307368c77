"""Outgoing webhooks against a real HTTP receiver on loopback: every event recorded once,
signed so the receiver can verify it, retried with back-off from the database queue, given up
after the last attempt (the pure signature and back-off rules: tests/unit/test_webhooks.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from newsletter.db import make_engine, session_scope
from newsletter.models import WebhookDelivery, WebhookEvent
from newsletter.operations import runs
from newsletter.runtime import Runtime
from newsletter.webhooks.endpoints import WebhookError, add_endpoint
from newsletter.webhooks.events import record_events
from newsletter.webhooks.sender import deliver_due
from newsletter.webhooks.signing import MAX_ATTEMPTS, backoff, verify
from subscribers import service
from subscribers.models import UnsubscribeSource
from tests.conftest import NOW, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer


@dataclass
class Receiver:
    """An HTTP server on loopback that records POSTs and answers ``statuses`` in turn."""

    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(owner.delay)
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = owner.statuses.pop(0) if owner.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Clock:
    """A clock the test moves."""

    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    served = Receiver()
    yield served
    served.stop()


@pytest.fixture
def rt(database_url: str, smtp_server: RecordingServer) -> Iterator[Runtime]:
    """A runtime with a clock the test moves, on SQLite and on PostgreSQL."""
    clock = Clock()
    runtime = Runtime(
        settings=make_settings(database_url, smtp_server),
        engine=make_engine(database_url),
        clock=clock,
    )
    seed_list(runtime.engine, NOW, ["tech"])
    subscribe(runtime.engine, NOW - timedelta(days=1), "old@example.com", ["tech"])
    add_articles(runtime.engine, NOW, [["tech"]])
    yield runtime
    runtime.dispose()


def advance(rt: Runtime, seconds: float) -> None:
    clock = rt.clock
    assert isinstance(clock, Clock)
    clock.now += timedelta(seconds=seconds)


def endpoint(rt: Runtime, url: str, *events: str) -> str:
    with session_scope(rt.engine) as session:
        _, secret = add_endpoint(session, url=url, events=list(events), now=rt.clock())
    return secret


def test_events_are_signed_delivered_once_and_retried_with_backoff(
    rt: Runtime, receiver: Receiver
) -> None:
    secret = endpoint(rt, receiver.start())
    advance(rt, 60)
    subscribe(rt.engine, rt.clock(), "new@example.com", ["tech"])  # confirmed at once
    with session_scope(rt.engine) as session:
        person = service.find_subscriber(session, email="old@example.com")
        service.unsubscribe(
            session,
            subscriber_id=person.id or 0,
            list_id=None,
            source=UnsubscribeSource.COMPLAINT,
            now=rt.clock(),
        )
    advance(rt, 60)
    summary = asyncio.run(runs.send_list(rt, slug="daily"))
    assert summary.report is not None and summary.report.sent == 1
    with session_scope(rt.engine) as session:  # a hard bounce, as a DSN or a provider reports it
        bounced = service.find_subscriber(session, email="new@example.com")
        service.mark_bounced(session, subscriber_id=bounced.id or 0, now=rt.clock())

    receiver.statuses = [500, 500, 500, 500]  # the first four posts fail
    report = deliver_due(rt)
    assert (report.recorded, report.delivered, report.retried) == (4, 0, 4)
    with session_scope(rt.engine) as session:
        waits = {d.next_attempt_at - rt.clock() for d in session.exec(select(WebhookDelivery))}
    assert waits == {timedelta(seconds=30)}
    assert deliver_due(rt).delivered == 0  # nothing due yet, nothing recorded twice
    assert len(receiver.received) == 4
    advance(rt, 31)
    report = deliver_due(rt)
    assert (report.recorded, report.delivered, report.retried) == (0, 4, 0)

    delivered = receiver.received[4:]
    kinds = sorted(json.loads(body)["type"] for _, body in delivered)
    assert kinds == [
        "delivery.bounced",
        "delivery.complained",
        "run.finished",
        "subscriber.confirmed",
    ]
    for headers, body in delivered:
        stamp = int(rt.clock().timestamp())
        assert verify(secret, headers["newsletter-signature"], body, now=stamp)
        assert not verify("whsec_wrong", headers["newsletter-signature"], body, now=stamp)
        assert not verify(secret, headers["newsletter-signature"], body + b" ", now=stamp)
        assert headers["newsletter-event"] == json.loads(body)["type"]
    data = {json.loads(b)["type"]: json.loads(b)["data"] for _, b in delivered}
    assert data["subscriber.confirmed"]["email"] == "new@example.com"
    assert data["delivery.complained"]["email"] == "old@example.com"
    assert data["run.finished"]["counts"]["sent"] == 1
    assert data["delivery.bounced"] == {
        "email": "new@example.com",
        "reason": "hard-bounce",
        "note": "",
    }
    advance(rt, 3600)
    assert deliver_due(rt) == type(report)(0, 0, 0, 0)
    with session_scope(rt.engine) as session:
        assert len(session.exec(select(WebhookEvent)).all()) == 4


def test_events_before_an_endpoint_existed_are_not_sent_and_filters_apply(
    rt: Runtime, receiver: Receiver
) -> None:
    subscribe(rt.engine, rt.clock(), "before@example.com", ["tech"])
    advance(rt, 1)
    endpoint(rt, receiver.start(), "subscriber.unsubscribed")
    advance(rt, 1)
    subscribe(rt.engine, rt.clock(), "after@example.com", ["tech"])
    with session_scope(rt.engine) as session:
        person = service.find_subscriber(session, email="before@example.com")
        service.unsubscribe(
            session,
            subscriber_id=person.id or 0,
            list_id=None,
            source=UnsubscribeSource.LINK,
            now=rt.clock(),
        )
    deliver_due(rt)
    assert [json.loads(b)["type"] for _, b in receiver.received] == ["subscriber.unsubscribed"]
    assert json.loads(receiver.received[0][1])["data"]["email"] == "before@example.com"


def test_an_endpoint_that_never_answers_is_given_up_after_the_last_attempt(
    rt: Runtime, receiver: Receiver
) -> None:
    url = receiver.start()
    receiver.stop()  # connection refused from now on
    receiver.server = None
    endpoint(rt, url, "subscriber.confirmed")
    advance(rt, 1)
    subscribe(rt.engine, rt.clock(), "x@example.com", ["tech"])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = deliver_due(rt)
        assert report.delivered == 0
        assert (report.failed, report.retried) == ((1, 0) if attempt == MAX_ATTEMPTS else (0, 1))
        advance(rt, backoff(attempt).total_seconds())
    with session_scope(rt.engine) as session:
        row = session.exec(select(WebhookDelivery)).one()
    assert row.status == "failed" and row.attempts == MAX_ATTEMPTS
    assert row.last_error and "Connect" in row.last_error


def test_bad_endpoints_are_refused(rt: Runtime) -> None:
    with session_scope(rt.engine) as session:
        for url, events in (("ftp://x/", []), ("https://ok.example/", ["nope"])):
            with pytest.raises(WebhookError):
                add_endpoint(session, url=url, events=events, now=rt.clock())


def test_two_senders_at_once_post_each_event_once(rt: Runtime, receiver: Receiver) -> None:
    endpoint(rt, receiver.start(), "subscriber.confirmed")
    advance(rt, 1)
    for number in range(6):
        subscribe(rt.engine, rt.clock(), f"p{number}@example.com", ["tech"])
    with session_scope(rt.engine) as session:
        record_events(session, now=rt.clock())
    receiver.delay = 0.1  # slow answers keep both senders busy at the same time
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda _: deliver_due(rt, limit=3), range(2)))
    assert sum(r.delivered for r in reports) == 6
    ids = sorted(json.loads(body)["data"]["email"] for _, body in receiver.received)
    assert ids == [f"p{number}@example.com" for number in range(6)]
