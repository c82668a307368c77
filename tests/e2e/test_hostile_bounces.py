"""Forged bounces suppress nobody: only a signed return path or our own Message-ID counts."""

from __future__ import annotations

import asyncio
import mailbox
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.models import Delivery, DeliveryStatus
from newsletter.operations import runs
from subscribers.models import Subscriber, SubscriberStatus, Suppression
from tests.cli_helpers import SECRET, cli
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

PEOPLE = ["victim@example.com", "other@example.com", "real@example.com"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _dsn(
    to: str, recipient: str, *, original_id: str | None = None, status: str = "5.1.1"
) -> bytes:
    original = (
        f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <{original_id}>\n"
        f"To: {recipient}\nSubject: The Example Daily\n\n"
        if original_id
        else ""
    )
    return (
        "From: MAILER-DAEMON@mx.example.com\n"
        f"To: {to}\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nI'm sorry.\n\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: {status}\n"
        f"Diagnostic-Code: smtp; 550 {status} no such user\n\n"
        f"{original}--b--\n"
    ).encode()


def _send(url: str, smtp: RecordingServer, **extra: object) -> dict[str, Delivery]:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    for address in PEOPLE:
        subscribe(engine, NOW, address, ["tech"], name="Reader")
    engine.dispose()
    settings = make_settings(url, smtp, secret_key=SECRET, **extra)
    runtime = make_runtime(settings)
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    runtime.engine.dispose()
    assert summary.report is not None and summary.report.sent == len(PEOPLE)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        rows = {d.email: d for d in session.exec(select(Delivery))}
    engine.dispose()
    return rows


def _process(url: str, folder: Path, messages: list[bytes]) -> str:
    box = mailbox.Maildir(str(folder), create=True)
    for message in messages:
        box.add(message)
    result = cli(url, "bounces", "process", str(folder))
    assert result.returncode == 0, result.stderr
    return result.stdout


def _state(url: str) -> tuple[dict[str, str], set[str], dict[str, str]]:
    engine = make_engine(url)
    with Session(engine) as session:
        people = {s.email: s.status for s in session.exec(select(Subscriber))}
        suppressed = {s.value for s in session.exec(select(Suppression))}
        rows = {d.email: d.status for d in session.exec(select(Delivery))}
    engine.dispose()
    return people, suppressed, rows


def test_forged_bounces_change_nothing(
    db_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    deliveries = _send(db_url, smtp_server, bounce_domain="bounces.example.org")
    before = _state(db_url)
    victim = deliveries["victim@example.com"]
    other = deliveries["other@example.com"]
    forged = [
        # The 16-line report of issue 11: any address at the bounce domain, the victim named.
        _dsn("bounces@bounces.example.org", "victim@example.com"),
        # A return path in our format with a made-up signature.
        _dsn(f"bounces+{victim.id}-aaaaaaaaaa@bounces.example.org", "victim@example.com"),
        # A real Message-ID, but of someone else's delivery.
        _dsn("bounces@bounces.example.org", "victim@example.com", original_id=other.message_id),
        # A guessed Message-ID.
        _dsn("x@bounces.example.org", "victim@example.com", original_id="1@news.example.org"),
    ]
    out = _process(db_url, tmp_path / "box", forged)
    assert "4 message(s): 0 hard bounce(s), 0 soft" in out and "4 unmatched" in out
    assert _state(db_url) == before
    assert before[0]["victim@example.com"] == SubscriberStatus.ACTIVE


def test_authenticated_bounces_are_applied(
    db_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    deliveries = _send(db_url, smtp_server, bounce_domain="bounces.example.org")
    paths = {m.rcpt_tos[0]: m.mail_from for m in smtp_server.messages}
    real = deliveries["real@example.com"]
    genuine = [
        # Signed VERP return path.
        _dsn(paths["victim@example.com"], "victim@example.com"),
        # No usable return path, but the returned original is the message we sent them.
        _dsn("bounces@bounces.example.org", "real@example.com", original_id=real.message_id),
    ]
    out = _process(db_url, tmp_path / "box", genuine)
    assert "2 message(s): 2 hard bounce(s)" in out
    people, suppressed, rows = _state(db_url)
    assert people == {
        "victim@example.com": SubscriberStatus.BOUNCED,
        "other@example.com": SubscriberStatus.ACTIVE,
        "real@example.com": SubscriberStatus.BOUNCED,
    }
    assert suppressed == {"victim@example.com", "real@example.com"}
    assert rows["other@example.com"] == DeliveryStatus.SENT
