"""Dispatch: turn the periods that have come due into runs and delivery rows, exactly once.

Keys (see ``periods.py`` for the period semantics):

- each delivery row of a scheduled digest carries the subscription's *period key*
  (``daily:2026-03-29``, ``weekly:2026-W13``); the ledger's unique (subscription_id, period)
  makes a second digest for the same local day or ISO week impossible, whichever process or
  tick tries;
- subscriptions of one list whose period is due at the same UTC instant with the same key
  are grouped into one run whose ``period`` is ``<key>@<due instant>``, for instance
  ``daily:2026-03-29@2026-03-29T07:00Z``; the runs' unique (list_id, period) makes a double
  firing fail on its first insert. A subscription that joins a group after its run exists
  (a changed hour, a late confirmation) goes into ``<key>@<due>#2`` and so on;
- an editor's one-off send has the run period ``send:<id>``.

Every group is one unit of work in its own transaction: an IntegrityError (another scheduler
got there first) rolls back that unit only, and the next tick sees the result of the winner.
Periods that can no longer be sent (later than the maximum lateness, or superseded by a newer
period of the same subscription) get a finished run with *skipped* rows saying why, so they
are logged once and never reconsidered.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from newsletter.digest.selector import Limits
from newsletter.ledger.planning import load_audience, not_suppressed, plan_run
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.schedule.oneoff import dispatch_one_off
from newsletter.schedule.periods import Decision, Period, Rhythm, Verdict, decide, recent_periods
from newsletter.schedule.report import DispatchReport, RunRecord
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)


@dataclass(frozen=True)
class Member:
    """An active subscription with what the scheduler needs to know about it."""

    subscription_id: int
    subscriber_id: int
    list_id: int
    email: str
    rhythm: Rhythm
    active_since: datetime


def rhythm_counts(session: Session) -> Counter[tuple[int, Rhythm]]:
    """How many active subscriptions of active, unsuppressed subscribers each list has per
    rhythm: one grouped count in SQL (the audience's own suppression rule), so a million
    subscribers are never loaded to count them."""
    zone = func.coalesce(
        func.nullif(col(Subscription.timezone), ""),
        func.nullif(col(Subscriber.timezone), ""),
        "UTC",
    )
    keys = (
        col(Subscription.list_id),
        col(Subscription.cadence),
        col(Subscription.weekday),
        col(Subscription.send_hour),
        zone,
    )
    query = (
        sa_select(*keys, func.count())
        .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
        .where(
            col(Subscription.status) == SubscriptionStatus.ACTIVE,
            col(Subscriber.status) == SubscriberStatus.ACTIVE,
            not_suppressed(),
        )
        .group_by(*keys)
    )
    return Counter(
        {
            (list_id, Rhythm(cadence, weekday, hour, timezone)): n
            for list_id, cadence, weekday, hour, timezone, n in session.execute(query)
        }
    )


def load_members(session: Session, *, list_ids: Collection[int] | None = None) -> list[Member]:
    """Active subscriptions of active subscribers; the subscription's zone or the subscriber's."""
    query = (
        sa_select(  # sqlmodel's select types at most four columns
            col(Subscription.id),
            col(Subscription.subscriber_id),
            col(Subscription.list_id),
            col(Subscriber.email),
            col(Subscription.cadence),
            col(Subscription.weekday),
            col(Subscription.send_hour),
            col(Subscription.timezone),
            col(Subscriber.timezone),
            col(Subscription.confirmed_at),
            col(Subscription.created_at),
        )
        .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
        .where(
            col(Subscription.status) == SubscriptionStatus.ACTIVE,
            col(Subscriber.status) == SubscriberStatus.ACTIVE,
        )
        .order_by(col(Subscription.id))
    )
    if list_ids is not None:
        query = query.where(col(Subscription.list_id).in_(list(list_ids)))
    rhythms: dict[tuple[str, int, int, str], Rhythm] = {}
    members = []
    for row in session.execute(query):
        sub_id, subscriber_id, list_id, email, cadence, weekday, hour, zone, fallback = row[:9]
        confirmed_at, created_at = row[9:]
        if sub_id is None:
            continue
        key = (cadence, weekday, hour, zone or fallback or "UTC")
        rhythm = rhythms.get(key)
        if rhythm is None:
            rhythm = rhythms[key] = Rhythm(*key)
        since = confirmed_at or created_at
        members.append(Member(sub_id, subscriber_id, list_id, email, rhythm, since))
    return members


def handled_keys(
    session: Session, *, subscription_ids: Collection[int], keys: Collection[str]
) -> dict[int, set[str]]:
    """Which of these period keys each subscription already has a ledger row for."""
    found: dict[int, set[str]] = defaultdict(set)
    if not subscription_ids or not keys:
        return found
    ids = list(subscription_ids)
    for start in range(0, len(ids), 5000):
        rows = session.exec(
            select(Delivery.subscription_id, Delivery.period).where(
                col(Delivery.subscription_id).in_(ids[start : start + 5000]),
                col(Delivery.period).in_(list(keys)),
            )
        )
        for sub_id, period in rows:
            if sub_id is not None and period is not None:
                found[sub_id].add(period)
    return found


def free_run_period(session: Session, *, list_id: int, base: str) -> str:
    """``base`` if no run of the list uses it yet, else the first free ``base#n``."""
    taken = set(
        session.exec(
            select(Run.period).where(Run.list_id == list_id, col(Run.period).startswith(base))
        )
    )
    if base not in taken:
        return base
    n = 2
    while f"{base}#{n}" in taken:
        n += 1
    return f"{base}#{n}"


def run_period(period: Period) -> str:
    """The run-level key of a group: the period key and the UTC due instant."""
    return f"{period.key}@{period.due_at:%Y-%m-%dT%H:%MZ}"


def _plan_group(
    session: Session,
    *,
    mailing_list: MailingList,
    period: Period,
    members: list[Member],
    now: datetime,
    limits: Limits,
    lookback: timedelta,
) -> RunRecord:
    list_id = mailing_list.id or 0
    key = free_run_period(session, list_id=list_id, base=run_period(period))
    plan = plan_run(
        session,
        mailing_list=mailing_list,
        now=now,
        limits=limits,
        lookback=lookback,
        kind=RunKind.SCHEDULED,
        period=key,
        subscription_ids=[m.subscription_id for m in members],
    )
    # plan_run writes one period for run and rows; the rows carry the subscription-level key,
    # and this update is where the ledger's (subscription_id, period) key bites.
    session.execute(
        update(Delivery)
        .where(col(Delivery.run_id) == plan.run_id)
        .values(period=period.key)
        .execution_options(synchronize_session=False)
    )
    return RunRecord(
        plan.run_id, mailing_list.slug, key, Verdict.SEND, plan.queued, plan.skipped, period.due_at
    )


def _record_skipped(
    session: Session,
    *,
    mailing_list: MailingList,
    period: Period,
    members: list[tuple[Member, str]],
    verdict: str,
    now: datetime,
) -> RunRecord:
    list_id = mailing_list.id or 0
    key = free_run_period(session, list_id=list_id, base=run_period(period))
    run = Run(
        list_id=list_id,
        kind=RunKind.SCHEDULED,
        status=RunStatus.DONE,
        period=key,
        pause_reason=f"{verdict}: nothing sent",
        created_at=now,
        finished_at=now,
    )
    session.add(run)
    session.flush()
    rows = [
        {
            "run_id": run.id,
            "subscriber_id": member.subscriber_id,
            "subscription_id": member.subscription_id,
            "digest_id": None,
            "email": member.email,
            "period": period.key,
            "status": DeliveryStatus.SKIPPED,
            "attempts": 0,
            "last_error": reason,
            "created_at": now,
        }
        for member, reason in members
    ]
    session.execute(insert(Delivery), rows)
    return RunRecord(
        run.id or 0,
        mailing_list.slug,
        key,
        verdict,
        0,
        len(rows),
        period.due_at,
        members[0][1] if members else None,
    )


def plan_decisions(
    members: Iterable[Member],
    *,
    now: datetime,
    handled: dict[int, set[str]],
    max_lateness: timedelta,
) -> dict[tuple[int, str, Period], list[tuple[Member, Decision]]]:
    """Group every member's decisions by (list, verdict, period): one unit of work each."""
    cache: dict[Rhythm, list[Period]] = {}
    groups: dict[tuple[int, str, Period], list[tuple[Member, Decision]]] = defaultdict(list)
    for member in members:
        recent = cache.get(member.rhythm)
        if recent is None:
            recent = recent_periods(member.rhythm, now=now, max_lateness=max_lateness)
            cache[member.rhythm] = recent
        for decision in decide(
            recent,
            now=now,
            active_since=member.active_since,
            handled=handled.get(member.subscription_id, set()),
            max_lateness=max_lateness,
        ):
            groups[(member.list_id, decision.verdict, decision.period)].append((member, decision))
    return groups


def _only_mailable(
    session: Session, groups: dict[tuple[int, str, Period], list[tuple[Member, Decision]]]
) -> dict[tuple[int, str, Period], list[tuple[Member, Decision]]]:
    """Drop members plan_run would leave out (suppressed addresses): same rule, same query."""
    wanted: dict[int, set[int]] = defaultdict(set)
    for (list_id, _, _), entries in groups.items():
        wanted[list_id].update(member.subscription_id for member, _ in entries)
    mailable: set[int] = set()
    for list_id, ids in wanted.items():
        audience = load_audience(session, list_id=list_id, subscription_ids=ids)
        mailable.update(a.subscription_id for a in audience)
    kept = {
        key: [(m, d) for m, d in entries if m.subscription_id in mailable]
        for key, entries in groups.items()
    }
    return {key: entries for key, entries in kept.items() if entries}


def dispatch(
    session: Session,
    *,
    now: datetime,
    limits: Limits,
    lookback: timedelta,
    max_lateness: timedelta,
) -> DispatchReport:
    """Create the runs and delivery rows of every period due by ``now`` that has none yet.

    Commits each unit of work on ``session`` by itself; safe to call from several processes.
    """
    report = DispatchReport()
    lists = {m.id: m for m in session.exec(select(MailingList)) if m.id is not None}
    members = load_members(session)
    keys = {
        p.key
        for rhythm in {m.rhythm for m in members}
        for p in recent_periods(rhythm, now=now, max_lateness=max_lateness)
    }
    handled = handled_keys(
        session, subscription_ids=[m.subscription_id for m in members], keys=keys
    )
    groups = plan_decisions(members, now=now, handled=handled, max_lateness=max_lateness)
    groups = _only_mailable(session, groups)
    session.commit()
    for (list_id, verdict, period), entries in sorted(
        groups.items(), key=lambda item: (item[0][2].due_at, item[0][0], item[0][1])
    ):
        mailing_list = lists[list_id]
        try:
            if verdict == Verdict.SEND:
                record = _plan_group(
                    session,
                    mailing_list=mailing_list,
                    period=period,
                    members=[m for m, _ in entries],
                    now=now,
                    limits=limits,
                    lookback=lookback,
                )
            else:
                record = _record_skipped(
                    session,
                    mailing_list=mailing_list,
                    period=period,
                    members=[(m, d.reason or verdict) for m, d in entries],
                    verdict=verdict,
                    now=now,
                )
            session.commit()
        except IntegrityError:
            session.rollback()
            report.conflicts += 1
            continue
        report.runs.append(record)
    dispatch_one_off(
        session,
        now=now,
        limits=limits,
        lookback=lookback,
        max_lateness=max_lateness,
        report=report,
        lists=lists,
    )
    return report
