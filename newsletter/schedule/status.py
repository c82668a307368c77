"""What ``newsletter schedule status`` shows: next due sends, last runs, live daemons."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from newsletter.db import session_scope
from newsletter.ledger.runstate import RunSummary, recent_runs
from newsletter.schedule.dispatch import rhythm_counts
from newsletter.schedule.heartbeat import DaemonState, daemons
from newsletter.schedule.periods import next_period
from newsletter.schedule.sends import SendView, list_sends
from subscribers.dbtypes import utcnow
from subscribers.models import MailingList

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


@dataclass(frozen=True)
class NextSend:
    """A coming due instant of one list, with how many subscriptions fall due then."""

    list_slug: str
    due_at: datetime
    key: str
    subscriptions: int


@dataclass(frozen=True)
class ScheduleStatus:
    """Everything ``schedule status`` prints."""

    now: datetime  # the scheduler's clock
    next_sends: list[NextSend]
    one_off: list[SendView]
    runs: list[RunSummary]
    daemons: list[DaemonState]


def next_sends(session: Session, *, now: datetime, per_list: int = 3) -> list[NextSend]:
    """The next ``per_list`` due instants of every list (subscriptions due then)."""
    lists = {m.id: m.slug for m in session.exec(select(MailingList)) if m.id is not None}
    due: Counter[tuple[int, datetime, str]] = Counter()
    for (list_id, rhythm), count in rhythm_counts(session).items():
        period = next_period(rhythm, now=now)
        due[(list_id, period.due_at, period.key)] += count
    found: list[NextSend] = []
    for list_id, slug in sorted(lists.items(), key=lambda item: item[1]):
        mine = sorted((at, key, n) for (lid, at, key), n in due.items() if lid == list_id)
        found.extend(NextSend(slug, at, key, n) for at, key, n in mine[:per_list])
    return found


def schedule_status(session: Session, *, now: datetime, real_now: datetime) -> ScheduleStatus:
    """Collect the status: periods by the scheduler clock, liveness by the real clock."""
    return ScheduleStatus(
        now=now,
        next_sends=next_sends(session, now=now),
        one_off=list_sends(session),
        runs=recent_runs(session, limit=10, with_tests=False),
        daemons=daemons(session, now=real_now),
    )


def current_status(runtime: Runtime) -> ScheduleStatus:
    """``schedule status`` on the scheduler's clock, with daemons' ages on the real one."""
    from newsletter.schedule.clock import make_clock

    with session_scope(runtime.engine) as session:
        return schedule_status(session, now=make_clock(runtime.settings)(), real_now=utcnow())
