"""Privacy requests across both packages: export everything about a person, or erase it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, delete, func, select, update

from newsletter.db import session_scope
from newsletter.models import Delivery, Run, SentArticle
from subscribers.erasure import Erasure, erase_subscriber, person_record
from subscribers.models import MailingList
from subscribers.service import find_subscriber

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

ERASED = "erased"


def export_person(session: Session, *, email: str) -> dict[str, Any]:
    """Everything held about one address: profile, subscriptions, unsubscribes, deliveries."""
    subscriber = find_subscriber(session, email=email)
    record = person_record(session, subscriber=subscriber)
    rows = session.exec(
        select(Delivery, Run.kind, MailingList.slug)
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .join(MailingList, col(MailingList.id) == col(Run.list_id))
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(col(Delivery.id))
    ).all()
    record["deliveries"] = [
        {
            "list": slug,
            "kind": kind,
            "status": delivery.status,
            "attempts": delivery.attempts,
            "message_id": delivery.message_id,
            "last_error": delivery.last_error,
            "created_at": delivery.created_at.isoformat(),
            "sent_at": delivery.sent_at.isoformat() if delivery.sent_at else None,
        }
        for delivery, kind, slug in rows
    ]
    record["articles_received"] = session.exec(
        select(func.count()).where(SentArticle.subscriber_id == subscriber.id)
    ).one()
    return record


def erase_person(session: Session, *, email: str, secret: bytes, now: datetime) -> Erasure:
    """Delete a person's data: ledger rows keep no address, sent-article rows go, the subscriber
    and subscriptions go, and a salted hash stays on the suppression list."""
    subscriber = find_subscriber(session, email=email)
    session.exec(
        update(Delivery)
        .where(col(Delivery.subscriber_id) == subscriber.id)
        .values(email=ERASED, subscriber_id=None, subscription_id=None, last_error=None)
    )
    session.exec(
        update(Delivery)
        .where(col(Delivery.email) == subscriber.email)
        .values(email=ERASED, last_error=None)
    )
    session.exec(delete(SentArticle).where(col(SentArticle.subscriber_id) == subscriber.id))
    return erase_subscriber(session, subscriber=subscriber, secret=secret, now=now)


# The use cases of the CLI (`newsletter subscribers show|erase`): each one transaction.


def person_export(runtime: Runtime, *, email: str) -> dict[str, Any]:
    """Everything held about a person (a subject access request)."""
    with session_scope(runtime.engine) as session:
        return export_person(session, email=email)


def erase(runtime: Runtime, *, email: str) -> Erasure:
    """Erase a person: subscriptions deleted, deliveries anonymised, a salted hash suppressed."""
    with session_scope(runtime.engine) as session:
        return erase_person(
            session, email=email, secret=runtime.settings.links.secret, now=runtime.clock()
        )
