"""The error policy over real SMTP: a fault-injecting aiosmtpd server drives every case."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine
from newsletter.models import Delivery, DeliveryStatus, Run, RunStatus
from newsletter.operations import runs
from subscribers.models import Subscriber, SubscriberStatus, Suppression
from tests.conftest import NOW, make_runtime, make_settings
from tests.faultserver import FaultServer
from tests.helpers import add_articles, seed_list, subscribe

pytestmark = pytest.mark.parametrize("pipelining", ["on", "off"])


@pytest.fixture
def faults() -> Iterator[FaultServer]:
    server = FaultServer()
    server.start()
    yield server
    server.stop()


def _setup(url: str, addresses: list[str]) -> None:
    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"], ["tech"]])
    for address in addresses:
        subscribe(engine, NOW, address, ["tech"], name="Reader")
    engine.dispose()


def _settings(url: str, server: FaultServer, pipelining: str, **extra: object):  # type: ignore[no-untyped-def]
    return make_settings(
        url,
        smtp_url=f"smtp://127.0.0.1:{server.port}",
        smtp_pipelining=pipelining,
        smtp_pool_size=2,
        **extra,
    )


def _rows(url: str) -> dict[str, Delivery]:
    with Session(make_engine(url)) as session:
        return {row.email: row for row in session.exec(select(Delivery))}


def test_temporary_failures_back_off_then_give_up(
    sqlite_url: str, faults: FaultServer, pipelining: str
) -> None:
    _setup(sqlite_url, ["ok@example.com", "temp1@example.com"])
    settings = _settings(sqlite_url, faults, pipelining, retry_base_seconds=60)
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.sent == 1
    assert summary.report.deferred == 1 and summary.report.status == RunStatus.SENDING
    rows = _rows(sqlite_url)
    deferred = rows["temp1@example.com"]
    assert deferred.status == DeliveryStatus.DEFERRED
    assert deferred.last_error is not None and deferred.last_error.startswith("451 4.3.0")
    assert deferred.next_attempt_at is not None
    # full jitter: somewhere in [now, now + base]
    assert NOW <= deferred.next_attempt_at <= NOW + timedelta(seconds=60)
    assert rows["ok@example.com"].status == DeliveryStatus.SENT

    # later, still refused: a second, longer back-off
    later = make_runtime(settings, NOW + timedelta(minutes=2))
    report = asyncio.run(runs.send_run(later, run_id=summary.plan.run_id))
    assert report.deferred == 1
    assert _rows(sqlite_url)["temp1@example.com"].attempts == 2

    # past the maximum age: failed for good, the run is done
    too_late = make_runtime(settings, NOW + timedelta(hours=settings.retry.max_age_hours + 1))
    report = asyncio.run(runs.send_run(too_late, run_id=summary.plan.run_id))
    assert report.failed == 1 and report.status == RunStatus.DONE
    row = _rows(sqlite_url)["temp1@example.com"]
    assert row.status == DeliveryStatus.FAILED and row.last_error.startswith("gave up: 451")
    assert len(faults.messages) == 1


def test_bad_mailbox_bounces_and_suppresses(
    sqlite_url: str, faults: FaultServer, pipelining: str
) -> None:
    _setup(sqlite_url, ["ok@example.com", "nouser@example.com"])
    summary = asyncio.run(
        runs.send_list(make_runtime(_settings(sqlite_url, faults, pipelining)), slug="daily")
    )
    assert summary.report is not None and summary.report.bounced == 1
    assert _rows(sqlite_url)["nouser@example.com"].status == DeliveryStatus.BOUNCED
    with Session(make_engine(sqlite_url)) as session:
        subscriber = session.exec(
            select(Subscriber).where(Subscriber.email == "nouser@example.com")
        ).one()
        assert subscriber.status == SubscriberStatus.BOUNCED
        values = set(session.exec(select(Suppression.value)))
    assert "nouser@example.com" in values and "ok@example.com" not in values


def test_policy_refusals_do_not_blame_the_subscriber_and_pause_when_they_pile_up(
    sqlite_url: str, faults: FaultServer, pipelining: str
) -> None:
    # more rows than the connections can carry at once (2 connections x the pipelining
    # window), so the pause, not the end of the list, is what stops the run
    addresses = [f"policy{i}@example.com" for i in range(40)]
    _setup(sqlite_url, addresses)
    settings = _settings(
        sqlite_url, faults, pipelining, pause_after_policy_failures=3, send_batch_size=2
    )
    runtime = make_runtime(settings)
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.report is not None
    assert summary.report.status == RunStatus.PAUSED
    assert summary.report.pause_reason is not None and "5.7" in summary.report.pause_reason
    rows = _rows(sqlite_url)
    failed = [r for r in rows.values() if r.status == DeliveryStatus.FAILED]
    assert 3 <= len(failed) < len(addresses)
    rest = {r.status for r in rows.values() if r.status != DeliveryStatus.FAILED}
    assert rest == {DeliveryStatus.QUEUED}
    assert all(r.last_error.startswith("550 5.7.1") for r in failed)  # type: ignore[union-attr]
    with Session(make_engine(sqlite_url)) as session:
        assert session.exec(select(Suppression)).all() == []
        assert {s.status for s in session.exec(select(Subscriber))} == {SubscriberStatus.ACTIVE}
    detail = runs.run_detail(runtime, run_id=summary.plan.run_id)
    assert detail.summary.status == RunStatus.PAUSED
    assert "policy refusals" in (detail.summary.pause_reason or "")


def test_consecutive_failures_pause_the_run(
    sqlite_url: str, faults: FaultServer, pipelining: str
) -> None:
    # More rows than the connections carry at once (pipelined: 2 connections x a window of
    # 4, plus the claimed batches), so some are still unsent when the fourth failure pauses.
    _setup(sqlite_url, [f"temp{i}@example.com" for i in range(40)])
    settings = _settings(sqlite_url, faults, pipelining, pause_after_failures=4, send_batch_size=2)
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.status == RunStatus.PAUSED
    assert "4 failures in a row" in (summary.report.pause_reason or "")
    with Session(make_engine(sqlite_url)) as session:
        run = session.get(Run, summary.plan.run_id)
        assert run is not None and run.status == RunStatus.PAUSED
        statuses = [r.status for r in session.exec(select(Delivery))]
    # rows never tried were handed back, not left leased
    assert DeliveryStatus.SENDING not in statuses
    assert statuses.count(DeliveryStatus.QUEUED) >= 1


def test_dropped_connection_is_retried_later_and_the_rest_still_goes(
    sqlite_url: str, faults: FaultServer, pipelining: str
) -> None:
    addresses = ["drop@example.com"] + [f"ok{i}@example.com" for i in range(6)]
    _setup(sqlite_url, addresses)
    summary = asyncio.run(
        runs.send_list(make_runtime(_settings(sqlite_url, faults, pipelining)), slug="daily")
    )
    report = summary.report
    assert report is not None and report.sent + report.deferred == 7
    rows = _rows(sqlite_url)
    row = rows["drop@example.com"]
    assert row.status == DeliveryStatus.DEFERRED and row.next_attempt_at is not None
    # The drop also takes the messages pipelined behind it on that connection (at most a
    # window's worth, 4): they had no final reply, so they are deferred, never counted sent.
    # The other connection goes on.
    deferred = {email for email, r in rows.items() if r.status == DeliveryStatus.DEFERRED}
    assert all(rows[email].next_attempt_at is not None for email in deferred)
    assert 1 <= len(deferred) <= (4 if pipelining == "on" else 1)
    accepted = [m.rcpt_tos[0] for m in faults.messages]
    assert sorted(accepted) == sorted(set(rows) - deferred)  # each sent one exactly once


def test_slow_replies_time_out_and_are_retried(
    sqlite_url: str, faults: FaultServer, pipelining: str
) -> None:
    faults.handler.slow_seconds = 3.0
    _setup(sqlite_url, ["slow@example.com", "ok@example.com"])
    settings = _settings(sqlite_url, faults, pipelining, smtp_timeout=0.5)
    summary = asyncio.run(runs.send_list(make_runtime(settings), slug="daily"))
    assert summary.report is not None and summary.report.sent == 1
    row = _rows(sqlite_url)["slow@example.com"]
    assert row.status == DeliveryStatus.DEFERRED


class _BrokenMailer:
    """A mailer whose server rejects our credentials after two messages."""

    max_in_flight = 1

    def __init__(self) -> None:
        self.sent = 0

    def capacity(self) -> int:
        return 1

    async def check(self) -> None:
        return None

    async def send(self, envelope: object) -> object:
        from newsletter.delivery.mailer import SendOutcome
        from newsletter.delivery.replies import ReplyKind
        from newsletter.errors import SmtpAuthError

        if self.sent >= 2:
            raise SmtpAuthError("SMTP server refused our credentials (535 5.7.8)")
        self.sent += 1
        return SendOutcome(ReplyKind.SENT, 250, "ok")

    async def close(self) -> None:
        return None


def test_a_sender_that_cannot_go_on_stops_the_pass_cleanly(
    sqlite_url: str, pipelining: str
) -> None:
    from newsletter.errors import SmtpAuthError

    _setup(sqlite_url, [f"ok{i}@example.com" for i in range(10)])
    runtime = make_runtime(make_settings(sqlite_url, smtp_pool_size=2, send_batch_size=4))
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
    mailer = _BrokenMailer()
    with pytest.raises(SmtpAuthError):
        asyncio.run(asyncio.wait_for(runs.send_run(runtime, run_id=plan.run_id, mailer=mailer), 20))  # type: ignore[arg-type]
    statuses = [row.status for row in _rows(sqlite_url).values()]
    assert statuses.count(DeliveryStatus.SENT) == 2
    # nothing is lost: the rest is queued again or waits for its lease to expire
    assert set(statuses) <= {DeliveryStatus.SENT, DeliveryStatus.QUEUED, DeliveryStatus.SENDING}
