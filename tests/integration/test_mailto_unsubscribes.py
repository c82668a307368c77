"""The List-Unsubscribe mailto: a mail to unsubscribe+TOKEN@domain unsubscribes at once."""

from __future__ import annotations

import asyncio
import mailbox
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import Session, select

from newsletter.errors import IngestError
from newsletter.inbound.mailto_unsubscribes import process_unsubscribe_mailbox
from newsletter.operations import runs
from subscribers.models import Subscription, SubscriptionStatus, UnsubscribeEvent
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer


def request_to(address: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = address
    message["Subject"] = "unsubscribe"
    message.set_content("please")
    return bytes(message)


def test_mail_to_the_mailto_address_unsubscribes(
    sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    seed_list(runtime.engine, NOW, ["tech"])
    add_articles(runtime.engine, NOW, [["tech"]])
    subscribe(runtime.engine, NOW, "ann@example.com", ["tech"], name="Ann")
    subscribe(runtime.engine, NOW, "ben@example.com", ["tech"], name="Ben")
    asyncio.run(runs.send_list(runtime, slug="daily"))
    ann = next(m for m in smtp_server.messages if m.rcpt_tos == ("ann@example.com",)).parsed()
    mailto = re.search(r"<mailto:([^>]+)>", str(ann["List-Unsubscribe"]))
    assert mailto is not None
    box = mailbox.Maildir(str(tmp_path / "unsub"), create=True)
    box.add(request_to(mailto.group(1), "ann@example.com"))
    forged = mailto.group(1).replace("unsubscribe+", "unsubscribe+x")
    box.add(request_to(forged, "mallory@example.net"))
    box.add(request_to("editor@news.example.org", "someone@example.com"))
    with Session(runtime.engine) as session:
        report = process_unsubscribe_mailbox(
            session, tmp_path / "unsub", secret=runtime.settings.links.secret, now=NOW
        )
        session.commit()
        assert (report.unsubscribed, report.invalid, report.ignored) == (1, 1, 1)
        statuses = sorted(s.status for s in session.exec(select(Subscription)))
        assert statuses == [SubscriptionStatus.ACTIVE, SubscriptionStatus.UNSUBSCRIBED]
        event = session.exec(select(UnsubscribeEvent)).one()
        assert event.source == "mailto"
        again = process_unsubscribe_mailbox(
            session, tmp_path / "unsub", secret=runtime.settings.links.secret, now=NOW
        )
        assert (again.unsubscribed, again.already) == (0, 1)
    runtime.dispose()


def test_a_path_that_is_no_mailbox_is_one_clear_error(sqlite_url: str, tmp_path: Path) -> None:
    runtime = make_runtime(make_settings(sqlite_url))
    (tmp_path / "plain").mkdir()
    with Session(runtime.engine) as session, pytest.raises(IngestError, match="not a Maildir"):
        process_unsubscribe_mailbox(session, tmp_path / "plain", secret=b"x" * 16, now=NOW)
    runtime.dispose()
