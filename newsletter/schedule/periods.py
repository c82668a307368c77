"""Pure period logic: when a subscription's digest is due, and under which key.

A subscription has a *rhythm*: a cadence (daily or weekly), a weekday (0 = Monday, weekly
only), a local send hour and an IANA time zone. Each rhythm cuts time into *periods*:

- daily: one period per local calendar day, key ``daily:2026-03-29`` (the local date);
- weekly: one period per ISO week, key ``weekly:2026-W13``, due on the chosen weekday.

The key is what the delivery ledger stores in ``deliveries.period`` and what its unique key
(subscription_id, period) guards: a subscriber gets at most one digest per local day (or ISO
week) even when the scheduler fires twice, runs in several copies, or the subscriber changes
their hour or time zone during the day.

A period's *due instant* is its local send time converted to UTC:

- a local time that does not exist (the spring-forward gap) is replaced by the first valid
  time after it (the instant the clocks jump), e.g. 02:00 in New York on 2026-03-08 -> 03:00 EDT;
- a local time that exists twice (the autumn fold) is taken at its first occurrence, so a
  period is due once, not twice.

Nothing here reads the clock: ``now`` is always a parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


class PeriodCadence(StrEnum):
    """The cadences the scheduler knows (same values as ``subscribers.models.Cadence``)."""

    DAILY = "daily"
    WEEKLY = "weekly"


@dataclass(frozen=True)
class Rhythm:
    """When one subscription wants its digest."""

    cadence: str
    weekday: int
    hour: int
    timezone: str

    @property
    def length(self) -> timedelta:
        """The nominal length of one period."""
        return WEEK if self.cadence == PeriodCadence.WEEKLY else DAY


@dataclass(frozen=True, order=True)
class Period:
    """One period of a rhythm: its ledger key, its local send date and its UTC due instant."""

    due_at: datetime
    key: str
    local_date: date


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a name (cached: the scheduler asks for the same few zones every tick)."""
    return ZoneInfo(name)


def _utc(day: date, at: time, tz: ZoneInfo, fold: int) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).replace(fold=fold).astimezone(UTC)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def local_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall time; first valid time after a gap, first of a fold."""
    wanted = datetime.combine(day, at)
    first = _utc(day, at, tz, fold=0)
    second = _utc(day, at, tz, fold=1)
    if _wall(first, tz) == wanted or _wall(second, tz) == wanted:
        # exists (once, or twice in a fold: the earlier instant is its first occurrence)
        return min(c for c in (first, second) if _wall(c, tz) == wanted)
    # In a gap: the clocks jump somewhere in [low, high]; find the jump to the second.
    low, high = min(first, second), max(first, second)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _wall(middle, tz) >= wanted:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def period_key(rhythm: Rhythm, local_day: date) -> str:
    """The ledger key of the period whose send day is ``local_day``."""
    if rhythm.cadence == PeriodCadence.WEEKLY:
        year, week, _ = local_day.isocalendar()
        return f"weekly:{year}-W{week:02d}"
    return f"daily:{local_day.isoformat()}"


def _send_days(rhythm: Rhythm, first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        if rhythm.cadence != PeriodCadence.WEEKLY or day.weekday() == rhythm.weekday:
            yield day
        day += timedelta(days=1)


def periods_between(rhythm: Rhythm, *, start: datetime, end: datetime) -> list[Period]:
    """Periods whose due instant lies in ``(start, end]``, oldest first."""
    tz = zone(rhythm.timezone)
    at = time(rhythm.hour)
    first = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    found = []
    for day in _send_days(rhythm, first, last):
        due = local_to_utc(day, at, tz)
        if start < due <= end:
            found.append(Period(due_at=due, key=period_key(rhythm, day), local_date=day))
    return found


def latest_period(rhythm: Rhythm, *, now: datetime) -> Period:
    """The most recent period due at or before ``now``."""
    found = periods_between(rhythm, start=now - rhythm.length - 2 * DAY, end=now)
    return found[-1]


def next_period(rhythm: Rhythm, *, now: datetime) -> Period:
    """The first period due strictly after ``now``."""
    return periods_between(rhythm, start=now, end=now + rhythm.length + 2 * DAY)[0]


class Verdict(StrEnum):
    """What the dispatcher does with a period that has no ledger row yet."""

    SEND = "send"
    MISSED = "missed"  # due longer ago than the maximum lateness
    SUPERSEDED = "superseded"  # a newer period of the same subscription is sent instead


@dataclass(frozen=True)
class Decision:
    """One period to act on for one subscription."""

    period: Period
    verdict: Verdict
    reason: str | None = None


def recent_periods(rhythm: Rhythm, *, now: datetime, max_lateness: timedelta) -> list[Period]:
    """The periods the dispatcher looks at: due by ``now``, at most one period beyond lateness."""
    return periods_between(rhythm, start=now - max_lateness - rhythm.length, end=now)


def decide(
    recent: list[Period],
    *,
    now: datetime,
    active_since: datetime,
    handled: frozenset[str] | set[str],
    max_lateness: timedelta,
) -> list[Decision]:
    """Decide, for one subscription, what to do with each unhandled recent period.

    ``recent`` comes from ``recent_periods`` (older periods were missed during a long downtime;
    the daemon logs that downtime once at start-up). Periods due before the subscription became
    active are ignored, and so is anything not newer than the newest period already in the
    ledger (``handled`` keys). Of the periods still open, the newest one within the maximum
    lateness is sent (it carries everything published since the last digest); older open ones
    are recorded as superseded, and open ones later than the maximum lateness as missed.
    """
    candidates = [p for p in recent if active_since <= p.due_at <= now]
    handled_at = [i for i, p in enumerate(candidates) if p.key in handled]
    if handled_at:
        candidates = candidates[handled_at[-1] + 1 :]
    timely = [p for p in candidates if now - p.due_at <= max_lateness]
    limit = max_lateness.total_seconds() / 3600
    decisions = []
    for period in candidates:
        if timely and period == timely[-1]:
            decisions.append(Decision(period, Verdict.SEND))
        elif period in timely:
            decisions.append(
                Decision(period, Verdict.SUPERSEDED, f"superseded by {timely[-1].key}")
            )
        else:
            hours = (now - period.due_at).total_seconds() / 3600
            decisions.append(
                Decision(period, Verdict.MISSED, f"missed: {hours:.1f} h late (max {limit:g} h)")
            )
    return decisions
