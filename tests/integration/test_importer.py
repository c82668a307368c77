"""CSV import and export on SQLite and PostgreSQL: counts, rejects, idempotence, refusals."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, func
from sqlmodel import select

from newsletter.db import make_engine, session_scope
from subscribers import service
from subscribers.errors import ImportFileError
from subscribers.exporter import export_csv
from subscribers.importer import ImportReport, import_csv
from subscribers.models import Subscriber, Subscription, SubscriptionStatus, UnsubscribeSource
from subscribers.suppression import add_suppression
from tests.conftest import FIXTURES, NOW
from tests.helpers import seed_list

MIXED = FIXTURES / "csv" / "mixed.csv"
SECRET = b"importer-test-secret-0123"


def _seed(engine: Engine) -> None:
    seed_list(engine, NOW, ["tech", "science", "world"])
    with session_scope(engine) as session:
        add_suppression(session, value="blocked@example.com", now=NOW)
        add_suppression(session, value="spam.example", domain=True, now=NOW)


def _import(engine: Engine, path: Path, **options: object) -> ImportReport:
    with session_scope(engine) as session:
        return import_csv(
            session,
            path=path,
            mailing_list=service.get_list(session, slug="daily"),
            now=NOW,
            secret=SECRET,
            **options,  # type: ignore[arg-type]
        )


def _counts(report: ImportReport) -> tuple[int, int, int, int, int]:
    return (report.added, report.updated, report.unchanged, report.rejected, report.suppressed)


def _check_mixed_import(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    rejects = tmp_path / "rejects.csv"
    report = _import(engine, MIXED, rejects_path=rejects)
    assert _counts(report) == (3, 0, 0, 5, 2)
    assert len(report.pending_subscription_ids) == 3
    with rejects.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    reasons = {int(row["line"]): row["reason"] for row in rows}
    assert reasons[4] == "duplicate of line 2"
    assert "@-sign" in reasons[5]
    assert "topic 'cooking' is not offered" in reasons[6]
    assert reasons[7].startswith("suppressed") and reasons[8].startswith("suppressed")
    assert "send hour must be 0-23" in reasons[10]
    assert "unknown time zone 'Mars/Base'" in reasons[11]
    assert rows[0]["email"] == "alice@example.com" and rows[0]["name"] == "Alice again"
    with session_scope(engine) as session:
        people = {s.email: s for s in session.exec(select(Subscriber))}
        assert set(people) == {"alice@example.com", "bob@example.net", "erin@xn--strae-oqa.de"}
        assert people["alice@example.com"].attributes == {"company": "Acme"}
        assert people["bob@example.net"].attributes == {}
        bob = service.get_subscription(session, email="bob@example.net", slug="daily")
        assert (bob.status, bob.topics, bob.cadence, bob.timezone, bob.send_hour) == (
            "pending",
            ["world"],
            "weekly",
            "America/New_York",
            8,
        )
    again = _import(engine, MIXED, rejects_path=rejects)
    assert _counts(again) == (0, 0, 3, 5, 2)
    assert again.pending_subscription_ids == []
    confirmed = _import(engine, MIXED, confirmed=True)
    assert _counts(confirmed) == (0, 3, 0, 5, 2)
    assert _counts(_import(engine, MIXED, confirmed=True)) == (0, 0, 3, 5, 2)
    with session_scope(engine) as session:
        statuses = session.exec(select(Subscription.status)).all()
        assert statuses == ["active"] * 3


def test_import_counts_rejects_and_idempotence_sqlite(engine: Engine, tmp_path: Path) -> None:
    _check_mixed_import(engine, tmp_path)


@pytest.mark.postgres
def test_import_counts_rejects_and_idempotence_postgres(postgres_url: str, tmp_path: Path) -> None:
    engine = make_engine(postgres_url)
    try:
        _check_mixed_import(engine, tmp_path)
    finally:
        engine.dispose()


def test_updates_and_unsubscribed_rows(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    _import(engine, MIXED, confirmed=True)
    changed = tmp_path / "changed.csv"
    changed.write_text(
        "email,name,topics,company,team\n"
        "alice@example.com,,world,Acme,Blue\n"
        "bob@example.net,Robert,,,\n",
        encoding="utf-8",
    )
    assert _counts(_import(engine, changed)) == (0, 2, 0, 0, 0)
    with session_scope(engine) as session:
        alice = service.get_subscription(session, email="alice@example.com", slug="daily")
        assert alice.topics == ["world"] and alice.status == SubscriptionStatus.ACTIVE
        person = service.find_subscriber(session, email="alice@example.com")
        assert person.name == "Alice Martin"
        assert person.attributes == {"company": "Acme", "team": "Blue"}
        service.unsubscribe(
            session,
            subscriber_id=person.id or 0,
            list_id=alice.list_id,
            source=UnsubscribeSource.LINK,
            now=NOW,
        )
    report = _import(engine, changed, confirmed=True)
    assert _counts(report) == (0, 0, 1, 1, 0)  # the unsubscribed one is not re-subscribed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        ("email,name\n".encode("utf-16"), "not a CSV file"),
        (b"name,topics\nAlice,tech\n", "no 'email' column"),
        (b"", "empty file"),
        (b"email,name\na@example.com,Ren\xe9\n", "not UTF-8"),
        (b"email,email\na@example.com,b@example.com\n", "appears twice"),
    ],
)
def test_unreadable_files_are_refused_and_nothing_is_written(
    engine: Engine, tmp_path: Path, content: bytes, message: str
) -> None:
    _seed(engine)
    path = tmp_path / "bad.csv"
    good_rows = b"".join(f"user{i}@example.com,U{i}\n".encode() for i in range(5000))
    if message == "not UTF-8":
        content = b"email,name\n" + good_rows + content.split(b"\n", 1)[1]
    path.write_bytes(content)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(ImportFileError, match=message):
        _import(engine, path, rejects_path=rejects)
    assert not rejects.exists()
    assert not list(tmp_path.glob(".rejects*"))
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Subscriber)).one() == 0


def test_export_then_import_round_trips(
    engine: Engine, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    _seed(engine)
    _import(engine, MIXED, confirmed=True)
    with session_scope(engine) as session:
        subscription = service.get_subscription(session, email="bob@example.net", slug="daily")
        service.update_preferences(session, subscription=subscription, now=NOW, weekday="thu")
    exported = io.StringIO()
    with session_scope(engine) as session:
        count = export_csv(
            session, mailing_list=service.get_list(session, slug="daily"), out=exported
        )
    assert count == 3
    first = exported.getvalue()
    assert first.splitlines()[0] == "email,name,topics,cadence,weekday,timezone,send_hour,company"
    path = tmp_path / "export.csv"
    path.write_text(first, encoding="utf-8")
    fresh_path = tmp_path / "fresh.db"
    shutil.copy(migrated_sqlite_template, fresh_path)
    fresh = make_engine(f"sqlite:///{fresh_path}")
    try:
        seed_list(fresh, NOW, ["tech", "science", "world"])
        assert _counts(_import(fresh, path, confirmed=True)) == (3, 0, 0, 0, 0)
        again = io.StringIO()
        with session_scope(fresh) as session:
            export_csv(session, mailing_list=service.get_list(session, slug="daily"), out=again)
        assert again.getvalue() == first
    finally:
        fresh.dispose()


def test_an_export_never_re_subscribes_people_who_left(
    engine: Engine, tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    _seed(engine)
    _import(engine, MIXED, confirmed=True)
    with session_scope(engine) as session:
        daily = service.get_list(session, slug="daily")
        bob = service.find_subscriber(session, email="bob@example.net")
        service.unsubscribe(
            session,
            subscriber_id=bob.id or 0,
            list_id=daily.id,
            source=UnsubscribeSource.LINK,
            now=NOW,
        )
        service.add_subscriber(session, mailing_list=daily, email="pat@example.org", now=NOW)
    default, everyone = io.StringIO(), io.StringIO()
    with session_scope(engine) as session:
        daily = service.get_list(session, slug="daily")
        assert export_csv(session, mailing_list=daily, out=default) == 2
        assert export_csv(session, mailing_list=daily, out=everyone, status="all") == 4
    assert "bob@example.net" not in default.getvalue()
    assert "pat@example.org" not in default.getvalue()
    lines = everyone.getvalue().splitlines()
    assert lines[0] == "email,name,topics,cadence,weekday,timezone,send_hour,status,company"
    assert [line.split(",")[0] for line in lines if ",unsubscribed," in line] == ["bob@example.net"]
    path = tmp_path / "everyone.csv"
    path.write_text(everyone.getvalue(), encoding="utf-8")
    fresh_path = tmp_path / "fresh.db"
    shutil.copy(migrated_sqlite_template, fresh_path)
    fresh = make_engine(f"sqlite:///{fresh_path}")
    try:
        seed_list(fresh, NOW, ["tech", "science", "world"])
        rejects = tmp_path / "rejects.csv"
        report = _import(fresh, path, confirmed=True, rejects_path=rejects)
        assert _counts(report) == (2, 0, 0, 2, 0)
        with rejects.open(encoding="utf-8") as handle:
            reasons = {row["email"]: row["reason"] for row in csv.DictReader(handle)}
        assert reasons["bob@example.net"].startswith("unsubscribed where it was exported")
        assert reasons["pat@example.org"].startswith("pending (never confirmed)")
        unconfirmed = _import(fresh, path)
        assert (unconfirmed.added, unconfirmed.rejected) == (1, 1)  # pat, pending again
        with session_scope(fresh) as session:
            statuses = dict(
                session.exec(
                    select(Subscriber.email, Subscription.status).join(
                        Subscription, Subscription.subscriber_id == Subscriber.id
                    )
                ).all()
            )
        assert "bob@example.net" not in statuses
        assert statuses["pat@example.org"] == SubscriptionStatus.PENDING
    finally:
        fresh.dispose()


def test_semicolons_bom_blank_lines_and_short_rows(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffEmail;Name;Topics;Weekday\r\n"
        "zoe@example.com;Zoë;world|tech;fri\r\n"
        "\r\n"
        "yan@example.com;Yan\r\n".encode()
    )
    rejects = tmp_path / "rejects.csv"
    seen: list[tuple[int, int]] = []
    report = _import(
        engine, path, rejects_path=rejects, progress=lambda done, total: seen.append((done, total))
    )
    assert (report.rows, report.added, report.rejected) == (2, 1, 1)
    assert "2 field(s) where the header has 4" in rejects.read_text(encoding="utf-8")
    assert seen[-1][0] == seen[-1][1] == path.stat().st_size
    with session_scope(engine) as session:
        zoe = service.get_subscription(session, email="zoe@example.com", slug="daily")
        assert (zoe.topics, zoe.weekday) == (["tech", "world"], 4)
        assert service.find_subscriber(session, email="zoe@example.com").name == "Zoë"


def test_rejects_folder_must_exist(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    with pytest.raises(ImportFileError, match="does not exist"):
        _import(engine, MIXED, rejects_path=tmp_path / "missing" / "rejects.csv")


@pytest.mark.parametrize(
    ("bad_line", "where"),
    [(1, "in the header"), (2, "at line 2"), (3002, "at line 3002")],
)
def test_a_byte_that_is_not_utf8_is_reported_at_its_line(
    engine: Engine, tmp_path: Path, bad_line: int, where: str
) -> None:
    _seed(engine)
    lines = [b"email,name\r\n"] + [
        f"user{i}@example.com,Ren\u00e9 {i}\r\n".encode() for i in range(2, 4001)
    ]
    lines[bad_line - 1] = lines[bad_line - 1].replace(b"e", b"\xe9", 1)  # Latin-1, not UTF-8
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"".join(lines))
    with pytest.raises(ImportFileError) as caught:
        _import(engine, path)
    assert str(caught.value) == (
        f"{path}: not UTF-8 text (invalid continuation byte {where}); "
        "save the file as UTF-8 and try again"
    )
