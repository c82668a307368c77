"""The CLI walk-through a new user would do: list, import, rejects, confirm, preferences,
unsubscribe, export, erase."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from newsletter.cli import context
from newsletter.cli.app import app
from tests.conftest import FIXTURES
from tests.smtpserver import RecordingServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(
    sqlite_url: str, smtp_server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> CliRunner:
    monkeypatch.setenv("NEWSLETTER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "cli-test-secret-0123456789")
    monkeypatch.setenv("NEWSLETTER_BASE_URL", "http://127.0.0.1:8000")
    monkeypatch.setattr(context.console, "width", 200)
    return CliRunner()


def _run(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_walk_through(cli: CliRunner, smtp_server: RecordingServer, tmp_path: Path) -> None:
    for topic in ("tech", "science", "world"):
        _run(cli, "topics", "add", topic)
    _run(
        cli,
        "lists",
        "create",
        "daily",
        "--name",
        "The Daily",
        "--from-address",
        "digest@news.example.org",
        "-t",
        "tech",
        "-t",
        "science",
        "-t",
        "world",
    )
    assert "double opt-in" in _run(cli, "lists", "show", "daily")
    _run(cli, "suppressions", "add", "blocked@example.com")
    _run(cli, "suppressions", "add", "spam.example", "--domain")
    rejects = tmp_path / "rejects.csv"
    mixed = str(FIXTURES / "csv" / "mixed.csv")
    output = _run(cli, "subscribers", "import", mixed, "--list", "daily", "--rejects", str(rejects))
    assert "3 added, 0 updated, 0 unchanged, 5 rejected, 2 suppressed" in output
    assert "3 confirmation(s) sent" in output
    with rejects.open(encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 7
    again = _run(cli, "subscribers", "import", mixed, "--list", "daily")
    assert "0 added, 0 updated, 3 unchanged, 5 rejected, 2 suppressed" in again
    assert len(smtp_server.messages) == 3  # a re-run sends nothing
    mail = next(m for m in smtp_server.messages if m.rcpt_tos == ("bob@example.net",))
    body = mail.parsed().get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r"http://127\.0\.0\.1:8000/c/\S+", body)
    assert link is not None
    assert "now active" in _run(cli, "subscribers", "confirm", link.group(0))
    listing = _run(cli, "subscribers", "ls", "--list", "daily", "--status", "active")
    assert "bob@example.net" in listing and "active 1, pending 2" in listing
    assert "alice" not in _run(
        cli, "subscribers", "ls", "--list", "daily", "--topic", "world", "--search", "BOB"
    )
    assert "weekly on fri at 06:00 Asia/Tokyo" in _run(
        cli,
        "subscribers",
        "update",
        "bob@example.net",
        "--list",
        "daily",
        "--weekday",
        "fri",
        "--send-hour",
        "6",
        "--timezone",
        "Asia/Tokyo",
        "-t",
        "world",
        "-t",
        "tech",
    )
    assert "1 subscription(s) ended" in _run(
        cli, "subscribers", "unsubscribe", "bob@example.net", "--list", "daily"
    )
    exported = tmp_path / "export.csv"
    _run(cli, "subscribers", "export", "--list", "daily", "--out", str(exported))
    assert "bob@example.net" not in exported.read_text(encoding="utf-8")  # active only
    _run(cli, "subscribers", "export", "--list", "daily", "--status", "all", "--out", str(exported))
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "email,name,topics,cadence,weekday,timezone,send_hour,status,company"
    assert "bob@example.net,Bob,tech;world,weekly,fri,Asia/Tokyo,6,unsubscribed," in lines
    record = json.loads(_run(cli, "subscribers", "show", "bob@example.net", "--json"))
    assert record["unsubscribes"][0]["source"] == "admin"
    assert record["deliveries"][0]["kind"] == "confirm"
    assert "erased bob@example.net" in _run(cli, "subscribers", "erase", "bob@example.net", "--yes")
    assert "hash" in _run(cli, "suppressions", "ls")
    third = _run(cli, "subscribers", "import", mixed, "--list", "daily")
    assert "0 added, 0 updated, 2 unchanged, 5 rejected, 3 suppressed" in third


def test_mistakes_are_one_line_and_exit_non_zero(cli: CliRunner, sqlite_url: str) -> None:
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": sqlite_url}
    result = subprocess.run(
        [sys.executable, "-m", "newsletter", "lists", "delete", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "error: unknown list 'nope'"


def test_import_while_smtp_is_down_keeps_pending_rows_for_a_resend(
    cli: CliRunner, smtp_server: RecordingServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from newsletter.devtools.capture import free_port
    from newsletter.errors import DeliveryError

    for topic in ("tech", "science", "world"):
        _run(cli, "topics", "add", topic)
    _run(
        cli,
        "lists",
        "create",
        "daily",
        "--name",
        "D",
        "--from-address",
        "d@example.org",
        "-t",
        "tech",
    )
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{free_port('127.0.0.1')}")
    csv_text = "email,topics\nann@example.com,tech\nben@example.com,tech\n"
    people = tmp_path / "people.csv"
    people.write_text(csv_text, encoding="utf-8")
    result = cli.invoke(app, ["subscribers", "import", str(people), "--list", "daily"])
    assert isinstance(result.exception, DeliveryError)
    assert "resend-confirmations --list daily" in str(result.exception)
    assert "2 added" in result.output
    monkeypatch.setenv("NEWSLETTER_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    assert "2 confirmation(s) sent" in _run(
        cli, "subscribers", "resend-confirmations", "--list", "daily"
    )
    assert "no pending subscription" in _run(
        cli, "subscribers", "resend-confirmations", "--list", "daily"
    )
    assert sorted(m.rcpt_tos[0] for m in smtp_server.messages) == [
        "ann@example.com",
        "ben@example.com",
    ]
