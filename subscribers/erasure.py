"""Privacy: everything held about one person, and erasing it down to a salted hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, delete, select, update

from subscribers.addresses import address_hash
from subscribers.models import (
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
    SuppressionKind,
    SuppressionReason,
    UnsubscribeEvent,
)
from subscribers.suppression import suppress


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def person_record(session: Session, *, subscriber: Subscriber) -> dict[str, Any]:
    """The subscriber, their subscriptions and unsubscribes as plain JSON-ready data."""
    subscriptions = session.exec(
        select(Subscription, MailingList.slug)
        .join(MailingList, col(MailingList.id) == col(Subscription.list_id))
        .where(Subscription.subscriber_id == subscriber.id)
        .order_by(col(MailingList.slug))
    ).all()
    slugs = dict(session.exec(select(MailingList.id, MailingList.slug)).all())
    events = session.exec(
        select(UnsubscribeEvent)
        .where(UnsubscribeEvent.subscriber_id == subscriber.id)
        .order_by(col(UnsubscribeEvent.at))
    ).all()
    return {
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "timezone": subscriber.timezone,
        "attributes": subscriber.attributes,
        "soft_bounces": subscriber.soft_bounces,
        "created_at": _iso(subscriber.created_at),
        "updated_at": _iso(subscriber.updated_at),
        "subscriptions": [
            {
                "list": slug,
                "status": sub.status,
                "topics": sub.topics,
                "cadence": sub.cadence,
                "weekday": sub.weekday,
                "send_hour": sub.send_hour,
                "timezone": sub.timezone,
                "created_at": _iso(sub.created_at),
                "confirmed_at": _iso(sub.confirmed_at),
                "last_sent_at": _iso(sub.last_sent_at),
                "unsubscribed_at": _iso(sub.unsubscribed_at),
                "unsubscribe_source": sub.unsubscribe_source,
            }
            for sub, slug in subscriptions
        ],
        "unsubscribes": [
            {
                "list": slugs.get(event.list_id) if event.list_id else None,
                "all_lists": event.list_id is None,
                "source": event.source,
                "at": _iso(event.at),
            }
            for event in events
        ],
    }


@dataclass(frozen=True)
class Erasure:
    """What erasing one person removed."""

    subscriptions: int
    hash_value: str


def erase_subscriber(
    session: Session, *, subscriber: Subscriber, secret: bytes, now: datetime
) -> Erasure:
    """Delete the subscriber and their subscriptions; keep only a salted hash as a suppression.

    Unsubscribe events stay without a subscriber (when and how, no personal data). Callers that
    hold other personal data (the delivery ledger) clear it first.
    """
    hashed = address_hash(secret, subscriber.email)
    suppress(
        session,
        value=hashed,
        kind=SuppressionKind.HASH,
        reason=SuppressionReason.ERASED,
        note="erased on request",
        now=now,
    )
    subscriptions = session.exec(
        select(Subscription.id).where(Subscription.subscriber_id == subscriber.id)
    ).all()
    session.exec(
        update(UnsubscribeEvent)
        .where(col(UnsubscribeEvent.subscriber_id) == subscriber.id)
        .values(subscriber_id=None)
    )
    # an address entry (bounce, complaint) is personal data too: the hash replaces it
    session.exec(
        delete(Suppression).where(
            col(Suppression.value) == subscriber.email,
            col(Suppression.kind) == SuppressionKind.ADDRESS,
        )
    )
    session.exec(delete(Subscription).where(col(Subscription.subscriber_id) == subscriber.id))
    session.exec(delete(Subscriber).where(col(Subscriber.id) == subscriber.id))
    if subscriber in session:
        session.expunge(subscriber)
    return Erasure(subscriptions=len(subscriptions), hash_value=hashed)
