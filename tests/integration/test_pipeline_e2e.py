"""End to end: articles in, personalised digests out over real SMTP, parsed back and checked."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus, SentArticle
from newsletter.operations import runs
from subscribers.models import Subscriber, SubscriberStatus, Subscription, Suppression
from subscribers.tokens import Purpose, read_token
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

TOPICS = ["tech", "science", "world"]


def _setup(url: str) -> None:
    from newsletter.db import make_engine

    engine = make_engine(url)
    seed_list(engine, NOW, TOPICS)
    # article 0: tech+science (must appear once), 1: tech, 2: world, 3: science
    add_articles(engine, NOW, [["tech", "science"], ["tech"], ["world"], ["science"]])
    subscribe(engine, NOW, "alice@example.com", ["tech", "science"], name="Alice Martin")
    subscribe(engine, NOW, "bob@example.net", ["world"], name="Bob")
    subscribe(engine, NOW, "chloe@example.org", ["science"], name="Chloé Dubois")
    engine.dispose()


def _titles(html_or_text: str) -> list[str]:
    return re.findall(r"Story \d+ about [a-z ]+", html_or_text)


def test_digests_are_personal_complete_and_never_sent_twice(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    _setup(sqlite_url)
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.plan.queued == 3 and summary.plan.skipped == 0
    assert summary.report is not None and summary.report.sent == 3
    messages = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    assert set(messages) == {"alice@example.com", "bob@example.net", "chloe@example.org"}

    alice = messages["alice@example.com"].parsed()
    assert alice.get_content_type() == "multipart/alternative"
    plain, html = alice.get_payload()
    assert plain.get_content_type() == "text/plain" and html.get_content_type() == "text/html"
    for part in (plain, html):
        assert part.get_content_charset() == "utf-8"
        assert part["Content-Transfer-Encoding"] == "quoted-printable"
    raw = messages["alice@example.com"].data
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert all(byte < 128 for byte in raw)  # 7-bit safe
    assert parseaddr(str(alice["From"]))[1] == "digest@news.example.org"
    assert parseaddr(str(alice["To"])) == ("Alice Martin", "alice@example.com")
    assert alice["Subject"].startswith("Example Daily: ")
    assert alice["Date"] is not None
    assert alice["Message-ID"].endswith("@news.example.org>")
    assert alice["List-Id"] == "Example Daily <daily.news.example.org>"
    assert alice["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_url, mailto = re.findall(r"<([^>]+)>", str(alice["List-Unsubscribe"]))
    assert https_url.startswith("https://news.example.test/u/")
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@news.example.org")
    token = https_url.rsplit("/", 1)[1]
    claims = read_token(b"test-secret-key-0123456789", token, Purpose.UNSUBSCRIBE, now=NOW)
    text, body = plain.get_content(), html.get_content()
    assert "Hi Alice Martin," in text and "Hi Alice Martin," in body
    assert https_url in text and https_url in body
    assert "/p/" in text and "View in your browser" in body and "max-width:600px" in body
    # only Alice's topics, the two-topic story once
    assert sorted(_titles(text)) == sorted(
        ["Story 0 about tech and science", "Story 1 about tech", "Story 3 about science"]
    )
    linked = re.findall(r'class="article-title"[^>]*>(Story \d+ about [a-z ]+)</a>', body)
    assert sorted(linked) == sorted(_titles(text))

    bob_text = messages["bob@example.net"].parsed().get_payload()[0].get_content()
    assert _titles(bob_text) == ["Story 2 about world"]
    chloe = messages["chloe@example.org"].parsed()
    assert parseaddr(str(chloe["To"]))[0] == "Chloé Dubois"
    assert "Hi Chloé Dubois," in chloe.get_payload()[0].get_content()
    assert "Hi Chloé Dubois," in chloe.get_payload()[1].get_content()

    # the same run again sends nothing
    again = asyncio.run(runs.resume_run(runtime, run_id=summary.plan.run_id))
    assert again.sent == 0 and len(smtp_server.messages) == 3
    # a new run: nothing new for anyone, recorded as skipped
    second = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert second.plan.queued == 0 and second.plan.skipped == 3
    assert len(smtp_server.messages) == 3
    with Session(runtime.engine) as session:
        sent = session.exec(select(SentArticle)).all()
        assert len(sent) == 3 + 1 + 2
        skipped = session.exec(select(Delivery).where(Delivery.run_id == second.plan.run_id)).all()
        assert {d.status for d in skipped} == {DeliveryStatus.SKIPPED}
    assert claims.subscriber_id > 0
    runtime.dispose()


def test_hard_bounce_marks_bounced_and_temporary_is_retried_later(sqlite_url: str) -> None:
    server = RecordingServer()
    server.handler.rcpt_reply = lambda a: (
        "550 5.1.1 No such user"
        if a.startswith("bob")
        else "451 4.3.0 Try again later"
        if a.startswith("chloe")
        else None
    )
    server.start()
    try:
        _setup(sqlite_url)
        runtime = make_runtime(make_settings(sqlite_url, server))
        summary = asyncio.run(runs.send_list(runtime, slug="daily"))
        assert summary.report is not None
        assert (summary.report.sent, summary.report.bounced, summary.report.deferred) == (1, 1, 1)
        assert [m.rcpt_tos[0] for m in server.messages] == ["alice@example.com"]
        with Session(runtime.engine) as session:
            rows = {d.email: d for d in session.exec(select(Delivery))}
            assert rows["bob@example.net"].status == DeliveryStatus.BOUNCED
            assert "5.1.1" in (rows["bob@example.net"].last_error or "")
            assert rows["chloe@example.org"].status == DeliveryStatus.DEFERRED
            assert rows["chloe@example.org"].next_attempt_at is not None
            bob = session.exec(
                select(Subscriber).where(Subscriber.email == "bob@example.net")
            ).one()
            assert bob.status == SubscriberStatus.BOUNCED
            assert session.exec(select(Suppression)).one().value == "bob@example.net"
        runtime.dispose()
    finally:
        server.stop()


def test_dry_run_writes_eml_files_and_changes_no_history(sqlite_url: str, tmp_path: Path) -> None:
    _setup(sqlite_url)
    runtime = make_runtime(make_settings(sqlite_url))
    out = tmp_path / "eml"
    summary = asyncio.run(runs.send_list(runtime, slug="daily", dry_run_dir=out))
    assert summary.dry_run and summary.plan.queued == 3
    files = sorted(out.glob("*.eml"))
    assert len(files) == 3
    first = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with Session(runtime.engine) as session:  # a dry-run run in the ledger, no history
        rows = session.exec(select(Delivery)).all()
        assert {r.status for r in rows} == {DeliveryStatus.SENT} and len(rows) == 3
        run = session.get(Run, rows[0].run_id)
        assert run is not None and run.kind == RunKind.DRY_RUN and run.status == RunStatus.DONE
        assert session.exec(select(SentArticle)).all() == []
        assert all(s.offered_until is None for s in session.exec(select(Subscription)).all())
    runtime.dispose()


def test_a_real_send_after_a_dry_run_still_delivers(
    sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    _setup(sqlite_url)
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    asyncio.run(runs.send_list(runtime, slug="daily", dry_run_dir=tmp_path / "eml"))
    real = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert real.report is not None and real.report.sent == 3
    assert len(smtp_server.messages) == 3
    runtime.dispose()


@pytest.mark.postgres
def test_same_pipeline_on_postgresql(postgres_url: str, smtp_server: RecordingServer) -> None:
    _setup(postgres_url)
    runtime = make_runtime(make_settings(postgres_url, smtp_server))
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None and summary.report.sent == 3
    again = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert again.plan.queued == 0 and len(smtp_server.messages) == 3
    runtime.dispose()
