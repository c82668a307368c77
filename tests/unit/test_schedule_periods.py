"""Pure period logic: keys, due instants across DST gaps and folds, downtime decisions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.schedule.periods import (
    Rhythm,
    Verdict,
    decide,
    latest_period,
    local_to_utc,
    next_period,
    periods_between,
    recent_periods,
    zone,
)

MINUTE = timedelta(minutes=1)
LATENESS = timedelta(hours=6)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def simulate(rhythm: Rhythm, start: datetime, end: datetime) -> dict[str, datetime]:
    """Tick every minute like the daemon; return when each period was sent (key -> instant)."""
    handled: set[str] = set()
    sent: dict[str, datetime] = {}
    now = start
    active_since = start
    while now <= end:
        recent = recent_periods(rhythm, now=now, max_lateness=LATENESS)
        for decision in decide(
            recent, now=now, active_since=active_since, handled=handled, max_lateness=LATENESS
        ):
            assert decision.verdict is Verdict.SEND
            assert decision.period.key not in handled
            handled.add(decision.period.key)
            sent[decision.period.key] = now
        now += MINUTE
    return sent


@pytest.mark.parametrize(
    ("name", "hour", "start", "expected"),
    [
        # London spring forward 2026-03-29 01:00 GMT -> 02:00 BST: 01:00 does not exist
        (
            "Europe/London",
            1,
            utc(2026, 3, 27, 12),
            {
                "daily:2026-03-28": utc(2026, 3, 28, 1),
                "daily:2026-03-29": utc(2026, 3, 29, 1),  # 02:00 BST, first valid time
                "daily:2026-03-30": utc(2026, 3, 30, 0),  # 01:00 BST
            },
        ),
        # London fall back 2026-10-25 02:00 BST -> 01:00 GMT: 01:00 happens twice
        (
            "Europe/London",
            1,
            utc(2026, 10, 23, 12),
            {
                "daily:2026-10-24": utc(2026, 10, 24, 0),
                "daily:2026-10-25": utc(2026, 10, 25, 0),  # first 01:00 (BST), only once
                "daily:2026-10-26": utc(2026, 10, 26, 1),
            },
        ),
        # New York spring forward 2026-03-08 02:00 EST -> 03:00 EDT
        (
            "America/New_York",
            2,
            utc(2026, 3, 6, 12),
            {
                "daily:2026-03-07": utc(2026, 3, 7, 7),
                "daily:2026-03-08": utc(2026, 3, 8, 7),  # 03:00 EDT
                "daily:2026-03-09": utc(2026, 3, 9, 6),
            },
        ),
        # New York fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:00 twice
        (
            "America/New_York",
            1,
            utc(2026, 10, 30, 12),
            {
                "daily:2026-10-31": utc(2026, 10, 31, 5),
                "daily:2026-11-01": utc(2026, 11, 1, 5),  # first 01:00 (EDT)
                "daily:2026-11-02": utc(2026, 11, 2, 6),
            },
        ),
        # no DST at all
        (
            "Asia/Tokyo",
            8,
            utc(2026, 3, 6, 12),
            {
                "daily:2026-03-07": utc(2026, 3, 6, 23),
                "daily:2026-03-08": utc(2026, 3, 7, 23),
                "daily:2026-03-09": utc(2026, 3, 8, 23),
            },
        ),
    ],
)
def test_daily_digest_once_per_local_day_across_dst(
    name: str, hour: int, start: datetime, expected: dict[str, datetime]
) -> None:
    sent = simulate(Rhythm("daily", 0, hour, name), start, start + timedelta(days=2, hours=23))
    assert sent == expected


@pytest.mark.parametrize("name", ["Europe/London", "America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize("hour", range(24))
def test_every_hour_every_day_of_a_dst_year_is_due_exactly_once(name: str, hour: int) -> None:
    rhythm = Rhythm("daily", 0, hour, name)
    periods = periods_between(rhythm, start=utc(2026, 1, 1), end=utc(2027, 1, 1))
    days = [p.local_date for p in periods]
    assert len(days) == len(set(days))
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]
    for period in periods:
        local = period.due_at.astimezone(zone(name))
        assert local.date() == period.local_date
        # at the chosen hour, or (in a gap) the first valid time after it
        assert local.hour == hour or (local.hour == hour + 1 and local.minute == 0)


def test_gap_and_fold_instants() -> None:
    new_york = zone("America/New_York")
    assert local_to_utc(date(2026, 3, 8), time(2, 30), new_york) == utc(2026, 3, 8, 7)
    assert local_to_utc(date(2026, 11, 1), time(1, 30), new_york) == utc(2026, 11, 1, 5, 30)
    lord_howe = zone("Australia/Lord_Howe")  # a half-hour shift
    assert local_to_utc(date(2026, 10, 4), time(2), lord_howe) == utc(2026, 10, 3, 15, 30)


def test_weekly_keys_follow_iso_weeks_and_the_weekday() -> None:
    rhythm = Rhythm("weekly", 0, 8, "Europe/London")  # Mondays 08:00
    periods = periods_between(rhythm, start=utc(2026, 3, 20), end=utc(2026, 4, 14))
    assert [p.key for p in periods] == [
        "weekly:2026-W13",
        "weekly:2026-W14",
        "weekly:2026-W15",
        "weekly:2026-W16",
    ]
    assert periods[0].due_at == utc(2026, 3, 23, 8)  # GMT
    assert periods[1].due_at == utc(2026, 3, 30, 7)  # BST
    now = utc(2026, 3, 25)
    assert latest_period(rhythm, now=now).key == "weekly:2026-W13"
    assert next_period(rhythm, now=now).due_at == utc(2026, 3, 30, 7)


def test_downtime_sends_the_latest_timely_period_once_and_skips_the_rest() -> None:
    rhythm = Rhythm("daily", 0, 8, "UTC")
    now = utc(2026, 11, 25, 10)  # down since the 21st; today's 08:00 is 2 h late
    recent = recent_periods(rhythm, now=now, max_lateness=timedelta(hours=6))
    decisions = decide(
        recent,
        now=now,
        active_since=utc(2026, 1, 1),
        handled={"daily:2026-11-20"},
        max_lateness=timedelta(hours=6),
    )
    assert [(d.period.key, d.verdict) for d in decisions] == [
        ("daily:2026-11-24", Verdict.MISSED),
        ("daily:2026-11-25", Verdict.SEND),
    ]
    assert decisions[0].reason == "missed: 26.0 h late (max 6 h)"
    # a generous lateness: both are timely, the newer one is sent, the older superseded
    wide = timedelta(hours=30)
    decisions = decide(
        recent_periods(rhythm, now=now, max_lateness=wide),
        now=now,
        active_since=utc(2026, 1, 1),
        handled=set(),
        max_lateness=wide,
    )
    verdicts = {d.period.key: d.verdict for d in decisions}
    assert verdicts["daily:2026-11-24"] is Verdict.SUPERSEDED
    assert verdicts["daily:2026-11-25"] is Verdict.SEND
    # too late for today as well: nothing is sent, today's period is recorded as missed
    late = utc(2026, 11, 25, 15)
    decisions = decide(
        recent_periods(rhythm, now=late, max_lateness=LATENESS),
        now=late,
        active_since=utc(2026, 1, 1),
        handled=set(),
        max_lateness=LATENESS,
    )
    assert {d.verdict for d in decisions} == {Verdict.MISSED}


def test_periods_before_activation_and_already_handled_are_ignored() -> None:
    rhythm = Rhythm("daily", 0, 8, "UTC")
    now = utc(2026, 11, 25, 9)
    recent = recent_periods(rhythm, now=now, max_lateness=LATENESS)
    assert (
        decide(
            recent,
            now=now,
            active_since=utc(2026, 11, 25, 8, 30),
            handled=set(),
            max_lateness=LATENESS,
        )
        == []
    )
    assert (
        decide(
            recent,
            now=now,
            active_since=utc(2026, 1, 1),
            handled={"daily:2026-11-25"},
            max_lateness=LATENESS,
        )
        == []
    )


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)),
    st.sampled_from(["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]),
    st.integers(0, 23),
    st.sampled_from(["daily", "weekly"]),
    st.integers(0, 6),
)
def test_latest_is_due_and_next_is_the_one_after(
    naive: datetime, name: str, hour: int, cadence: str, weekday: int
) -> None:
    now = naive.replace(tzinfo=UTC)
    rhythm = Rhythm(cadence, weekday, hour, name)
    latest, upcoming = latest_period(rhythm, now=now), next_period(rhythm, now=now)
    assert latest.due_at <= now < upcoming.due_at
    assert periods_between(rhythm, start=latest.due_at, end=upcoming.due_at) == [upcoming]
