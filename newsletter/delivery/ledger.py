"""The delivery ledger: claim rows with a lease, record each outcome, count a run's rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, func, or_, text, update
from sqlmodel import Session, col, select

from newsletter.models import Delivery, DeliveryStatus, Digest
from subscribers.dbtypes import UTCDateTime
from subscribers.models import Subscriber

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
    after_id: int | None = None,
) -> list[ClaimedDelivery]:
    """Claim up to ``limit`` due rows in one statement; rows with an expired lease count as due.

    ``after_id`` (the highest id this worker claimed so far) lets the database start where
    the last batch ended instead of stepping over every row already sent: without it a run
    of N rows costs O(N^2) row visits. Call once more without it to pick up stragglers.
    """
    if after_id is not None:
        # Fresh rows only, walking the (run_id, status, id) index from the cursor.
        pick = select(Delivery.id).where(
            Delivery.run_id == run_id,
            Delivery.status == DeliveryStatus.QUEUED,
            col(Delivery.id) > after_id,
        )
    else:
        pick = select(Delivery.id).where(_due(run_id, now))
    pick = pick.order_by(col(Delivery.id)).limit(limit)
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


_SENT_ARTICLES = {
    "sqlite": "INSERT OR IGNORE INTO sent_articles (subscriber_id, article_id, delivery_id, "
    "sent_at) VALUES (:subscriber_id, :article_id, :delivery_id, :now)",
    "postgresql": "INSERT INTO sent_articles (subscriber_id, article_id, delivery_id, sent_at) "
    "VALUES (:subscriber_id, :article_id, :delivery_id, :now) "
    "ON CONFLICT (subscriber_id, article_id) DO NOTHING",
}
_MARK_SENT = text(
    "UPDATE deliveries SET status = 'sent', sent_at = :now, message_id = :message_id, "
    "last_error = NULL, lease_until = NULL, next_attempt_at = NULL WHERE id = :id"
).bindparams(bindparam("now", type_=UTCDateTime()))
_MARK_OTHER = text(
    "UPDATE deliveries SET status = :status, last_error = :error, lease_until = NULL, "
    "next_attempt_at = :next_attempt_at WHERE id = :id"
).bindparams(bindparam("next_attempt_at", type_=UTCDateTime()))
_LAST_SENT = text("UPDATE subscriptions SET last_sent_at = :now WHERE id = :id").bindparams(
    bindparam("now", type_=UTCDateTime())
)


def record_results(
    session: Session,
    results: Sequence[DeliveryResult],
    claimed: dict[int, ClaimedDelivery],
    *,
    now: datetime,
    digest_articles: dict[int, tuple[int, ...]],
) -> None:
    """Write outcomes; a sent row also records its articles and the subscription's last send.

    Plain executemany statements (no ORM): at thousands of messages a second the ORM's
    per-row bookkeeping would cost more than the SMTP traffic.
    """
    if not results:
        return
    sent: list[dict[str, object]] = []
    other: list[dict[str, object]] = []
    sent_articles: list[dict[str, object]] = []
    subscriptions: list[dict[str, object]] = []
    soft_reset: list[int] = []
    for result in results:
        if result.status != DeliveryStatus.SENT:
            other.append(
                {
                    "id": result.delivery_id,
                    "status": str(result.status),
                    "error": result.error,
                    "next_attempt_at": result.next_attempt_at,
                }
            )
            continue
        sent.append({"id": result.delivery_id, "now": now, "message_id": result.message_id})
        delivery = claimed[result.delivery_id]
        if delivery.subscriber_id is not None:
            soft_reset.append(delivery.subscriber_id)
            if delivery.digest_id is not None:
                for article_id in digest_articles.get(delivery.digest_id, ()):
                    sent_articles.append(
                        {
                            "subscriber_id": delivery.subscriber_id,
                            "article_id": article_id,
                            "delivery_id": delivery.id,
                            "now": now,
                        }
                    )
        if delivery.subscription_id is not None:
            subscriptions.append({"id": delivery.subscription_id, "now": now})
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        _record_sqlite(session, sent, other, sent_articles, subscriptions)
        sent = other = sent_articles = subscriptions = []
    if sent:
        session.execute(_MARK_SENT, sent)
    if other:
        session.execute(_MARK_OTHER, other)
    if sent_articles:
        statement = text(_SENT_ARTICLES.get(dialect, _SENT_ARTICLES["postgresql"])).bindparams(
            bindparam("now", type_=UTCDateTime())
        )
        session.execute(statement, sent_articles)
    if subscriptions:
        session.execute(_LAST_SENT, subscriptions)
    if soft_reset:
        # A successful send ends a run of soft bounces.
        session.execute(
            update(Subscriber)
            .where(col(Subscriber.id).in_(soft_reset), col(Subscriber.soft_bounces) > 0)
            .values(soft_bounces=0)
            .execution_options(synchronize_session=False)
        )


def _sqlite_time(value: object) -> object:
    # The text form SQLAlchemy's SQLite DATETIME stores (naive UTC), so comparisons agree.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


# Statement sizes, largest first. Every distinct length is a distinct SQL text, and sqlite3
# keeps up to 128 prepared statements per connection: arbitrary lengths would fill that cache
# with huge statements (tens of MB). With these, a flush of any size uses at most a few steps.
_BLOCKS = (1000, 200, 40, 8, 1)


def _chunks(rows: list[tuple[object, ...]]) -> list[list[tuple[object, ...]]]:
    chunks = []
    start = 0
    for block in _BLOCKS:
        while len(rows) - start >= block:
            chunks.append(rows[start : start + block])
            start += block
    return chunks


def _record_sqlite(
    session: Session,
    sent: list[dict[str, object]],
    other: list[dict[str, object]],
    sent_articles: list[dict[str, object]],
    subscriptions: list[dict[str, object]],
) -> None:
    """The same writes as multi-row statements straight through sqlite3.

    sqlite3 releases the GIL around every step, and with executemany that is every row: a
    thread writing ten rows per message while the event loop keeps the GIL busy waits for it
    again after each row. One statement per kind of write needs a handful of steps.
    """
    raw = session.connection().connection.driver_connection
    if raw is None:
        raise RuntimeError("no SQLite connection")
    cursor = raw.cursor()
    try:
        if sent:
            stamp = _sqlite_time(sent[0]["now"])
            for chunk in _chunks([(r["id"], r["message_id"]) for r in sent]):
                values = ", ".join(["(?, ?)"] * len(chunk))
                cursor.execute(
                    "UPDATE deliveries SET status = 'sent', sent_at = ?, message_id = v.column2, "
                    "last_error = NULL, lease_until = NULL, next_attempt_at = NULL "
                    f"FROM (VALUES {values}) AS v WHERE deliveries.id = v.column1",
                    [stamp, *(item for row in chunk for item in row)],
                )
        if other:
            cursor.executemany(
                "UPDATE deliveries SET status = ?, last_error = ?, lease_until = NULL, "
                "next_attempt_at = ? WHERE id = ?",
                [
                    (r["status"], r["error"], _sqlite_time(r["next_attempt_at"]), r["id"])
                    for r in other
                ],
            )
        if sent_articles:
            stamp = _sqlite_time(sent_articles[0]["now"])
            rows = [(r["subscriber_id"], r["article_id"], r["delivery_id"]) for r in sent_articles]
            for chunk in _chunks(rows):
                values = ", ".join(["(?, ?, ?, ?)"] * len(chunk))
                cursor.execute(
                    "INSERT OR IGNORE INTO sent_articles (subscriber_id, article_id, delivery_id, "
                    f"sent_at) VALUES {values}",
                    [item for row in chunk for item in (*row, stamp)],
                )
        if subscriptions:
            stamp = _sqlite_time(subscriptions[0]["now"])
            for chunk in _chunks([(r["id"],) for r in subscriptions]):
                marks = ", ".join(["?"] * len(chunk))
                cursor.execute(
                    f"UPDATE subscriptions SET last_sent_at = ? WHERE id IN ({marks})",
                    [stamp, *(row[0] for row in chunk)],
                )
    finally:
        cursor.close()


def release_claims(session: Session, *, delivery_ids: Sequence[int], worker: str) -> int:
    """Hand back rows this worker claimed but did not send (the run was paused or cancelled)."""
    if not delivery_ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.id).in_(list(delivery_ids)),
            Delivery.status == DeliveryStatus.SENDING,
            Delivery.claimed_by == worker,
        )
        .values(
            status=DeliveryStatus.QUEUED,
            lease_until=None,
            claimed_by=None,
            attempts=Delivery.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


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
