"""Dispatch against a real SQLite file: simulated days, DST, downtime, double firings, one-offs."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import session_scope
from newsletter.digest.selector import Limits
from newsletter.models import Delivery, DeliveryStatus, Run
from newsletter.runtime import Runtime
from newsletter.schedule import dispatch as dispatch_module
from newsletter.schedule import sends
from newsletter.schedule.dispatch import DispatchReport, dispatch
from newsletter.schedule.drain import drain_runs, sendable_runs
from newsletter.schedule.models import ScheduledSend, SendStatus
from subscribers import service
from subscribers.models import Subscription
from tests.conftest import make_settings
from tests.helpers import seed_list
from tests.smtpserver import RecordingServer

LIMITS = Limits(per_topic=5, total=20)
LOOKBACK = timedelta(days=7)
LATENESS = timedelta(hours=6)
START = datetime(2026, 3, 27, 0, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def subscribe(
    engine: Engine,
    email: str,
    *,
    topics: list[str],
    hour: int = 8,
    timezone: str = "UTC",
    cadence: str = "daily",
    weekday: int = 0,
    now: datetime = START,
) -> int:
    with session_scope(engine) as session:
        mailing_list = service.get_list(session, slug="daily")
        sub = service.add_subscriber(
            session,
            mailing_list=mailing_list,
            email=email,
            now=now,
            topics=topics,
            cadence=cadence,
            weekday=weekday,
            send_hour=hour,
            timezone=timezone,
            confirmed=True,
            by_admin=True,
        )
        return sub.id or 0


def publish(engine: Engine, now: datetime, topic: str, label: str) -> None:
    with session_scope(engine) as session:
        draft = ArticleDraft(
            title=f"{topic} news {label}",
            body_html=f"<p>What happened: {label}.</p>",
            published_at=now,
            url=f"https://news.example.org/{topic}/{label}",
            summary=f"Summary {label}.",
            topics=(topic,),
        )
        store_drafts(session, [draft], topics=[], now=now, source="test")


def run_dispatch(engine: Engine, now: datetime, lateness: timedelta = LATENESS) -> DispatchReport:
    with Session(engine, expire_on_commit=False) as session:
        return dispatch(session, now=now, limits=LIMITS, lookback=LOOKBACK, max_lateness=lateness)


def drain(runtime: Runtime) -> None:
    with session_scope(runtime.engine) as session:
        run_ids = sendable_runs(session, now=runtime.clock())
    if run_ids:
        asyncio.run(drain_runs(runtime, run_ids, worker="test", stopping=lambda: False))


def rows(engine: Engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery).order_by(col(Delivery.id))).all())


def runtime_for(url: str, smtp: RecordingServer, clock: Clock) -> Runtime:
    settings = make_settings(url, smtp)
    from newsletter.db import make_engine

    return Runtime(settings=settings, engine=make_engine(url), clock=clock)


def test_simulated_days_in_three_zones_once_per_local_day_only_with_news(
    sqlite_url: str, engine: Engine, smtp_server: RecordingServer
) -> None:
    seed_list(engine, START, ["tech", "world"])
    subs = {
        "london@example.com": subscribe(
            engine, "london@example.com", topics=["tech"], hour=1, timezone="Europe/London"
        ),
        "newyork@example.com": subscribe(
            engine, "newyork@example.com", topics=["tech"], timezone="America/New_York"
        ),
        "tokyo@example.com": subscribe(
            engine, "tokyo@example.com", topics=["tech"], timezone="Asia/Tokyo"
        ),
        "quiet@example.com": subscribe(
            engine, "quiet@example.com", topics=["world"], timezone="Europe/London"
        ),
    }
    clock = Clock(START)
    runtime = runtime_for(sqlite_url, smtp_server, clock)
    end = START + timedelta(days=4)
    tick = timedelta(minutes=20)
    first_sent: dict[str, dict[str, datetime]] = defaultdict(dict)
    while clock.now < end:
        if clock.now.minute == 0 and clock.now.hour % 6 == 0:
            publish(engine, clock.now - timedelta(minutes=1), "tech", clock.now.isoformat())
        first = run_dispatch(engine, clock.now)
        again = run_dispatch(engine, clock.now)  # a double firing does nothing
        assert again.runs == [] and again.conflicts == 0
        for record in first.runs:
            assert record.verdict == "send"
        drain(runtime)
        clock.now += tick
    runtime.dispose()
    by_sub: dict[int, list[Delivery]] = defaultdict(list)
    for row in rows(engine):
        by_sub[row.subscription_id or 0].append(row)
    with Session(engine) as session:
        runs = {r.id: r for r in session.exec(select(Run))}
    for email, sub_id in subs.items():
        periods = [r.period for r in by_sub[sub_id]]
        assert len(periods) == len(set(periods)), email
        for row in by_sub[sub_id]:
            run = runs[row.run_id]
            first_sent[email][row.period or ""] = datetime.strptime(
                (run.period or "").split("@")[1], "%Y-%m-%dT%H:%MZ"
            ).replace(tzinfo=UTC)
    # London at 01:00 local: the 29th has no 01:00 (spring forward) -> 02:00 BST = 01:00 UTC
    assert first_sent["london@example.com"] == {
        "daily:2026-03-27": utc(2026, 3, 27, 1),
        "daily:2026-03-28": utc(2026, 3, 28, 1),
        "daily:2026-03-29": utc(2026, 3, 29, 1),
        "daily:2026-03-30": utc(2026, 3, 30, 0),
    }
    assert first_sent["newyork@example.com"] == {
        f"daily:2026-03-{d}": utc(2026, 3, d, 12) for d in (27, 28, 29, 30)
    }
    assert first_sent["tokyo@example.com"] == {
        f"daily:2026-03-{d}": utc(2026, 3, d - 1, 23) for d in (28, 29, 30, 31)
    }
    # no news in "world": a skipped row per day, never a message
    quiet = by_sub[subs["quiet@example.com"]]
    assert len(quiet) == 4 and {r.status for r in quiet} == {DeliveryStatus.SKIPPED}
    received = Counter(m.rcpt_tos[0] for m in smtp_server.messages)
    assert received == {"london@example.com": 4, "newyork@example.com": 4, "tokyo@example.com": 4}


def test_downtime_sends_each_missed_period_once_or_skips_it_when_too_late(engine: Engine) -> None:
    seed_list(engine, START, ["tech"])
    sub_id = subscribe(engine, "a@example.com", topics=["tech"], hour=8)
    publish(engine, START, "tech", "one")
    assert [r.period for r in run_dispatch(engine, utc(2026, 3, 27, 8, 1)).runs] == [
        "daily:2026-03-27@2026-03-27T08:00Z"
    ]
    with session_scope(engine) as session:  # the drain sent it (a pending one holds the next)
        session.execute(text("UPDATE deliveries SET status = 'sent'"))
    # down from the 27th 08:01 until the 30th 10:00: the 29th is 26 h late, the 30th 2 h
    report = run_dispatch(engine, utc(2026, 3, 30, 10))
    assert [(r.period, r.verdict, r.queued, r.skipped) for r in report.runs] == [
        ("daily:2026-03-29@2026-03-29T08:00Z", "missed", 0, 1),
        ("daily:2026-03-30@2026-03-30T08:00Z", "send", 1, 0),
    ]
    assert report.runs[0].reason == "missed: 26.0 h late (max 6 h)"
    assert run_dispatch(engine, utc(2026, 3, 30, 10, 1)).runs == []
    # after the next downtime even today's period is too late: recorded, never sent
    report = run_dispatch(engine, utc(2026, 3, 31, 15))
    assert [(r.verdict, r.queued) for r in report.runs] == [("missed", 0)]
    mine = [r for r in rows(engine) if r.subscription_id == sub_id]
    assert [(r.period, r.status) for r in mine] == [
        ("daily:2026-03-27", DeliveryStatus.SENT),
        ("daily:2026-03-29", DeliveryStatus.SKIPPED),
        ("daily:2026-03-30", DeliveryStatus.QUEUED),
        ("daily:2026-03-31", DeliveryStatus.SKIPPED),
    ]


def test_a_copy_that_read_before_the_other_committed_writes_nothing(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_list(engine, START, ["tech"])
    subscribe(engine, "a@example.com", topics=["tech"], hour=8)
    subscribe(engine, "b@example.com", topics=["tech"], hour=8)
    publish(engine, START, "tech", "one")
    now = utc(2026, 3, 27, 8, 1)
    assert len(run_dispatch(engine, now).runs) == 1
    # a second scheduler that looked at the ledger before the first one committed
    monkeypatch.setattr(dispatch_module, "handled_keys", lambda session, **kw: {})
    report = run_dispatch(engine, now)
    assert report.runs == [] and report.conflicts == 1
    assert len(rows(engine)) == 2
    with Session(engine) as session:
        assert len(session.exec(select(Run)).all()) == 1


def test_changing_hour_or_zone_never_gives_a_second_digest_the_same_day(engine: Engine) -> None:
    seed_list(engine, START, ["tech"])
    sub_id = subscribe(engine, "a@example.com", topics=["tech"], hour=8)
    late_id = subscribe(engine, "b@example.com", topics=["tech"], hour=10)
    publish(engine, START, "tech", "one")
    assert len(run_dispatch(engine, utc(2026, 3, 27, 8, 5)).runs) == 1
    with session_scope(engine) as session:
        first = session.get(Subscription, sub_id)
        second = session.get(Subscription, late_id)
        assert first is not None and second is not None
        first.send_hour, first.timezone = 9, "Europe/Paris"  # 08:00 UTC again, same local day
        second.send_hour = 8  # joins the 08:00 group after its run exists
    report = run_dispatch(engine, utc(2026, 3, 27, 9, 5))
    assert [(r.period, r.queued) for r in report.runs] == [
        ("daily:2026-03-27@2026-03-27T08:00Z#2", 1)
    ]
    mine = [r.period for r in rows(engine) if r.subscription_id == sub_id]
    assert mine == ["daily:2026-03-27"]
    report = run_dispatch(engine, utc(2026, 3, 28, 8, 5))
    assert [r.period for r in report.runs] == ["daily:2026-03-28@2026-03-28T08:00Z"]


def test_weekly_subscribers_get_one_digest_per_iso_week(engine: Engine) -> None:
    seed_list(engine, START, ["tech"])
    sub_id = subscribe(
        engine,
        "w@example.com",
        topics=["tech"],
        cadence="weekly",
        weekday=0,
        hour=8,
        timezone="America/New_York",
    )
    publish(engine, START, "tech", "one")
    now = START
    while now < START + timedelta(days=15):
        run_dispatch(engine, now)
        now += timedelta(hours=1)
    mine = [r.period for r in rows(engine) if r.subscription_id == sub_id]
    assert mine == ["weekly:2026-W14", "weekly:2026-W15"]


def one_offs(report: DispatchReport) -> list[tuple[str, int]]:
    return [(r.period, r.queued) for r in report.runs if r.verdict == "one-off"]


def test_editor_one_off_send_runs_once_and_respects_cancel_and_lateness(engine: Engine) -> None:
    seed_list(engine, START, ["tech"])
    subscribe(engine, "a@example.com", topics=["tech"], hour=20)
    publish(engine, START, "tech", "one")
    with session_scope(engine) as session:
        kept = sends.add_send(
            session, slug="daily", at="2026-03-29 08:00", timezone="Europe/London", now=START
        )
        dropped = sends.add_send(
            session, slug="daily", at="2026-03-29 09:00", timezone="UTC", now=START
        )
        stale = sends.add_send(
            session, slug="daily", at="2026-03-27 01:00", timezone="UTC", now=START
        )
        sends.cancel_send(session, send_id=dropped.id or 0, now=START)
        with pytest.raises(sends.ScheduleError, match="in the past"):
            sends.add_send(session, slug="daily", at="2026-03-26 08:00", timezone="UTC", now=START)
        with pytest.raises(sends.ScheduleError, match="unknown time zone"):
            sends.add_send(
                session, slug="daily", at="2026-12-01 08:00", timezone="Mars/Base", now=START
            )
        with pytest.raises(sends.ScheduleError, match="already cancelled"):
            sends.cancel_send(session, send_id=dropped.id or 0, now=START)
    assert kept.at == utc(2026, 3, 29, 7)  # 08:00 BST
    report = run_dispatch(engine, utc(2026, 3, 27, 9))
    assert report.sends_missed == [stale.id]
    assert one_offs(run_dispatch(engine, utc(2026, 3, 29, 6, 59))) == []
    report = run_dispatch(engine, utc(2026, 3, 29, 7, 1))
    assert one_offs(report) == [(f"send:{kept.id}", 1)]
    assert one_offs(run_dispatch(engine, utc(2026, 3, 29, 10))) == []
    with Session(engine) as session:
        states = {
            s.id: (s.status, s.run_id is not None) for s in session.exec(select(ScheduledSend))
        }
    assert states == {
        kept.id: (SendStatus.DONE, True),
        dropped.id: (SendStatus.CANCELLED, False),
        stale.id: (SendStatus.MISSED, False),
    }
