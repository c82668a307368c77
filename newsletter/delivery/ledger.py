"""The delivery ledger: claim rows with a lease, record each outcome, count a run's rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from newsletter.models import Delivery, DeliveryStatus, Digest, SentArticle
from subscribers.models import Subscription

CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery row this worker now holds a lease on."""

    id: int
    subscriber_id: int | None
    subscription_id: int | None
    digest_id: int | None
    email: str
    attempts: int
    first_attempt_at: datetime | None


@dataclass(frozen=True)
class DeliveryResult:
    """The new state of one delivery after an attempt."""

    delivery_id: int
    status: DeliveryStatus
    error: str | None = None
    message_id: str | None = None
    next_attempt_at: datetime | None = None


def _due(run_id: int, now: datetime) -> object:
    return and_(
        Delivery.run_id == run_id,
        or_(
            and_(
                col(Delivery.status).in_(CLAIMABLE),
                or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
            ),
            and_(Delivery.status == DeliveryStatus.SENDING, col(Delivery.lease_until) < now),
        ),
    )


def claim_batch(
    session: Session,
    *,
    run_id: int,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due rows in one statement; rows with an expired lease count as due."""
    pick = select(Delivery.id).where(_due(run_id, now)).order_by(col(Delivery.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    statement = (
        update(Delivery)
        .where(col(Delivery.id).in_(pick.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + lease,
            claimed_by=worker,
            attempts=Delivery.attempts + 1,
            first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
        )
        .returning(
            Delivery.id,
            Delivery.subscriber_id,
            Delivery.subscription_id,
            Delivery.digest_id,
            Delivery.email,
            Delivery.attempts,
            Delivery.first_attempt_at,
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(statement).all()
    claimed = [ClaimedDelivery(*row) for row in rows]
    claimed.sort(key=lambda row: row.id)
    return claimed


def reap_expired(session: Session, *, now: datetime) -> int:
    """Hand back rows whose worker died (lease expired) so any worker can claim them."""
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, col(Delivery.lease_until) < now)
        .values(status=DeliveryStatus.QUEUED, lease_until=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _insert_ignore(session: Session, rows: list[dict[str, object]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    maker = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = maker(SentArticle).on_conflict_do_nothing(
        index_elements=["subscriber_id", "article_id"]
    )
    session.execute(statement, rows)


def record_results(
    session: Session,
    results: Sequence[DeliveryResult],
    claimed: dict[int, ClaimedDelivery],
    *,
    now: datetime,
    digest_articles: dict[int, tuple[int, ...]],
) -> None:
    """Write outcomes; a sent row also records its articles and the subscription's last send."""
    if not results:
        return
    updates: list[dict[str, object]] = []
    sent_articles: list[dict[str, object]] = []
    subscriptions: list[dict[str, object]] = []
    for result in results:
        row: dict[str, object] = {
            "id": result.delivery_id,
            "status": result.status,
            "last_error": result.error,
            "lease_until": None,
            "next_attempt_at": result.next_attempt_at,
        }
        if result.status == DeliveryStatus.SENT:
            row["sent_at"] = now
            row["message_id"] = result.message_id
            delivery = claimed[result.delivery_id]
            if delivery.subscriber_id is not None and delivery.digest_id is not None:
                for article_id in digest_articles.get(delivery.digest_id, ()):
                    sent_articles.append(
                        {
                            "subscriber_id": delivery.subscriber_id,
                            "article_id": article_id,
                            "delivery_id": delivery.id,
                            "sent_at": now,
                        }
                    )
            if delivery.subscription_id is not None:
                subscriptions.append({"id": delivery.subscription_id, "last_sent_at": now})
        updates.append(row)
    session.execute(update(Delivery), updates)
    _insert_ignore(session, sent_articles)
    if subscriptions:
        session.execute(update(Subscription), subscriptions)


def run_counts(session: Session, *, run_id: int) -> dict[str, int]:
    """Rows of a run per status (every status present, zero if none)."""
    counts = {status.value: 0 for status in DeliveryStatus}
    rows = session.exec(
        select(Delivery.status, func.count())
        .where(Delivery.run_id == run_id)
        .group_by(col(Delivery.status))
    )
    for status, count in rows:
        counts[status] = count
    return counts


def digest_article_ids(session: Session, digest_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The article ids of each digest."""
    rows = session.exec(select(Digest.id, Digest.sections).where(col(Digest.id).in_(digest_ids)))
    return {
        digest_id: tuple(article for _, ids in sections for article in ids)
        for digest_id, sections in rows
        if digest_id is not None
    }
