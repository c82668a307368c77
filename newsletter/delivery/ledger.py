"""The delivery ledger: claim rows under a lease, renew it, record outcomes only as its holder.

Lease times come from the database's clock (``db_now``), never a process's: several senders on
several machines share rows, and a process whose clock runs ahead must not steal live leases.
Every claim writes a fresh claim token into ``deliveries.claimed_by``; a result is written only
where the row is still ``sending`` under that token, so a holder whose lease was lost changes
nothing (its write is counted as stale and logged by the caller).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, text, update
from sqlmodel import Session, col, select

from newsletter.models import Delivery, DeliveryStatus, Digest
from subscribers.models import Subscriber

CLAIMABLE = (DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A delivery row this worker now holds a lease on, under the claim token ``claim``."""

    id: int
    subscriber_id: int | None
    subscription_id: int | None
    digest_id: int | None
    email: str
    attempts: int
    first_attempt_at: datetime | None
    claim: str = ""


@dataclass(frozen=True)
class DeliveryResult:
    """The new state of one delivery after an attempt."""

    delivery_id: int
    status: DeliveryStatus
    error: str | None = None
    message_id: str | None = None
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class Recorded:
    """What a write of results did: rows written, and rows whose lease this holder had lost."""

    written: int
    stale: tuple[int, ...]


