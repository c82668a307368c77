"""Webhook events, recorded once from the tables that already say what happened.

Nothing in the send engine or the subscriber services has to call us: each pass reads what
happened since the oldest active endpoint was added (confirmations, unsubscribe events with
their source, addresses suppressed for bouncing, finished runs), records each fact once in
``webhook_events`` (``UNIQUE(kind, ref)``, so a repeat or a concurrent pass adds nothing) and
queues it for every active endpoint that wants it and existed when it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from newsletter.ledger.record import run_counts
from newsletter.models import (
    Run,
    RunKind,
    RunStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from newsletter.webhooks.endpoints import EventKind
from subscribers.models import (
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionKind,
    SuppressionReason,
    UnsubscribeEvent,
    UnsubscribeSource,
)


@dataclass(frozen=True)
class Fact:
    """Something that happened, before it is recorded."""

    kind: EventKind
    ref: str
    occurred_at: datetime
    payload: dict[str, Any]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _confirmations(session: Session, since: datetime) -> list[Fact]:
    rows = session.exec(
        select(Subscription, Subscriber.email, MailingList.slug)
        .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
        .join(MailingList, col(MailingList.id) == col(Subscription.list_id))
        .where(col(Subscription.confirmed_at) >= since)
    )
    return [
        Fact(
            EventKind.CONFIRMED,
            f"{sub.id}:{int(sub.confirmed_at.timestamp())}",
            sub.confirmed_at,
            {"email": email, "list": slug, "topics": list(sub.topics)},
        )
        for sub, email, slug in rows
        if sub.confirmed_at is not None
    ]


KIND_OF_SOURCE = {UnsubscribeSource.COMPLAINT: EventKind.COMPLAINED}
BOUNCE_REASONS = (SuppressionReason.HARD_BOUNCE, SuppressionReason.SOFT_BOUNCES)


def _unsubscribes(session: Session, since: datetime) -> list[Fact]:
    rows = session.exec(
        select(UnsubscribeEvent, Subscriber.email, MailingList.slug)
        .join(Subscriber, col(Subscriber.id) == col(UnsubscribeEvent.subscriber_id), isouter=True)
        .join(MailingList, col(MailingList.id) == col(UnsubscribeEvent.list_id), isouter=True)
        .where(col(UnsubscribeEvent.at) >= since)
    )
    return [
        Fact(
            KIND_OF_SOURCE.get(UnsubscribeSource(event.source), EventKind.UNSUBSCRIBED),
            str(event.id),
            event.at,
            {
                "email": email,
                "list": slug,
                "all_lists": event.list_id is None,
                "source": event.source,
            },
        )
        for event, email, slug in rows
        if event.source != UnsubscribeSource.BOUNCE  # announced by its suppression below
    ]


def _bounces(session: Session, since: datetime) -> list[Fact]:
    """Addresses suppressed for bouncing (by a DSN, a provider webhook or soft bounces)."""
    rows = session.exec(
        select(Suppression).where(
            col(Suppression.created_at) >= since,
            col(Suppression.reason).in_(BOUNCE_REASONS),
            Suppression.kind == SuppressionKind.ADDRESS,
        )
    )
    return [
        Fact(
            EventKind.BOUNCED,
            str(entry.id),
            entry.created_at,
            {"email": entry.value, "reason": entry.reason, "note": entry.note},
        )
        for entry in rows
    ]


def _finished_runs(session: Session, since: datetime) -> list[Fact]:
    rows = session.exec(
        select(Run, MailingList.slug)
        .join(MailingList, col(MailingList.id) == col(Run.list_id))
        .where(
            col(Run.finished_at) >= since,
            col(Run.status).in_([RunStatus.DONE, RunStatus.CANCELLED]),
            col(Run.kind).in_([RunKind.MANUAL, RunKind.SCHEDULED]),
        )
    )
    return [
        Fact(
            EventKind.RUN_FINISHED,
            str(run.id),
            run.finished_at,
            {
                "run_id": run.id,
                "list": slug,
                "status": run.status,
                "counts": run_counts(session, run_id=run.id or 0),
            },
        )
        for run, slug in rows
        if run.finished_at is not None
    ]


def record_events(session: Session, *, now: datetime) -> int:
    """Record new facts and queue them for the endpoints that want them; returns facts added."""
    endpoints = list(session.exec(select(WebhookEndpoint).where(col(WebhookEndpoint.active))))
    if not endpoints:
        return 0
    since = min(e.created_at for e in endpoints)
    facts = _confirmations(session, since) + _unsubscribes(session, since)
    facts += _bounces(session, since)
    facts += _finished_runs(session, since)
    known = {
        (kind, ref)
        for kind, ref in session.exec(
            select(WebhookEvent.kind, WebhookEvent.ref).where(
                col(WebhookEvent.occurred_at) >= since
            )
        )
    }
    added = 0
    for fact in sorted(facts, key=lambda f: f.occurred_at):
        if (fact.kind.value, fact.ref) in known:
            continue
        event = WebhookEvent(
            kind=fact.kind,
            ref=fact.ref,
            payload=fact.payload,
            occurred_at=fact.occurred_at,
            created_at=now,
        )
        session.add(event)
        session.flush()
        added += 1
        for endpoint in endpoints:
            if fact.kind.value in endpoint.events and endpoint.created_at <= fact.occurred_at:
                session.add(
                    WebhookDelivery(
                        endpoint_id=endpoint.id or 0,
                        event_id=event.id or 0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
    session.flush()
    return added
