"""Apply provider events and ARF complaints to the ledger and the audience, through the same
handling as DSNs: ``bounces.apply_bounce`` for failures, a complaint unsubscribe for complaints.

A provider webhook is authenticated by its signature, so its recipient can be trusted. An ARF
report arrives by mail, which anyone can send: it is acted on only when the original's
Message-ID matches a delivery we made to that recipient.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.inbound.bounces import BounceReport, apply_bounce, read_mailbox
from newsletter.inbound.dsn import Action, Bounce, BounceKind, RecipientStatus
from newsletter.inbound.parse import EventKind, ProviderEvent, parse_arf
from newsletter.models import Delivery, DeliveryStatus
from subscribers import service
from subscribers.models import Subscriber, UnsubscribeSource

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


@dataclass
class InboundReport:
    """What applying a batch of events did."""

    hard: int = 0
    soft: int = 0
    complaints: int = 0
    unmatched: int = 0
    ignored: int = 0


def _delivery(session: Session, message_id: str | None, email: str) -> Delivery | None:
    if not message_id:
        return None
    return session.exec(
        select(Delivery).where(
            col(Delivery.message_id).in_([message_id, f"<{message_id}>"]),
            Delivery.email == email.lower(),
        )
    ).first()


def _complaint(
    session: Session, event: ProviderEvent, delivery: Delivery | None, now: datetime
) -> bool:
    subscriber_id = delivery.subscriber_id if delivery is not None else None
    if subscriber_id is None:
        found = session.exec(select(Subscriber).where(Subscriber.email == event.email.lower()))
        person = found.first()
        subscriber_id = person.id if person is not None else None
    if subscriber_id is None:
        return False
    service.unsubscribe(
        session,
        subscriber_id=subscriber_id,
        list_id=None,
        source=UnsubscribeSource.COMPLAINT,
        now=now,
    )
    return True


def apply_events(
    session: Session,
    events: Iterable[ProviderEvent],
    *,
    secret: bytes,
    local: str,
    soft_limit: int,
    now: datetime,
) -> InboundReport:
    """Apply authenticated provider events; unknown recipients are counted, never created."""
    report = InboundReport()
    for event in events:
        delivery = _delivery(session, event.message_id, event.email)
        if event.kind is EventKind.COMPLAINT:
            if _complaint(session, event, delivery, now):
                report.complaints += 1
            else:
                report.unmatched += 1
            continue
        kind = BounceKind.HARD if event.kind is EventKind.HARD else BounceKind.SOFT
        bounce = Bounce(
            return_paths=(),
            recipients=(
                RecipientStatus(
                    final_recipient=event.email.lower(),
                    original_recipient=None,
                    action=Action.FAILED,
                    status="5.0.0" if kind is BounceKind.HARD else "4.0.0",
                    diagnostic=event.detail or None,
                    kind=kind,
                ),
            ),
            envelope_id=None,
            standard=True,
            # The provider's signed event names our Message-ID and the recipient: the same
            # proof a returned original gives a DSN (bounces.authenticated_delivery).
            original_message_ids=(delivery.message_id,) if delivery and delivery.message_id else (),
        )
        counts = BounceReport()
        apply_bounce(
            session,
            bounce,
            secret=secret,
            local=local,
            soft_limit=soft_limit,
            now=now,
            report=counts,
            signed_by_provider=True,  # the route verified the provider's signature
        )
        if counts.unmatched:
            report.unmatched += 1
            continue
        if delivery is not None and kind is BounceKind.HARD:
            delivery.status = DeliveryStatus.BOUNCED
            delivery.last_error = f"bounce: {event.detail or 'permanent failure'}"
        report.hard += counts.hard
        report.soft += counts.soft
    session.flush()
    return report


def apply_arf(session: Session, raw: bytes, *, now: datetime, report: InboundReport) -> None:
    """Apply one ARF report when its original matches a delivery we made to that recipient."""
    event = parse_arf(raw)
    if event is None:
        report.ignored += 1
        return
    delivery = _delivery(session, event.message_id, event.email)
    if delivery is None:  # unauthenticated: nobody is unsubscribed on a report's word alone
        report.unmatched += 1
        return
    if _complaint(session, event, delivery, now):
        report.complaints += 1
    else:
        report.unmatched += 1


def process_arf_mailbox(session: Session, path: Path, *, now: datetime) -> InboundReport:
    """Read a Maildir or mbox of ARF reports and apply the authenticated ones."""
    report = InboundReport()
    for raw in read_mailbox(path):
        apply_arf(session, raw, now=now, report=report)
        session.flush()
    return report


def apply_provider_events(runtime: Runtime, events: Iterable[ProviderEvent]) -> InboundReport:
    """Apply authenticated provider webhook events in one transaction."""
    settings = runtime.settings
    with session_scope(runtime.engine) as session:
        return apply_events(
            session,
            events,
            secret=settings.links.secret,
            local=settings.inbound.bounce_local_part,
            soft_limit=settings.inbound.soft_bounce_limit,
            now=runtime.clock(),
        )
