"""``newsletter schedule add|ls|cancel|status`` against a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from newsletter.cli import context
from newsletter.cli.app import app
from newsletter.db import session_scope
from newsletter.schedule.heartbeat import beat
from subscribers import service
from subscribers.dbtypes import utcnow
from tests.helpers import seed_list

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def cli_env(sqlite_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    seed_list(engine, NOW, ["tech"])
    with session_scope(engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        for email, zone, hour in [
            ("a@example.com", "Europe/London", 8),
            ("b@example.com", "America/New_York", 3),
            ("c@example.com", "Asia/Tokyo", 20),
        ]:
            service.add_subscriber(
                session,
                mailing_list=mailing_list,
                email=email,
                now=NOW,
                topics=["tech"],
                send_hour=hour,
                timezone=zone,
                confirmed=True,
                by_admin=True,
            )
    env = {
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789",
        "NEWSLETTER_FAKE_NOW": NOW.isoformat(),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(context.console, "width", 200)  # no wrapped table cells
    return env


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_add_ls_cancel_and_status(cli_env: dict[str, str], engine: Engine) -> None:
    out = invoke(
        "schedule",
        "add",
        "--list",
        "daily",
        "--at",
        "2026-12-01 08:00",
        "--timezone",
        "Europe/London",
    )
    assert "scheduled send 1: list daily at 2026-12-01 08:00 UTC" in out
    invoke("schedule", "add", "--list", "daily", "--at", "2026-12-02 08:00")
    out = invoke("schedule", "ls")
    assert "2026-12-01 08:00 GMT" in out and "pending" in out
    assert "scheduled send 2 cancelled" in invoke("schedule", "cancel", "2")
    assert "cancelled" in invoke("schedule", "ls", "--all")
    with session_scope(engine) as session:
        beat(
            session, worker="host:1:abcd", hostname="host", pid=1, started_at=utcnow(), now=utcnow()
        )
        beat(
            session,
            worker="host:2:dead",
            hostname="host",
            pid=2,
            started_at=utcnow(),
            now=utcnow() - timedelta(minutes=10),
        )
    out = invoke("schedule", "status")
    assert "daemons alive: 1" in out
    assert "host:2:dead: silent" in out
    # next due: Tokyo 20:00 = 11:00 UTC today, London 08:00 and New York 03:00 tomorrow
    assert out.index("2026-11-25 11:00 UTC") < out.index("2026-11-26 08:00 UTC")
    assert "one-off send 1" in out


def test_mistakes_are_one_line_and_write_nothing(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "PATH": "/usr/bin:/bin"}
    cases = [
        (["--list", "nope", "--at", "2026-12-01 08:00"], "unknown list"),
        (["--list", "daily", "--at", "tomorrow"], '--at must look like "2026-12-01 08:00"'),
        (["--list", "daily", "--at", "2026-12-01 08:00", "--timezone", "Mars/Base"], "time zone"),
        (["--list", "daily", "--at", "2026-11-01 08:00"], "is in the past"),
    ]
    for args, message in cases:
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", "schedule", "add", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "schedule", "cancel", "7"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "no scheduled send 7" in done.stderr
    assert "no scheduled sends" in invoke("schedule", "ls", "--all")
