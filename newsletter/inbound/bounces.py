"""Apply bounces (RFC 3464 DSNs) from a Maildir or mbox to the ledger and the audience.

Anyone can mail the bounce address, so a bounce counts only when it authenticates: its return
path carries our VERP signature for a delivery, or the returned original's Message-ID is that
of a delivery we made to a recipient the report names. The recipient named in a report alone
is never enough (a forged report would suppress anyone).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlmodel import Session, col, select

from newsletter.delivery.verp import parse_return_path
from newsletter.errors import IngestError
from newsletter.inbound.dsn import Bounce, BounceKind, iter_mailbox, parse_bounce
from newsletter.models import Delivery, DeliveryStatus
from subscribers.models import Subscriber, SubscriberStatus, SuppressionReason
from subscribers.service import mark_bounced, suppress


@dataclass
class BounceReport:
    """What processing a mailbox did."""

    messages: int = 0
    hard: int = 0
    soft: int = 0
    suppressed_after_soft: int = 0
    ignored: int = 0
    unmatched: int = 0  # not provably about one of our deliveries (forged or foreign)
    notes: list[str] = field(default_factory=list)


def authenticated_delivery(
    session: Session, bounce: Bounce, *, secret: bytes, local: str
) -> Delivery | None:
    """The delivery this bounce provably belongs to, else None."""
    for address in bounce.return_paths:
        delivery_id = parse_return_path(address, secret=secret, local=local)
        if delivery_id is not None:
            return session.get(Delivery, delivery_id)
    named = {r.recipient.lower() for r in bounce.recipients if r.recipient}
    if not named or not bounce.original_message_ids:
        return None
    ids = list(bounce.original_message_ids[:20])
    for delivery in session.exec(select(Delivery).where(col(Delivery.message_id).in_(ids))):
        if delivery.email.lower() in named:
            return delivery
    return None


def apply_bounce(
    session: Session,
    bounce: Bounce,
    *,
    secret: bytes,
    local: str,
    soft_limit: int,
    now: datetime,
    report: BounceReport,
    signed_by_provider: bool = False,
) -> None:
    """Hard: the delivery bounced, the subscriber is bounced and suppressed. Soft: counted;
    ``soft_limit`` in a row (a successful send resets the count) suppress the address.

    A bounce counts only when it provably belongs to a delivery of ours (see
    ``authenticated_delivery``), or when it comes from a sending provider's signed event
    (``signed_by_provider``): then the provider vouches for the recipient it names."""
    kind = bounce.kind
    if kind is BounceKind.NONE:
        report.ignored += 1
        return
    delivery = authenticated_delivery(session, bounce, secret=secret, local=local)
    subscriber = None
    if delivery is not None and delivery.subscriber_id is not None:
        subscriber = session.get(Subscriber, delivery.subscriber_id)
    elif delivery is None and signed_by_provider:
        named = [r.recipient.lower() for r in bounce.recipients if r.recipient]
        if named:
            subscriber = session.exec(
                select(Subscriber).where(col(Subscriber.email).in_(named))
            ).first()
    if subscriber is None or subscriber.id is None:
        report.unmatched += 1
        return
    reason = next((r.diagnostic or r.status for r in bounce.recipients if r.kind is kind), None)
    if kind is BounceKind.HARD:
        report.hard += 1
        if delivery is not None:
            delivery.status = DeliveryStatus.BOUNCED
            delivery.last_error = f"bounce: {reason or 'permanent failure'}"
        mark_bounced(session, subscriber_id=subscriber.id, now=now)
        return
    report.soft += 1
    subscriber.soft_bounces += 1
    subscriber.updated_at = now
    if delivery is not None and delivery.last_error is None:
        delivery.last_error = f"soft bounce: {reason or 'delayed'}"
    if subscriber.soft_bounces >= soft_limit and subscriber.status == SubscriberStatus.ACTIVE:
        report.suppressed_after_soft += 1
        subscriber.status = SubscriberStatus.BOUNCED
        suppress(
            session,
            value=subscriber.email,
            reason=SuppressionReason.SOFT_BOUNCES,
            note=f"{subscriber.soft_bounces} soft bounces in a row",
        )


def read_mailbox(path: Path) -> Iterator[bytes]:
    """The raw messages of a Maildir or mbox; anything else is one IngestError naming it."""
    try:
        return iter_mailbox(path)
    except ValueError as exc:
        raise IngestError(str(path), str(exc)) from None


def process_mailbox(
    session: Session,
    path: Path,
    *,
    secret: bytes,
    local: str,
    soft_limit: int,
    now: datetime,
) -> BounceReport:
    """Read every message of a Maildir or mbox and apply the bounces among them."""
    messages = read_mailbox(path)
    report = BounceReport()
    for raw in messages:
        report.messages += 1
        bounce = parse_bounce(raw)
        if bounce is None:
            report.ignored += 1
            continue
        apply_bounce(
            session,
            bounce,
            secret=secret,
            local=local,
            soft_limit=soft_limit,
            now=now,
            report=report,
        )
        session.flush()
    return report
