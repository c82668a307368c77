"""The scheduler's mailbox job: bounce and unsubscribe Maildirs applied once, each message moved
from new/ to cur/ (a second run applies nothing), through the real send and its VERP paths."""

from __future__ import annotations

import asyncio
import mailbox
import re
from email.message import EmailMessage
from pathlib import Path

from sqlmodel import Session, select

from newsletter.inbound.mailboxes import MailboxesReport, consume_mailboxes
from newsletter.operations import runs
from subscribers.models import Subscriber, Subscription
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer


def _dsn(return_path: str, recipient: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\n"
        f"To: {return_path}\n"
        "Subject: Delivery Status Notification\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nThe mailbox does not exist.\n\n"
        "--b\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 no such user\n\n"
        "--b--\n"
    ).encode()


def _mail(to: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "unsubscribe"
    message.set_content("please")
    return bytes(message)


def test_the_mailbox_job_applies_each_message_once(
    sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    bounces, unsubscribes = tmp_path / "bounces", tmp_path / "unsubscribe"
    settings = make_settings(
        sqlite_url,
        smtp_server,
        bounce_domain="bounces.example.org",
        bounce_maildir=bounces,
        unsubscribe_maildir=unsubscribes,
    )
    runtime = make_runtime(settings)
    seed_list(runtime.engine, NOW, ["tech"])
    add_articles(runtime.engine, NOW, [["tech"]])
    for name in ("ann", "ben", "cat"):
        subscribe(runtime.engine, NOW, f"{name}@example.com", ["tech"])
    asyncio.run(runs.send_list(runtime, slug="daily"))
    sent = {m.rcpt_tos[0]: m for m in smtp_server.messages}
    box = mailbox.Maildir(str(bounces), create=True)
    box.add(_dsn(sent["ann@example.com"].mail_from, "ann@example.com"))
    box.add(_dsn("bounces+forged@bounces.example.org", "cat@example.com"))  # proves nothing
    mailto = re.search(
        r"<mailto:([^>]+)>", str(sent["ben@example.com"].parsed()["List-Unsubscribe"])
    )
    assert mailto is not None
    mailbox.Maildir(str(unsubscribes), create=True).add(_mail(mailto.group(1), "ben@example.com"))
    assert consume_mailboxes(runtime) == MailboxesReport(bounces=2, unsubscribes=1)
    with Session(runtime.engine) as session:
        people = {p.email: p.status for p in session.exec(select(Subscriber))}
        assert people == {
            "ann@example.com": "bounced",
            "ben@example.com": "active",
            "cat@example.com": "active",
        }
        subscriptions = {s.subscriber_id: s.status for s in session.exec(select(Subscription))}
        assert sorted(subscriptions.values()) == ["active", "active", "unsubscribed"]
    # applied once: every message moved to cur/, a second run finds nothing new
    assert not any((bounces / "new").iterdir()) and len(list((bounces / "cur").iterdir())) == 2
    assert consume_mailboxes(runtime) == MailboxesReport()
    runtime.dispose()
