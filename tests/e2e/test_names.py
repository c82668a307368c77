"""Display names are one line of printable text everywhere they are stored, and a bad name
already in the database fails only its own delivery."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from newsletter.db import make_engine, session_scope
from newsletter.models import Delivery, DeliveryStatus, Run, RunStatus
from newsletter.operations import runs
from subscribers import service
from subscribers.errors import InvalidPreference
from subscribers.importer import import_csv
from subscribers.lists import update_list
from subscribers.models import Subscriber
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

INJECTION = "Mal\r\nBcc: v@example.net"


def test_every_path_that_stores_a_name_cleans_it(engine: Engine, tmp_path: Path) -> None:
    seed_list(engine, NOW, ["tech"])
    with session_scope(engine) as session:
        daily = service.get_list(session, slug="daily")
        service.add_subscriber(
            session,
            mailing_list=daily,
            email="a@example.com",
            now=NOW,
            name=INJECTION,
            confirmed=True,
        )
        result = service.request_subscription(
            session, mailing_list=daily, email="b@example.com", now=NOW, name=INJECTION
        )
        service.update_preferences(
            session, subscription=result.subscription, now=NOW, name="New\r\nName"
        )
        with pytest.raises(InvalidPreference, match="control"):
            service.add_subscriber(
                session, mailing_list=daily, email="c@example.com", now=NOW, name="Bell\x07"
            )
        made = service.create_list(
            session,
            slug="other",
            name="Other\r\nList",
            from_name="Evil\r\nBcc: x@example.net",
            from_address="n@example.org",
            topics=["tech"],
        )
        assert (made.name, made.from_name) == ("Other List", "Evil Bcc: x@example.net")
        with pytest.raises(InvalidPreference, match="from name"):
            update_list(session, slug="other", from_name="a\x1bb")
        assert update_list(session, slug="other", name="A\nB").mailing_list.name == "A B"
    csv_file = tmp_path / "people.csv"
    csv_file.write_bytes(
        b'email,name\nd@example.com,"D\r\nBcc: v@example.net"\ne@example.com,E\x07\n'
    )
    with session_scope(engine) as session:
        daily = service.get_list(session, slug="daily")
        report = import_csv(session, mailing_list=daily, path=csv_file, now=NOW, confirmed=True)
    assert report.added == 1 and report.rejected == 1
    with Session(engine) as session:
        names = dict(session.exec(select(Subscriber.email, Subscriber.name)).all())
    assert names == {
        "a@example.com": "Mal Bcc: v@example.net",
        "b@example.com": "New Name",
        "d@example.com": "D Bcc: v@example.net",
    }


def test_a_bad_name_stored_earlier_fails_its_row_and_the_run_ends_done(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    for email in ("alice@example.com", "mal@example.com", "zoe@example.com"):
        subscribe(engine, NOW, email, ["tech"], name="Someone")
    with engine.begin() as connection:  # as stored before names were cleaned
        connection.execute(
            text("UPDATE subscribers SET name = :name WHERE email = 'mal@example.com'"),
            {"name": INJECTION},
        )
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None
    assert (summary.report.sent, summary.report.failed) == (2, 1)
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "alice@example.com",
        "zoe@example.com",
    ]
    assert all(b"Bcc" not in m.data for m in smtp_server.messages)
    with Session(engine) as session:
        rows = {d.email: d for d in session.exec(select(Delivery))}
        assert rows["mal@example.com"].status == DeliveryStatus.FAILED
        assert "line break in recipient name" in (rows["mal@example.com"].last_error or "")
        assert {r.status for r in session.exec(select(Run))} == {RunStatus.DONE}
    engine.dispose()


def test_a_bad_sender_name_stored_earlier_fails_the_rows_not_the_pass(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    subscribe(engine, NOW, "alice@example.com", ["tech"])
    with engine.begin() as connection:
        connection.execute(text("UPDATE lists SET from_name = :name"), {"name": "Evil\r\nBcc: x"})
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None and summary.report.failed == 1
    assert smtp_server.messages == []
    with Session(engine) as session:
        (row,) = session.exec(select(Delivery)).all()
        assert row.status == DeliveryStatus.FAILED and "could not be built" in (
            row.last_error or ""
        )
        assert {r.status for r in session.exec(select(Run))} == {RunStatus.DONE}
    engine.dispose()


def test_cli_refuses_a_control_character_in_a_list_name(
    sqlite_url: str,
) -> None:
    from tests.cli_helpers import cli

    cli(sqlite_url, "topics", "add", "tech")
    result = cli(
        sqlite_url,
        "lists",
        "create",
        "news",
        "--name",
        "News",
        "--from-address",
        "n@example.org",
        "--topic",
        "tech",
        "--from-name",
        "Evil\x1bname",
    )
    assert result.returncode == 1, result.stdout
    assert result.stderr.strip().startswith("error: from name must not contain control")
