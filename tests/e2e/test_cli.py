"""The CLI as a user runs it: real processes, one-line errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.models import Article
from tests.cli_helpers import cli
from tests.conftest import FIXTURES
from tests.smtpserver import RecordingServer


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def article_count(url: str) -> int:
    engine = make_engine(url)
    with Session(engine) as session:
        count = len(session.exec(select(Article)).all())
    engine.dispose()
    return count


def setup_list(url: str) -> None:
    for args in (
        ("topics", "add", "tech"),
        ("topics", "add", "world"),
        (
            "lists",
            "create",
            "daily",
            "--name",
            "Daily",
            "--from-address",
            "news@example.org",
            "--topic",
            "tech",
            "--topic",
            "world",
        ),
        (
            "subscribers",
            "add",
            "ann@example.com",
            "--list",
            "daily",
            "--topic",
            "tech",
            "--confirmed",
            "--name",
            "Ann",
        ),
    ):
        result = cli(url, *args)
        assert result.returncode == 0, result.stderr


def test_every_command_has_help(sqlite_url: str) -> None:
    for args in (
        [],
        ["db"],
        ["ingest"],
        ["articles", "ls"],
        ["lists", "create"],
        ["subscribers", "add"],
        ["preview"],
        ["send"],
        ["demo"],
    ):
        result = cli(sqlite_url, *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout


def test_ingest_twice_adds_nothing_and_lists_json(sqlite_url: str) -> None:
    setup_list(sqlite_url)
    first = cli(sqlite_url, "ingest", str(FIXTURES / "feeds" / "tech-rss2.xml"), "--topic", "tech")
    assert first.returncode == 0, first.stderr
    assert "4 added" in first.stdout
    second = cli(sqlite_url, "ingest", str(FIXTURES / "feeds" / "tech-rss2.xml"), "--topic", "tech")
    assert "0 added, 4 already stored" in second.stdout
    listed = cli(sqlite_url, "articles", "ls", "--topic", "tech", "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 4
    assert set(rows[0]) >= {"title", "url", "summary", "body_text", "topics", "published_at"}
    assert all(
        "<script" not in row["body_text"] and "alert(" not in row["body_text"] for row in rows
    )


def test_bad_inputs_give_one_line_and_write_nothing(sqlite_url: str, tmp_path: Path) -> None:
    setup_list(sqlite_url)
    feeds = FIXTURES / "feeds"
    assert_one_line_error(
        cli(sqlite_url, "ingest", str(feeds / "malformed.xml"), "--topic", "tech"), "malformed.xml"
    )
    assert_one_line_error(
        cli(sqlite_url, "ingest", str(feeds / "bad-articles.json")),
        "bad-articles.json",
        "article 2",
    )
    assert_one_line_error(
        cli(sqlite_url, "ingest", str(feeds / "tech-rss2.xml"), "--topic", "nope"),
        "unknown topic 'nope'",
    )
    assert_one_line_error(cli(sqlite_url, "ingest", str(tmp_path / "missing.xml")), "no such file")
    assert article_count(sqlite_url) == 0
    assert_one_line_error(cli(sqlite_url, "send", "--list", "nope"), "unknown list 'nope'")
    assert_one_line_error(
        cli(sqlite_url, "subscribers", "add", "not-an-address", "--list", "daily"),
        "invalid email address",
    )
    assert_one_line_error(
        cli(sqlite_url, "send", "--list", "daily", NEWSLETTER_SMTP_URL="smtp://127.0.0.1:1"),
        "cannot reach SMTP server",
    )
    assert_one_line_error(
        cli(sqlite_url, "articles", "ls", NEWSLETTER_SMTP_POOL_SIZE="zero"),
        "NEWSLETTER_SMTP_POOL_SIZE",
    )
    assert_one_line_error(
        cli(f"sqlite:///{tmp_path / 'empty.db'}", "articles", "ls"), "newsletter db upgrade"
    )


def test_send_preview_and_test_send_over_smtp(
    sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    setup_list(sqlite_url)
    assert (
        cli(
            sqlite_url, "ingest", str(FIXTURES / "feeds" / "tech-rss2.xml"), "-t", "tech"
        ).returncode
        == 0
    )
    preview = cli(
        sqlite_url,
        "preview",
        "--list",
        "daily",
        "--subscriber",
        "ann@example.com",
        "--out",
        str(tmp_path / "p"),
    )
    assert preview.returncode == 0, preview.stderr
    assert "Hi Ann," in (tmp_path / "p" / "digest.txt").read_text()
    test = cli(
        sqlite_url, "send", "--list", "daily", "--to", "editor@example.org", smtp=smtp_server
    )
    assert test.returncode == 0, test.stderr
    assert [m.rcpt_tos for m in smtp_server.messages] == [("editor@example.org",)]
    sent = cli(sqlite_url, "send", "--list", "daily", smtp=smtp_server)
    assert sent.returncode == 0, sent.stderr
    assert "1 sent" in sent.stdout
    again = cli(sqlite_url, "send", "--list", "daily", smtp=smtp_server)
    assert "0 to send, 1 skipped" in again.stdout
    assert len(smtp_server.messages) == 2
