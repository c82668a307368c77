"""``/healthz``, ``/readyz`` and ``/metrics`` of the web app on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlmodel import Session, select

from newsletter.db import session_scope
from newsletter.models import Delivery
from newsletter.operations import runs
from newsletter.operations.feeds import add_feed, fetch_all
from newsletter.runtime import Runtime
from newsletter.schedule.heartbeat import beat
from newsletter.web.app import create_app
from tests.conftest import NOW, make_runtime, make_settings
from tests.faultserver import FaultServer
from tests.helpers import add_articles, seed_list, subscribe

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer()
    server.start()
    yield server
    server.stop()


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def client_for(runtime: Runtime) -> TestClient:
    return TestClient(create_app(runtime))


def test_healthz_answers_without_the_database() -> None:
    settings = make_settings("sqlite:////nonexistent/folder/newsletter.db")
    runtime = make_runtime(settings)
    with client_for(runtime) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.headers["content-type"] == "application/problem+json"
    assert ready.json()["database"] is False
    assert "database unreachable" in ready.json()["detail"]


def test_readyz_checks_the_schema_is_at_the_newest_migration(database_url: str) -> None:
    runtime = make_runtime(make_settings(database_url))
    with client_for(runtime) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        head = ready.json()["revision"]
        assert ready.json() == {"status": "ready", "database": True, "revision": head}
        with runtime.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
        stale = client.get("/readyz")
        assert stale.status_code == 503
        assert stale.json()["revision"] == "0001"
        assert f"expected {head}" in stale.json()["detail"]
        with runtime.engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
        assert "no schema" in client.get("/readyz").json()["detail"]
    runtime.dispose()


def test_metrics_report_the_ledger_queue_runs_heartbeats_and_feeds(
    database_url: str, faults: FaultServer
) -> None:
    settings = make_settings(database_url, faults, retry_base_seconds=3600.0)
    runtime = make_runtime(settings)
    seed_list(runtime.engine, NOW - timedelta(days=1), ["tech"])
    add_articles(runtime.engine, NOW, [["tech"]])
    for email in ("ok1@example.com", "ok2@example.com", "temp1@example.com", "nouser1@x.org"):
        subscribe(runtime.engine, NOW - timedelta(days=1), email, ["tech"])
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    with session_scope(runtime.engine) as session:
        beat(
            session,
            worker="host:1",
            hostname="host",
            pid=1,
            started_at=NOW - timedelta(hours=1),
            now=NOW - timedelta(seconds=30),
        )
        add_feed(session, url="http://127.0.0.1:9/feed.xml", topics=["tech"])
        add_feed(session, url="http://127.0.0.1:9/other.xml", topics=["tech"])
    results = fetch_all(runtime)
    assert all(result.error for result in results)

    with client_for(runtime) as client:
        samples = scrape(client)
    accepted = {m.rcpt_tos[0] for m in faults.handler.messages}
    assert accepted == {"ok1@example.com", "ok2@example.com"}
    sent = value(samples, "newsletter_deliveries", list="daily", kind="manual", status="sent")
    deferred = value(
        samples, "newsletter_deliveries", list="daily", kind="manual", status="deferred"
    )
    assert (sent, deferred) == (2, 1)
    refused = [
        v
        for (name, labels), v in samples.items()
        if name == "newsletter_deliveries" and dict(labels)["status"] in ("failed", "bounced")
    ]
    assert sum(refused) == 1
    assert value(samples, "newsletter_queue_depth", list="daily") == 1
    assert summary.report is not None
    run = str(summary.report.run_id)
    assert value(samples, "newsletter_run_messages", run=run, list="daily") == 4
    assert value(samples, "newsletter_run_progress", run=run, list="daily") == 0.75
    assert value(samples, "newsletter_scheduler_heartbeat_age_seconds", worker="host:1") == 30
    assert value(samples, "newsletter_scheduler_daemons_alive") == 1
    assert value(samples, "newsletter_feed_fetch_errors") == 2
    assert value(samples, "newsletter_feeds") == 2
    assert value(samples, "newsletter_database_up") == 1
    runtime.dispose()


def test_metrics_sent_in_the_last_five_minutes_give_the_send_rate(
    sqlite_url: str, faults: FaultServer
) -> None:
    runtime = make_runtime(make_settings(sqlite_url, faults))
    seed_list(runtime.engine, NOW - timedelta(days=1), ["tech"])
    add_articles(runtime.engine, NOW, [["tech"]])
    for i in range(3):
        subscribe(runtime.engine, NOW - timedelta(days=1), f"reader{i}@example.com", ["tech"])
    asyncio.run(runs.send_list(runtime, slug="daily"))
    with Session(runtime.engine) as session:
        last = max(d.sent_at for d in session.exec(select(Delivery)) if d.sent_at is not None)

    def scrape_at(moment: datetime) -> Samples:
        at = Runtime(settings=runtime.settings, engine=runtime.engine)
        at.clock = lambda: moment
        with client_for(at) as client:
            return scrape(client)

    soon, later = scrape_at(last + timedelta(minutes=1)), scrape_at(last + timedelta(minutes=6))
    assert len(faults.handler.messages) == 3
    assert value(soon, "newsletter_messages_sent_last_5m") == 3
    assert value(soon, "newsletter_send_rate_per_second") == 3 / 300
    assert value(later, "newsletter_messages_sent_last_5m") == 0
    assert value(later, "newsletter_send_rate_per_second") == 0


def test_metrics_say_database_down_instead_of_failing_the_scrape() -> None:
    runtime = make_runtime(make_settings("sqlite:////nonexistent/folder/newsletter.db"))
    with client_for(runtime) as client:
        samples = scrape(client)
    assert samples == {("newsletter_database_up", ()): 0}
