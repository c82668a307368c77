"""Everything held about one person for the console: profile, subscriptions, unsubscribes,
and each delivery with its status, its articles and the archived issue it carried."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.digest.links import archive_url
from newsletter.models import Article, Delivery, Run, SentArticle
from subscribers.erasure import person_record
from subscribers.models import MailingList
from subscribers.service import find_subscriber

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

MAX_DELIVERIES = 200


@dataclass(frozen=True)
class DeliveryLine:
    """One message to the person."""

    id: int
    run_id: int
    list_slug: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    archive_url: str | None
    articles: tuple[str, ...]


@dataclass(frozen=True)
class PersonDetail:
    """The person's record and their latest deliveries."""

    record: dict[str, Any]
    deliveries: tuple[DeliveryLine, ...]
    articles_received: int


def person_detail(session: Session, *, email: str, base_url: str, secret: bytes) -> PersonDetail:
    """The person with this address (SubscriberNotFound otherwise), newest deliveries first."""
    subscriber = find_subscriber(session, email=email)
    record = person_record(session, subscriber=subscriber)
    rows = session.exec(
        select(Delivery, Run.kind, MailingList.slug)
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .join(MailingList, col(MailingList.id) == col(Run.list_id))
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(col(Delivery.id).desc())
        .limit(MAX_DELIVERIES)
    ).all()
    titles: dict[int, list[str]] = {}
    delivery_ids = [delivery.id for delivery, _, _ in rows if delivery.id is not None]
    received = 0
    for delivery_id, title in session.exec(
        select(SentArticle.delivery_id, Article.title)
        .join(Article, col(Article.id) == col(SentArticle.article_id))
        .where(SentArticle.subscriber_id == subscriber.id)
        .order_by(col(SentArticle.delivery_id), col(SentArticle.article_id))
    ):
        received += 1
        if delivery_id in delivery_ids:
            titles.setdefault(delivery_id or 0, []).append(title)
    lines = tuple(
        DeliveryLine(
            id=delivery.id or 0,
            run_id=delivery.run_id,
            list_slug=slug,
            kind=kind,
            status=delivery.status,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            sent_at=delivery.sent_at,
            archive_url=(
                archive_url(base_url=base_url, secret=secret, digest_id=delivery.digest_id)
                if delivery.digest_id is not None
                else None
            ),
            articles=tuple(titles.get(delivery.id or 0, ())),
        )
        for delivery, kind, slug in rows
    )
    return PersonDetail(record=record, deliveries=lines, articles_received=received)


def person(runtime: Runtime, *, email: str, base_url: str = "") -> PersonDetail:
    """Everything held about one address (SubscriberNotFound otherwise)."""
    with session_scope(runtime.engine) as session:
        return person_detail(
            session, email=email, base_url=base_url, secret=runtime.settings.links.secret
        )
