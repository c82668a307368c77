"""``newsletter runs ...`` as a user runs it, and the run functions the web app calls."""

from __future__ import annotations

import asyncio

from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.models import Delivery, DeliveryStatus, RunStatus
from newsletter.operations import runs
from tests.cli_helpers import cli
from tests.conftest import NOW, make_runtime, make_settings
from tests.faultserver import FaultServer
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer


def _setup(url: str, addresses: list[str]) -> None:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    for address in addresses:
        subscribe(engine, NOW, address, ["tech"], name="Reader")
    engine.dispose()


def _statuses(url: str) -> dict[str, str]:
    with Session(make_engine(url)) as session:
        return {row.email: row.status for row in session.exec(select(Delivery))}


def test_pause_resume_cancel_through_the_cli(sqlite_url: str, smtp_server: RecordingServer) -> None:
    _setup(sqlite_url, ["a@example.com", "b@example.com"])
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    from newsletter.db import session_scope
    from newsletter.ledger.planning import plan_run
    from subscribers.service import get_list

    with session_scope(runtime.engine) as session:
        plan = plan_run(
            session,
            mailing_list=get_list(session, slug="daily"),
            now=NOW,
            limits=runtime.limits,
            lookback=runtime.lookback,
        )
    run_id = str(plan.run_id)
    listed = cli(sqlite_url, "runs", "ls")
    assert listed.returncode == 0 and "sending" in listed.stdout and "2 queued" in listed.stdout

    assert cli(sqlite_url, "runs", "pause", run_id).returncode == 0
    shown = cli(sqlite_url, "runs", "show", run_id)
    assert "paused" in shown.stdout and "pause reason: paused by an operator" in shown.stdout
    # a paused run sends nothing
    report = asyncio.run(runs.send_run(runtime, run_id=plan.run_id))
    assert report.sent == 0 and smtp_server.messages == []

    resumed = cli(sqlite_url, "runs", "resume", run_id, smtp=smtp_server)
    assert resumed.returncode == 0, resumed.stderr
    assert "2 sent" in resumed.stdout and "status done" in resumed.stdout
    assert len(smtp_server.messages) == 2

    again = cli(sqlite_url, "runs", "cancel", run_id)
    assert again.returncode == 1 and "already done" in again.stderr
    missing = cli(sqlite_url, "runs", "show", "999")
    assert missing.returncode == 1 and "unknown run 999" in missing.stderr


def test_cancel_drops_unsent_rows(sqlite_url: str) -> None:
    _setup(sqlite_url, ["a@example.com"])
    runtime = make_runtime(make_settings(sqlite_url))
    from newsletter.db import session_scope
    from newsletter.ledger.planning import plan_run
    from subscribers.service import get_list

    with session_scope(runtime.engine) as session:
        plan = plan_run(
            session,
            mailing_list=get_list(session, slug="daily"),
            now=NOW,
            limits=runtime.limits,
            lookback=runtime.lookback,
        )
    assert runs.cancel_run(runtime, run_id=plan.run_id) == 1
    assert _statuses(sqlite_url) == {"a@example.com": DeliveryStatus.CANCELLED}
    assert runs.list_runs(runtime)[0].status == RunStatus.CANCELLED


def test_retry_sends_only_the_failed_rows(sqlite_url: str) -> None:
    faults = FaultServer()
    faults.start()
    try:
        _setup(sqlite_url, ["ok@example.com", "policy@example.com", "nouser@example.com"])
        settings = make_settings(sqlite_url, smtp_url=f"smtp://127.0.0.1:{faults.port}")
        summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
        assert _statuses(sqlite_url) == {
            "ok@example.com": DeliveryStatus.SENT,
            "policy@example.com": DeliveryStatus.FAILED,
            "nouser@example.com": DeliveryStatus.BOUNCED,
        }
        run_id = str(summary.plan.run_id)
        shown = cli(sqlite_url, "runs", "show", run_id)
        assert "550 5.7.1" in shown.stdout and "policy@example.com" in shown.stdout
        # the policy problem is fixed on the server side
        faults.handler.refuse_everything = None
        before = dict(faults.handler.attempts)
        faults.stop()
        faults2 = FaultServer()
        faults2.start()
        try:
            retried = cli(
                sqlite_url,
                "runs",
                "retry",
                run_id,
                NEWSLETTER_SMTP_URL=f"smtp://127.0.0.1:{faults2.port}",
            )
            assert retried.returncode == 0, retried.stderr
            assert "1 failed message(s) queued again" in retried.stdout
            # only the failed row was tried again (and the policy server still refuses it)
            assert set(faults2.handler.attempts) == {"policy@example.com"}
        finally:
            faults2.stop()
        assert before["ok@example.com"] == 1
    finally:
        if faults.controller.loop.is_running():
            faults.stop()
