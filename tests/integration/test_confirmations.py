"""Confirmation emails over a real aiosmtpd server, the link in them, and the ledger rows."""

from __future__ import annotations

import asyncio
import re
from email.utils import parseaddr

import pytest
from sqlalchemy import text
from sqlmodel import select

from newsletter.db import make_engine, session_scope
from newsletter.digest.links import token_from_link
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind
from newsletter.operations import runs
from newsletter.operations.confirmations import pending_without_confirmation, send_confirmations
from subscribers import service
from subscribers.errors import InvalidToken, Suppressed
from subscribers.models import SubscriptionStatus, UnsubscribeSource
from subscribers.suppression import add_suppression
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

SECRET = b"test-secret-key-0123456789"


def _pending(url: str, *emails: str) -> list[int]:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech", "science"])
    ids = []
    with session_scope(engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        for email in emails:
            result = service.request_subscription(
                session, mailing_list=mailing_list, email=email, now=NOW, name=email[0].upper()
            )
            ids.append(result.subscription.id or 0)
    engine.dispose()
    return ids


def test_confirmation_email_is_well_formed_and_its_link_confirms(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    ids = _pending(sqlite_url, "alice@example.com", "bob@example.net", "zed@blocked.example")
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    with session_scope(runtime.engine) as session:
        add_suppression(session, value="blocked.example", domain=True, now=NOW)
    report = asyncio.run(send_confirmations(runtime, subscription_ids=ids))
    assert (report.sent, report.skipped, report.failed) == (2, 1, 0)
    received = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    assert set(received) == {"alice@example.com", "bob@example.net"}
    raw = received["alice@example.com"].data
    assert all(byte < 128 for byte in raw) and max(map(len, raw.split(b"\r\n"))) <= 998
    message = received["alice@example.com"].parsed()
    assert parseaddr(str(message["From"])) == ("Example Newsroom", "digest@news.example.org")
    assert parseaddr(str(message["To"])) == ("A", "alice@example.com")
    assert message["Subject"] == "Confirm your subscription to Example Daily"
    assert message["Date"] is not None
    assert message["Message-ID"].endswith("@news.example.org>")
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_payload()  # type: ignore[misc]
    assert (plain.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert plain["Content-Transfer-Encoding"] == "quoted-printable"
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    text = plain.get_content()
    link = re.search(r"https://news\.example\.test/c/\S+", text)
    assert link is not None and link.group(0) in html.get_content()
    assert "<style" not in html.get_content().split("</head>")[1]  # CSS inlined in the body
    with session_scope(runtime.engine) as session:
        runs_ = session.exec(select(Run).where(Run.kind == RunKind.CONFIRM)).all()
        assert len(runs_) == 1 and runs_[0].status == "done"
        rows = {d.email: d.status for d in session.exec(select(Delivery))}
        assert rows == {
            "alice@example.com": DeliveryStatus.SENT,
            "bob@example.net": DeliveryStatus.SENT,
            "zed@blocked.example": DeliveryStatus.SKIPPED,
        }
        subscription = service.confirm_subscription(
            session, token=token_from_link(link.group(0)), secret=SECRET, now=NOW
        )
        assert subscription.status == SubscriptionStatus.ACTIVE
    assert pending_without_confirmation(runtime, list_id=1) == [ids[2]]
    # already confirmed or suppressed: nothing goes out again
    again = asyncio.run(send_confirmations(runtime, subscription_ids=ids[:1]))
    assert (again.sent, again.skipped) == (0, 1)
    runtime.dispose()


def test_refused_confirmation_marks_the_address_bounced(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    smtp_server.handler.rcpt_reply = lambda address: (
        "550 5.1.1 no such user" if address.startswith("ghost") else None
    )
    ids = _pending(sqlite_url, "ghost@example.com", "real@example.com")
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    report = asyncio.run(send_confirmations(runtime, subscription_ids=ids))
    assert (report.sent, report.bounced) == (1, 1)
    with session_scope(runtime.engine) as session:
        assert service.is_suppressed(session, email="ghost@example.com")
    runtime.dispose()


def test_nothing_is_sent_after_an_unsubscribe_even_in_a_planned_run(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    subscribe(engine, NOW, "alice@example.com", ["tech"])
    subscribe(engine, NOW, "bob@example.net", ["tech"])
    subscribe(engine, NOW, "carol@example.org", ["tech"])
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    from newsletter.ledger.planning import plan_run

    with session_scope(runtime.engine) as session:
        plan = plan_run(
            session,
            mailing_list=service.get_list(session, slug="daily"),
            now=NOW,
            limits=runtime.limits,
            lookback=runtime.lookback,
        )
    with session_scope(runtime.engine) as session:
        alice = service.find_subscriber(session, email="alice@example.com")
        service.unsubscribe(
            session,
            subscriber_id=alice.id or 0,
            list_id=None,
            source=UnsubscribeSource.ONE_CLICK,
            now=NOW,
        )
        add_suppression(session, value="bob@example.net", now=NOW)
    report = asyncio.run(runs.resume_run(runtime, run_id=plan.run_id))
    assert (report.sent, report.skipped) == (1, 2)
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == ["carol@example.org"]
    runtime.dispose()


def test_a_test_send_to_a_suppressed_address_is_refused(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    with session_scope(runtime.engine) as session:
        add_suppression(session, value="example.net", domain=True, now=NOW)
    with pytest.raises(Suppressed):
        asyncio.run(runs.send_test(runtime, slug="daily", to="me@example.net"))
    assert smtp_server.messages == []
    runtime.dispose()


def test_the_confirmation_names_the_topics_the_person_chose(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech", "science"])
    ids = []
    with session_scope(engine) as session:
        daily = service.get_list(session, slug="daily")
        for email, topics in (
            ("alice@example.com", ["science"]),
            ("bob@example.net", None),
            ("carol@example.org", ["science"]),
        ):
            result = service.request_subscription(
                session, mailing_list=daily, email=email, now=NOW, topics=topics
            )
            ids.append(result.subscription.id or 0)
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    report = asyncio.run(send_confirmations(runtime, subscription_ids=ids))
    assert report.sent == 3
    wanted = {
        "alice@example.com": "Example Daily (science).",
        "bob@example.net": "Example Daily (tech, science).",
        "carol@example.org": "Example Daily (science).",
    }
    for message in smtp_server.messages:
        plain, html = message.parsed().get_payload()  # type: ignore[misc]
        expected = wanted[message.rcpt_tos[0]]
        assert expected in " ".join(plain.get_content().split())
        assert expected in " ".join(html.get_content().split())
    runtime.dispose()


def test_a_confirmation_link_from_an_earlier_sign_up_confirms_nothing(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    (sub_id,) = _pending(sqlite_url, "alice@example.com")
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))

    def emailed_link() -> str:
        asyncio.run(send_confirmations(runtime, subscription_ids=[sub_id]))
        plain = smtp_server.messages[-1].parsed().get_payload()[0]  # type: ignore[index]
        found = re.search(r"https://news\.example\.test/c/\S+", plain.get_content())
        assert found is not None
        return token_from_link(found.group(0))

    def confirm(token: str) -> None:
        with session_scope(runtime.engine) as session:
            service.confirm_subscription(session, token=token, secret=SECRET, now=NOW)

    def sign_up_again() -> None:
        with session_scope(runtime.engine) as session:
            service.request_subscription(
                session,
                mailing_list=service.get_list(session, slug="daily"),
                email="alice@example.com",
                now=NOW,
            )

    first = emailed_link()
    confirm(first)
    with session_scope(runtime.engine) as session:
        subscription = service.get_subscription(session, email="alice@example.com", slug="daily")
        service.unsubscribe(
            session,
            subscriber_id=subscription.subscriber_id,
            list_id=subscription.list_id,
            source=UnsubscribeSource.LINK,
            now=NOW,
        )
    sign_up_again()  # by someone else, perhaps: the old link must not answer it
    with pytest.raises(InvalidToken, match="earlier sign-up"):
        confirm(first)
    second = emailed_link()
    sign_up_again()  # still pending, asked again: only the newest link counts
    third = emailed_link()
    with pytest.raises(InvalidToken):
        confirm(second)
    confirm(third)
    with session_scope(runtime.engine) as session:
        subscription = service.get_subscription(session, email="alice@example.com", slug="daily")
        assert subscription.status == SubscriptionStatus.ACTIVE
    runtime.dispose()


def test_a_name_with_a_line_break_stored_earlier_fails_only_its_confirmation(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    ids = _pending(sqlite_url, "alice@example.com", "mal@example.com")
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    with runtime.engine.begin() as connection:  # as stored before names were cleaned
        connection.execute(
            text("UPDATE subscribers SET name = :name WHERE email = 'mal@example.com'"),
            {"name": "Mal\r\nBcc: v@example.net"},
        )
    report = asyncio.run(send_confirmations(runtime, subscription_ids=ids))
    assert (report.sent, report.failed) == (1, 1)
    assert [m.rcpt_tos[0] for m in smtp_server.messages] == ["alice@example.com"]
    with session_scope(runtime.engine) as session:
        row = session.exec(select(Delivery).where(Delivery.email == "mal@example.com")).one()
        assert row.status == DeliveryStatus.FAILED
        assert "line break in recipient name" in (row.last_error or "")
    runtime.dispose()


def test_a_deferred_confirmation_is_retried_by_the_engine_once_when_due(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    from datetime import timedelta

    from newsletter.schedule.drain import drain_runs, sendable_runs

    ids = _pending(sqlite_url, "ann@example.com", "ben@example.com")
    smtp_server.handler.rcpt_reply = lambda a: (
        "451 4.3.0 try later" if a.startswith("ann") else None
    )
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    report = asyncio.run(send_confirmations(runtime, subscription_ids=ids))
    assert (report.sent, report.deferred) == (1, 1)
    with session_scope(runtime.engine) as session:
        assert sendable_runs(session, now=NOW) == []  # its retry time has not come
    smtp_server.handler.rcpt_reply = lambda a: None
    later = make_runtime(make_settings(sqlite_url, smtp_server), now=NOW + timedelta(hours=1))
    with session_scope(later.engine) as session:
        due = sendable_runs(session, now=later.clock())
    assert due == report.run_ids
    asyncio.run(drain_runs(later, due, worker="test", stopping=lambda: False))
    ann = [m for m in smtp_server.messages if m.rcpt_tos == ("ann@example.com",)]
    ben = [m for m in smtp_server.messages if m.rcpt_tos == ("ben@example.com",)]
    assert (len(ann), len(ben)) == (1, 1)  # accepted once each, the retry included
    with session_scope(later.engine) as session:
        assert sendable_runs(session, now=NOW + timedelta(days=5)) == []
        run = session.get(Run, report.run_ids[0])
        assert run is not None and run.status == "done"
    # the retried email carries a confirm link that confirms ann
    body = ann[0].parsed().get_body(("plain",))
    assert body is not None
    link = re.search(r"https://news\.example\.test/c/\S+", body.get_content())
    assert link is not None
    with session_scope(later.engine) as session:
        service.confirm_subscription(
            session, token=token_from_link(link.group(0)), secret=SECRET, now=later.clock()
        )
    for rt in (runtime, later):
        rt.dispose()
