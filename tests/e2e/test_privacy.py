"""Privacy: the JSON export of one person, and erasure down to a salted hash."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from newsletter.db import make_engine, session_scope
from newsletter.models import Delivery, SentArticle
from newsletter.operations import runs
from newsletter.operations.privacy import erase_person, export_person
from subscribers import service
from subscribers.errors import SubscriberNotFound, Suppressed
from subscribers.importer import import_csv
from subscribers.models import Subscriber, Suppression, UnsubscribeEvent, UnsubscribeSource
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

SECRET = b"test-secret-key-0123456789"


def test_export_and_erase(sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    subscribe(engine, NOW, "alice@example.com", ["tech"], name="Alice")
    subscribe(engine, NOW, "bob@example.net", ["tech"], name="Bob")
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    asyncio.run(runs.send_list(runtime, slug="daily"))
    with session_scope(runtime.engine) as session:
        alice = service.find_subscriber(session, email="alice@example.com")
        service.unsubscribe(
            session,
            subscriber_id=alice.id or 0,
            list_id=None,
            source=UnsubscribeSource.LINK,
            now=NOW,
        )
        record = export_person(session, email=" ALICE@example.com")
    assert record["email"] == "alice@example.com" and record["name"] == "Alice"
    assert record["subscriptions"][0]["status"] == "unsubscribed"
    assert record["unsubscribes"][0]["source"] == "link"
    assert record["deliveries"][0]["status"] == "sent" and record["articles_received"] == 1
    with session_scope(runtime.engine) as session:
        result = erase_person(session, email="alice@example.com", secret=SECRET, now=NOW)
    assert result.subscriptions == 1
    with session_scope(runtime.engine) as session:
        assert service.is_suppressed(session, email="alice@example.com", secret=SECRET)
        assert [s.email for s in session.exec(select(Subscriber))] == ["bob@example.net"]
        emails = sorted(d.email for d in session.exec(select(Delivery)))
        assert emails == ["bob@example.net", "erased"]
        assert len(session.exec(select(SentArticle)).all()) == 1  # Bob's
        values = [s.value for s in session.exec(select(Suppression))]
        assert values == [result.hash_value] and "alice" not in values[0]
        assert session.exec(select(UnsubscribeEvent)).one().subscriber_id is None
        with pytest.raises(SubscriberNotFound):
            export_person(session, email="alice@example.com")
        with pytest.raises(Suppressed):
            service.request_subscription(
                session,
                mailing_list=service.get_list(session, slug="daily"),
                email="Alice@Example.com",
                now=NOW,
                secret=SECRET,
            )
    csv_file = tmp_path / "again.csv"
    csv_file.write_text("email\nalice@example.com\n", encoding="utf-8")
    with session_scope(runtime.engine) as session:
        report = import_csv(
            session,
            path=csv_file,
            mailing_list=service.get_list(session, slug="daily"),
            now=NOW,
            secret=SECRET,
        )
    assert (report.added, report.suppressed) == (0, 1)
    runtime.dispose()


def _erase_cli(url: str, *args: str, stdin: int) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "NEWSLETTER_DATABASE_URL": url, "NEWSLETTER_SECRET_KEY": "x" * 32}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", "subscribers", "erase", *args],
        stdin=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_erase_asks_at_a_terminal_and_needs_yes_elsewhere(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    subscribe(engine, NOW, "alice@example.com", ["tech"])

    def still_there() -> bool:
        with session_scope(engine) as session:
            return session.exec(select(Subscriber)).first() is not None

    piped = _erase_cli(sqlite_url, "alice@example.com", stdin=subprocess.DEVNULL)
    assert piped.returncode == 1
    assert piped.stderr.strip() == (
        "error: erasing cannot be undone; pass --yes when not at a terminal"
    )
    assert still_there()
    leader, follower = pty.openpty()
    try:
        os.write(leader, b"n\n")
        refused = _erase_cli(sqlite_url, "alice@example.com", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert refused.returncode == 1 and "This cannot be undone" in refused.stdout
    assert still_there()
    done = _erase_cli(sqlite_url, "alice@example.com", "--yes", stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "erased alice@example.com" in done.stdout
    assert not still_there()
    engine.dispose()
