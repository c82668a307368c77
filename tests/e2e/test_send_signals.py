"""SIGTERM and Ctrl-C on real `newsletter send` processes: a clean stop, nothing leased, nothing
sent twice when the run is resumed. Counted at a real SMTP server."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.models import Delivery, DeliveryStatus
from tests.cli_helpers import SECRET, cli
from tests.conftest import NOW
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingHandler, RecordingServer

pytestmark = pytest.mark.slow


def _statuses(url: str) -> collections.Counter[str]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return collections.Counter(r.status for r in session.exec(select(Delivery)))
    finally:
        engine.dispose()


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_a_signal_stops_the_send_cleanly_and_resume_sends_the_rest_once(
    sqlite_url: str, signum: signal.Signals, code: int
) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    emails = [f"reader{i:03d}@example.com" for i in range(120)]
    for address in emails:
        subscribe(engine, NOW, address, ["tech"])
    engine.dispose()
    server = RecordingServer(RecordingHandler(delay=0.05))
    server.start()
    environment = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_FIRST_DIGEST_LOOKBACK_DAYS": "3650",
        "NEWSLETTER_SMTP_URL": f"smtp://127.0.0.1:{server.port}",
        "NEWSLETTER_SMTP_POOL_SIZE": "2",
    }
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "send", "--list", "daily"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while len(server.messages) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
        assert process.returncode == code, err
        assert "Traceback" not in err
        name = signal.Signals(signum).name
        assert f"stopped by {name}" in out
        at_stop = len(server.messages)
        statuses = _statuses(sqlite_url)
        assert statuses[DeliveryStatus.SENDING] == 0  # every unsent row was handed back
        assert statuses[DeliveryStatus.SENT] == at_stop  # every accepted message recorded
        assert at_stop < len(emails)
        resumed = cli(sqlite_url, "runs", "resume", "1", smtp=server)
        assert resumed.returncode == 0, resumed.stderr
    finally:
        server.stop()
    received = collections.Counter(m.rcpt_tos[0] for m in server.messages)
    assert sorted(received) == emails
    assert set(received.values()) == {1}
    assert _statuses(sqlite_url) == {DeliveryStatus.SENT: len(emails)}
