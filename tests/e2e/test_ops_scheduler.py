"""The scheduler as an operator runs it: JSON logs, its own /metrics port, a backup mid-send."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.test_scheduler_daemon import DUE, daemon_env, seed, wait_for
from tests.smtpserver import RecordingServer

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        body = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


@pytest.mark.slow
def test_scheduler_serves_metrics_logs_json_and_can_be_backed_up_while_sending(
    sqlite_url: str, smtp_server: RecordingServer, tmp_path: Path
) -> None:
    emails = seed(sqlite_url, 30)
    port = free_port()
    env = daemon_env(
        sqlite_url,
        smtp_server,
        DUE + timedelta(seconds=30),
        NEWSLETTER_LOG_FORMAT="json",
        NEWSLETTER_METRICS_PORT=str(port),
    )
    log_path = tmp_path / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", "schedule", "run"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # a backup while the daemon claims, sends and records
        assert wait_for(lambda: len(smtp_server.messages) >= 1, 30), log_path.read_text()
        backup = tmp_path / "during.db"
        done = subprocess.run(
            [sys.executable, "-m", "newsletter", "db", "backup", str(backup)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert wait_for(lambda: len(smtp_server.messages) >= len(emails), 60)
        key = (
            "newsletter_deliveries",
            (("kind", "scheduled"), ("list", "daily"), ("status", "sent")),
        )
        assert wait_for(lambda: scrape(port).get(key) == len(emails), 20)
        samples = scrape(port)
        ages = [
            v for (n, _), v in samples.items() if n == "newsletter_scheduler_heartbeat_age_seconds"
        ]
        assert len(ages) == 1 and 0 <= ages[0] < 30
        assert samples[("newsletter_scheduler_daemons_alive", ())] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        sent_then = conn.execute("SELECT count(*) FROM deliveries WHERE status='sent'").fetchone()
    assert sent_then[0] <= len(emails)
    events = [json.loads(line) for line in log_path.read_text().splitlines()]
    names = [e.get("event") for e in events]
    assert "scheduler_started" in names and "scheduler_stopped" in names
    created = next(e for e in events if e.get("event") == "run_created")
    sent = next(e for e in events if e.get("event") == "run_sent")
    assert created["list"] == "daily" and created["run"] == sent["run"]
    assert all({"ts", "level", "logger"} <= set(e) for e in events)
    assert os.path.getsize(log_path) > 0
