"""Real sender processes: several share one PostgreSQL run; a SIGKILLed one is taken over."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine, session_scope
from newsletter.ledger.planning import plan_run
from newsletter.models import Delivery, DeliveryStatus
from newsletter.runtime import Runtime
from subscribers import service
from subscribers.service import get_list
from tests.cli_helpers import SECRET
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list
from tests.smtpserver import RecordingHandler, RecordingServer

pytestmark = pytest.mark.slow


def _seed(url: str, count: int) -> int:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"], ["tech"]])
    with session_scope(engine) as session:
        mailing_list = get_list(session, slug="daily")
        for index in range(count):
            service.add_subscriber(
                session,
                mailing_list=mailing_list,
                email=f"reader{index}@example.com",
                now=NOW,
                confirmed=True,
                by_admin=True,
            )
    runtime: Runtime = make_runtime(make_settings(url, first_digest_lookback_days=3650))
    with session_scope(engine) as session:
        plan = plan_run(
            session,
            mailing_list=get_list(session, slug="daily"),
            now=runtime.clock(),
            limits=runtime.limits,
            lookback=runtime.lookback,
        )
    engine.dispose()
    runtime.engine.dispose()
    return plan.run_id


def _rows(url: str) -> list[Delivery]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.exec(select(Delivery)))
    finally:
        engine.dispose()


def _sender(url: str, run_id: int, port: int, **env: str) -> subprocess.Popen[str]:
    environment = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{port}",
        "NEWSLETTER_SMTP_POOL_SIZE": "3",
        "NEWSLETTER_SEND_BATCH_SIZE": "20",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", "runs", "resume", str(run_id)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _received(server: RecordingServer) -> collections.Counter[str]:
    return collections.Counter(m.rcpt_tos[0] for m in server.messages)


@pytest.mark.postgres
def test_three_processes_share_one_run_without_sending_twice(postgres_url: str) -> None:
    count = 300
    run_id = _seed(postgres_url, count)
    server = RecordingServer(RecordingHandler(delay=0.005))
    server.start()
    try:
        senders = [_sender(postgres_url, run_id, server.port) for _ in range(3)]
        outputs = [process.communicate(timeout=120) for process in senders]
    finally:
        server.stop()
    for process, (_out, err) in zip(senders, outputs, strict=True):
        assert process.returncode == 0, err
    received = _received(server)
    assert len(received) == count
    assert set(received.values()) == {1}
    sent_by = [int(out.split(": ", 1)[1].split(" sent", 1)[0]) for out, _ in outputs]
    assert sum(sent_by) == count
    assert sum(1 for n in sent_by if n > 0) >= 2  # the work really was shared
    rows = _rows(postgres_url)
    statuses = {row.status for row in rows}
    workers = {row.claimed_by for row in rows}
    assert statuses == {DeliveryStatus.SENT}
    assert len(workers) >= 2


def test_a_killed_sender_is_taken_over_without_losing_anyone(sqlite_url: str) -> None:
    count = 400
    run_id = _seed(sqlite_url, count)
    server = RecordingServer(RecordingHandler(delay=0.01))
    server.start()
    try:
        # a short lease, so the test need not wait long for it to run out; 4 s leaves the watcher
        # time to renew on a busy machine (with 2 s a loaded machine made the sender stop early)
        first = _sender(sqlite_url, run_id, server.port, NEWSLETTER_SEND_LEASE_SECONDS="4")
        deadline = time.monotonic() + 60
        while len(server.messages) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        at_kill = len(server.messages)
        assert 100 <= at_kill < count
        leased = [r for r in _rows(sqlite_url) if r.status == "sending"]
        assert leased  # the dead process left rows behind
        time.sleep(4.5)  # their lease runs out
        second = _sender(sqlite_url, run_id, server.port)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
    finally:
        server.stop()
    received = _received(server)
    assert set(received) == {f"reader{i}@example.com" for i in range(count)}
    duplicates = sum(n - 1 for n in received.values())
    # at most the messages in flight at the kill: claimed, sent, not yet recorded
    assert duplicates <= 20 + 3
    assert {row.status for row in _rows(sqlite_url)} == {DeliveryStatus.SENT}
