"""The real daemon in subprocesses: digests arrive, restarts and copies never send twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from newsletter.db import make_engine, session_scope
from newsletter.models import Delivery, DeliveryStatus
from newsletter.schedule.models import Heartbeat
from subscribers import service
from tests.helpers import add_articles, seed_list
from tests.smtpserver import RecordingServer

ROOT = Path(__file__).resolve().parents[2]
DUE = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # 08:00 London = 03:00 New York = 17:00 Tokyo
ZONES = [("Europe/London", 8), ("America/New_York", 3), ("Asia/Tokyo", 17)]


def seed(url: str, count: int) -> list[str]:
    """A list, an article, ``count`` subscribers spread over three zones, all due at DUE."""
    engine = make_engine(url)
    before = DUE - timedelta(hours=2)
    seed_list(engine, before, ["tech"])
    add_articles(engine, before, [["tech"], ["tech"]])
    emails = []
    with session_scope(engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        for i in range(count):
            zone, hour = ZONES[i % len(ZONES)]
            email = f"reader{i}@example.com"
            service.add_subscriber(
                session,
                mailing_list=mailing_list,
                email=email,
                now=before,
                topics=["tech"],
                send_hour=hour,
                timezone=zone,
                confirmed=True,
                by_admin=True,
            )
            emails.append(email)
    engine.dispose()
    return emails


def daemon_env(url: str, smtp: RecordingServer, fake_now: datetime, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        {
            "NEWSLETTER_DATABASE_URL": url,
            "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}",
            "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789",
            "NEWSLETTER_BASE_URL": "https://news.example.test",
            "NEWSLETTER_FAKE_NOW": fake_now.isoformat(),
            "NEWSLETTER_DISPATCH_INTERVAL_SECONDS": "1",
            "NEWSLETTER_SHUTDOWN_GRACE_SECONDS": "10",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``python scheduler.py`` processes; kill any left running at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(env: dict[str, str], *, module: bool = False) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"daemon-{len(started)}.log", "wb")  # noqa: SIM115
        command = (
            [sys.executable, "-m", "newsletter", "schedule", "run"]
            if module
            else [sys.executable, "scheduler.py"]
        )
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        started.append(proc)
        return proc

    yield launch
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(tmp_path.glob("daemon-*.log")))


def wait_for(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=timeout)


def delivery_rows(url: str) -> list[Delivery]:
    engine: Engine = make_engine(url)
    with Session(engine) as session:
        found = list(session.exec(select(Delivery)).all())
    engine.dispose()
    return found


@pytest.mark.slow
def test_daemon_sends_each_local_digest_once_and_a_restart_sends_nothing(
    sqlite_url: str,
    smtp_server: RecordingServer,
    start: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    emails = seed(sqlite_url, 3)
    env = daemon_env(sqlite_url, smtp_server, DUE + timedelta(seconds=30))
    first = start(env)
    assert wait_for(lambda: len(smtp_server.messages) >= 3, 25), logs(tmp_path)
    assert stop(first) == 0, logs(tmp_path)
    second = start(env, module=True)  # `newsletter schedule run`, same clock: all due again
    assert wait_for(lambda: logs(tmp_path).count("event=scheduler_started") == 2, 15)
    time.sleep(3)
    assert stop(second) == 0
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == {e: 1 for e in emails}
    text = logs(tmp_path)
    assert text.count("event=run_created") == 1 and "queued=3" in text
    assert "event=run_sent" in text and "sent=3" in text
    assert "event=fetch_done feeds=0 added=0 failed=0" in text
    engine = make_engine(sqlite_url)
    with Session(engine) as session:
        beats = session.exec(select(Heartbeat)).all()
    engine.dispose()
    assert len(beats) == 2 and {b.state for b in beats} == {"stopped"}


@pytest.mark.slow
def test_sigterm_lets_in_flight_sends_finish_and_exits_zero(
    sqlite_url: str,
    smtp_server: RecordingServer,
    start: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    emails = seed(sqlite_url, 3)
    smtp_server.handler.delay = 2.0  # every message takes two seconds to be accepted
    proc = start(daemon_env(sqlite_url, smtp_server, DUE + timedelta(seconds=30)))
    sending = lambda: any(r.status == DeliveryStatus.SENDING for r in delivery_rows(sqlite_url))  # noqa: E731
    assert wait_for(sending, 20), logs(tmp_path)
    in_flight = {r.id for r in delivery_rows(sqlite_url) if r.status == DeliveryStatus.SENDING}
    began = time.monotonic()
    assert stop(proc) == 0, logs(tmp_path)
    assert time.monotonic() - began < 10
    rows = delivery_rows(sqlite_url)
    # whatever was on the wire when the signal came is finished and recorded; rows the claimer had
    # not yet taken stay queued for the next start; nothing is left half-claimed
    assert {r.id for r in rows if r.status == DeliveryStatus.SENT} >= in_flight
    assert {r.status for r in rows} <= {DeliveryStatus.SENT, DeliveryStatus.QUEUED}
    sent = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    assert sent == {r.email: 1 for r in rows if r.status == DeliveryStatus.SENT}
    assert set(sent) <= set(emails)


@pytest.mark.slow
def test_sigkill_loses_nothing_the_lease_brings_rows_back(
    sqlite_url: str,
    smtp_server: RecordingServer,
    start: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    emails = seed(sqlite_url, 3)
    smtp_server.handler.delay = 3.0
    env = daemon_env(sqlite_url, smtp_server, DUE + timedelta(seconds=30))
    proc = start({**env, "NEWSLETTER_SEND_LEASE_SECONDS": "2"})
    sending = lambda: any(r.status == DeliveryStatus.SENDING for r in delivery_rows(sqlite_url))  # noqa: E731
    assert wait_for(sending, 20), logs(tmp_path)
    proc.kill()
    proc.wait()
    smtp_server.handler.delay = 0.0
    # leases run on the database's (real) clock: once the killed daemon's two-second lease has
    # expired, another daemon takes the rows over
    time.sleep(2.5)
    later = start(daemon_env(sqlite_url, smtp_server, DUE + timedelta(minutes=10)))
    done = lambda: {r.status for r in delivery_rows(sqlite_url)} == {DeliveryStatus.SENT}  # noqa: E731
    assert wait_for(done, 20), logs(tmp_path)
    assert stop(later) == 0
    assert {m.rcpt_tos[0] for m in smtp_server.messages} == set(emails)


@pytest.mark.slow
@pytest.mark.postgres
def test_three_daemons_on_one_postgres_never_send_twice(
    postgres_url: str,
    smtp_server: RecordingServer,
    start: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    emails = seed(postgres_url, 30)
    env = daemon_env(postgres_url, smtp_server, DUE + timedelta(seconds=5))
    procs = [start(env) for _ in range(3)]
    assert wait_for(lambda: len(smtp_server.messages) >= len(emails), 25), logs(tmp_path)
    time.sleep(2)  # let any would-be duplicate arrive
    assert [stop(p) for p in procs] == [0, 0, 0], logs(tmp_path)
    assert Counter(m.rcpt_tos[0] for m in smtp_server.messages) == {e: 1 for e in emails}
    rows = delivery_rows(postgres_url)
    assert len(rows) == len(emails) and {r.status for r in rows} == {DeliveryStatus.SENT}


@pytest.mark.slow
def test_ctrl_c_on_an_idle_daemon_exits_zero_at_once(
    sqlite_url: str,
    smtp_server: RecordingServer,
    start: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    seed(sqlite_url, 1)
    proc = start(daemon_env(sqlite_url, smtp_server, DUE - timedelta(hours=3)))
    assert wait_for(lambda: "event=scheduler_started" in logs(tmp_path), 15), logs(tmp_path)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=5) == 0
    assert "event=scheduler_stopped" in logs(tmp_path)
    assert smtp_server.messages == []