def db_now(session: Session) -> datetime:
    """The database's clock (UTC): the one clock for leases shared by several processes."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(text("SELECT clock_timestamp()")).scalar_one()
        return value.astimezone(UTC)
    stamp = session.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)


def due_rows(now: datetime, lease_now: datetime) -> ColumnElement[bool]:
    """The one "due" predicate: queued or deferred with its retry time reached (business clock
    ``now``), or sending under a lease that expired (database clock ``lease_now``)."""
    return or_(
        and_(
            col(Delivery.status).in_(CLAIMABLE),
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
        ),
        and_(col(Delivery.status) == DeliveryStatus.SENDING, col(Delivery.lease_until) < lease_now),
    )


def claim_batch(
    session: Session,
    *,
    run_id: int,
    claim: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    after_id: int | None = None,
) -> tuple[list[ClaimedDelivery], datetime]:
    """Claim up to ``limit`` due rows in one statement under the token ``claim``; returns the
    rows and the lease's end (database clock).

    ``after_id`` (the highest id this worker claimed so far) lets the database start where
    the last batch ended instead of stepping over every row already sent: without it a run
    of N rows costs O(N^2) row visits. Call once more without it to pick up stragglers.
    """
    lease_now = db_now(session)
    if after_id is not None:
        # Fresh rows only, walking the (run_id, status, id) index from the cursor.
        pick = select(Delivery.id).where(
            col(Delivery.run_id) == run_id,
            col(Delivery.status) == DeliveryStatus.QUEUED,
            col(Delivery.id) > after_id,
        )
    else:
        pick = select(Delivery.id).where(col(Delivery.run_id) == run_id, due_rows(now, lease_now))
    pick = pick.order_by(col(Delivery.id)).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    lease_until = lease_now + lease
    statement = (
        update(Delivery)
        .where(col(Delivery.id).in_(pick.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=lease_until,
            claimed_by=claim,
            attempts=Delivery.attempts + 1,
            first_attempt_at=func.coalesce(Delivery.first_attempt_at, now),
        )
        .returning(
            col(Delivery.id),
            col(Delivery.subscriber_id),
            col(Delivery.subscription_id),
            col(Delivery.digest_id),
            col(Delivery.email),
            col(Delivery.attempts),
            col(Delivery.first_attempt_at),
        )
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(statement).all()
    claimed = [
        ClaimedDelivery(
            id=row[0],
            subscriber_id=row[1],
            subscription_id=row[2],
            digest_id=row[3],
            email=row[4],
            attempts=row[5],
            first_attempt_at=row[6],
            claim=claim,
        )
        for row in rows
    ]
    claimed.sort(key=lambda row: row.id)
    return claimed, lease_until


def renew_leases(
    session: Session, *, claims: Sequence[str], lease: timedelta
) -> tuple[datetime, set[int]]:
    """Extend the lease of every row still held under these claim tokens; returns the new end
    and the ids renewed (a held row missing from them was reclaimed by another sender)."""
    lease_until = db_now(session) + lease
    if not claims:
        return lease_until, set()
    renewed = session.execute(
        update(Delivery)
        .where(
            col(Delivery.claimed_by).in_(list(claims)),
            col(Delivery.status) == DeliveryStatus.SENDING,
        )
        .values(lease_until=lease_until)
        .returning(col(Delivery.id))
        .execution_options(synchronize_session=False)
    ).scalars()
    return lease_until, set(renewed)


def reap_expired(session: Session) -> int:
    """Hand back rows whose holder died (lease expired on the database clock)."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.lease_until) < db_now(session),
        )
        .values(status=DeliveryStatus.QUEUED, lease_until=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def release_claims(session: Session, *, rows: Iterable[ClaimedDelivery]) -> int:
    """Hand back rows this holder claimed but did not send (stopped, paused or cancelled)."""
    count = 0
    by_claim: dict[str, list[int]] = {}
    for row in rows:
        by_claim.setdefault(row.claim, []).append(row.id)
    for claim, ids in by_claim.items():
        result = session.execute(
            update(Delivery)
            .where(
                col(Delivery.id).in_(ids),
                col(Delivery.status) == DeliveryStatus.SENDING,
                col(Delivery.claimed_by) == claim,
            )
            .values(
                status=DeliveryStatus.QUEUED,
                lease_until=None,
                claimed_by=None,
                attempts=Delivery.attempts - 1,
            )
            .execution_options(synchronize_session=False)
        )
        count += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return count


# -- recording ------------------------------------------------------------------------------

# Statement sizes, largest first. Every distinct length is a distinct SQL text, and drivers keep
# a bounded cache of prepared statements: arbitrary lengths would fill it with huge statements.
# With these, a flush of any size uses at most a few steps.
_BLOCKS = (500, 100, 20, 4, 1)


def _chunks(rows: Sequence[tuple[object, ...]]) -> Iterable[Sequence[tuple[object, ...]]]:
    start = 0
    for block in _BLOCKS:
        while len(rows) - start >= block:
            yield rows[start : start + block]
            start += block


def _stamp(dialect: str, value: datetime | None) -> object:
    # SQLite keeps naive UTC text in the form SQLAlchemy's DATETIME writes, so comparisons agree.
    if value is None or dialect != "sqlite":
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _owned_update(
    session: Session,
    *,
    assignments: str,
    types: Sequence[str],
    rows: Sequence[tuple[object, ...]],
    extra: dict[str, object] | None = None,
) -> list[int]:
    """``UPDATE deliveries SET assignments FROM (VALUES rows) v`` where the row is still
    ``sending`` under the claim token in the last column; returns the ids written.

    ``v.column1`` is the id; ``types`` gives each column's SQL type (PostgreSQL infers a VALUES
    list's types from its first row, so every value is cast there)."""
    dialect = session.get_bind().dialect.name
    width = len(types)
    alias = (
        "" if dialect == "sqlite" else "(" + ", ".join(f"column{i + 1}" for i in range(width)) + ")"
    )
    written: list[int] = []
    for chunk in _chunks(rows):
        params: dict[str, object] = dict(extra or {})
        tuples = []
        for r, row in enumerate(chunk):
            marks = []
            for c, value in enumerate(row):
                name = f"v{r}_{c}"
                params[name] = value
                marks.append(f":{name}" if dialect == "sqlite" else f"CAST(:{name} AS {types[c]})")
            tuples.append("(" + ", ".join(marks) + ")")
        statement = (
            f"UPDATE deliveries SET {assignments} FROM (VALUES {', '.join(tuples)}) AS v{alias} "
            f"WHERE deliveries.id = v.column1 AND deliveries.claimed_by = v.column{width} "
            "AND deliveries.status = 'sending' RETURNING deliveries.id"
        )
        written.extend(session.execute(text(statement), params).scalars())
    return written


_TIMESTAMP = "TIMESTAMP WITH TIME ZONE"


def record_results(
    session: Session,
    results: Sequence[DeliveryResult],
    claimed: dict[int, ClaimedDelivery],
    *,
    now: datetime,
    digest_articles: dict[int, tuple[int, ...]],
    planned_at: datetime | None = None,
) -> Recorded:
    """Write outcomes as the lease holder; a sent digest (``planned_at`` given: the run's
    planning time) also records its articles and moves the subscription's offer cursor.

    Multi-row statements, no ORM: at thousands of messages a second the ORM's per-row
    bookkeeping would cost more than the SMTP traffic.
    """
    if not results:
        return Recorded(0, ())
    dialect = session.get_bind().dialect.name
    sent_rows: list[tuple[object, ...]] = []
    other_rows: list[tuple[object, ...]] = []
    for result in results:
        claim = claimed[result.delivery_id].claim
        if result.status == DeliveryStatus.SENT:
            sent_rows.append((result.delivery_id, result.message_id, claim))
        else:
            other_rows.append(
                (
                    result.delivery_id,
                    str(result.status),
                    result.error,
                    _stamp(dialect, result.next_attempt_at),
                    claim,
                )
            )
    sent_ids = _owned_update(
        session,
        assignments="status = 'sent', sent_at = :now, message_id = v.column2, "
        "last_error = NULL, lease_until = NULL, next_attempt_at = NULL",
        types=("INTEGER", "TEXT", "TEXT"),
        rows=sent_rows,
        extra={"now": _stamp(dialect, now)},
    )
    other_ids = _owned_update(
        session,
        assignments="status = v.column2, last_error = v.column3, lease_until = NULL, "
        "next_attempt_at = v.column4",
        types=("INTEGER", "TEXT", "TEXT", _TIMESTAMP, "TEXT"),
        rows=other_rows,
    )
    written = set(sent_ids) | set(other_ids)
    stale = tuple(sorted(r.delivery_id for r in results if r.delivery_id not in written))
    delivered = [claimed[i] for i in sorted(sent_ids)]
    if planned_at is not None and delivered:
        _record_history(
            session, delivered, now=now, planned_at=planned_at, articles=digest_articles
        )
    return Recorded(len(written), stale)


def _record_history(
    session: Session,
    delivered: Sequence[ClaimedDelivery],
    *,
    now: datetime,
    planned_at: datetime,
    articles: dict[int, tuple[int, ...]],
) -> None:
    """Sent articles (never again to this person), the offer cursor, the end of soft bounces."""
    dialect = session.get_bind().dialect.name
    stamp = _stamp(dialect, now)
    pairs = [
        (row.subscriber_id, article_id, row.id)
        for row in delivered
        if row.subscriber_id is not None and row.digest_id is not None
        for article_id in articles.get(row.digest_id, ())
    ]
    ignore = "OR IGNORE " if dialect == "sqlite" else ""
    conflict = "" if dialect == "sqlite" else " ON CONFLICT (subscriber_id, article_id) DO NOTHING"
    for chunk in _chunks(pairs):
        params: dict[str, object] = {"now": stamp}
        values = []
        for r, (subscriber_id, article_id, delivery_id) in enumerate(chunk):
            params.update({f"s{r}": subscriber_id, f"a{r}": article_id, f"d{r}": delivery_id})
            values.append(f"(:s{r}, :a{r}, :d{r}, :now)")
        session.execute(
            text(
                f"INSERT {ignore}INTO sent_articles (subscriber_id, article_id, delivery_id, "
                f"sent_at) VALUES {', '.join(values)}{conflict}"
            ),
            params,
        )
    subscription_ids = [(r.subscription_id,) for r in delivered if r.subscription_id is not None]
    planned = _stamp(dialect, planned_at)
    for chunk in _chunks(subscription_ids):
        marks = ", ".join(f":i{r}" for r in range(len(chunk)))
        params = {f"i{r}": row[0] for r, row in enumerate(chunk)}
        params.update(now=stamp, planned=planned)
        session.execute(
            text(
                "UPDATE subscriptions SET last_sent_at = :now, offered_until = CASE "
                "WHEN offered_until IS NULL OR offered_until < :planned THEN :planned "
                f"ELSE offered_until END WHERE id IN ({marks})"
            ),
            params,
        )
    people = sorted({r.subscriber_id for r in delivered if r.subscriber_id is not None})
    for start in range(0, len(people), 1000):
        # A successful send ends a run of soft bounces.
        session.execute(
            update(Subscriber)
            .where(
                col(Subscriber.id).in_(people[start : start + 1000]),
                col(Subscriber.soft_bounces) > 0,
            )
            .values(soft_bounces=0)
            .execution_options(synchronize_session=False)
        )


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


def audience_version(session: Session) -> int:
    """The audience change counter (bumped by triggers when anyone leaves or is suppressed)."""
    value = session.execute(
        text("SELECT value FROM change_counters WHERE name = 'audience'")
    ).scalar_one_or_none()
    return int(value or 0)
