"""The delivery ledger: claim rows under a lease, renew it, record outcomes only as its holder.

Lease times come from the database's clock (``db_now``), never a process's: several senders on
several machines share rows, and a process whose clock runs ahead must not steal live leases.
Every claim writes a fresh claim token into ``deliveries.claimed_by``; a result is written only
where the row is still ``sending`` under that token, so a holder whose lease was lost changes
nothing (its write is counted as stale and logged by the caller).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, and_, func, or_, text, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from newsletter.db import affected
from newsletter.models import Delivery, DeliveryStatus, Digest

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
    return affected(result)


def release_claims(session: Session, *, worker: str, keep: Iterable[int] = ()) -> int:
    """Hand back every row a claim of ``worker`` still holds (also rows whose claim committed
    but whose answer never arrived), except ``keep`` (messages whose fate is unknown)."""
    kept = list(keep)
    statement = (
        update(Delivery)
        .where(
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.claimed_by).startswith(f"{worker}#", autoescape=True),
        )
        .values(
            status=DeliveryStatus.QUEUED,
            lease_until=None,
            claimed_by=None,
            attempts=Delivery.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )
    if kept:
        statement = statement.where(col(Delivery.id).not_in(kept))
    return affected(session.execute(statement))


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


@functools.lru_cache(maxsize=64)
def _owned_update_sql(dialect: str, assignments: str, types: tuple[str, ...], rows: int) -> str:
    """``UPDATE deliveries SET assignments FROM (VALUES ...) v`` where the row is still
    ``sending`` under the claim token in the last column, returning the ids written.
    ``v.column1`` is the id. PostgreSQL infers a VALUES list's types from its first row, so
    every value is cast there; SQLite takes them as they come."""
    if dialect == "sqlite":
        row = "(" + ", ".join("?" for _ in types) + ")"
        alias = ""
        assignments = assignments.replace("%s", "?")
    else:
        row = "(" + ", ".join(f"%s::{kind}" for kind in types) + ")"
        alias = "(" + ", ".join(f"column{i + 1}" for i in range(len(types))) + ")"
    return (
        f"UPDATE deliveries SET {assignments} FROM (VALUES {', '.join([row] * rows)}) AS v{alias} "
        f"WHERE deliveries.id = v.column1 AND deliveries.claimed_by = v.column{len(types)} "
        "AND deliveries.status = 'sending' RETURNING deliveries.id"
    )


@functools.lru_cache(maxsize=16)
def _owned_update_arrays_sql(assignments: str, types: tuple[str, ...]) -> str:
    """PostgreSQL's form of ``_owned_update_sql``: each column one array parameter."""
    arrays = ", ".join(f"%s::{kind}[]" for kind in types)
    alias = ", ".join(f"column{i + 1}" for i in range(len(types)))
    return (
        f"UPDATE deliveries SET {assignments} FROM unnest({arrays}) AS v({alias}) "
        f"WHERE deliveries.id = v.column1 AND deliveries.claimed_by = v.column{len(types)} "
        "AND deliveries.status = 'sending' RETURNING deliveries.id"
    )


class _Driver:
    """Multi-row statements straight through the driver (sqlite3 or psycopg).

    sqlite3 releases the GIL around every step, and with executemany that is every row: a
    thread writing ten rows per message while the event loop keeps the GIL busy waits for it
    again after each row. One statement per kind of write needs a handful of steps; going
    around SQLAlchemy's text() with thousands of named parameters made recording three times
    slower (measured with `newsletter bench --subscribers 20000`: 15 s against 5 s)."""

    def __init__(self, session: Session) -> None:
        self.dialect = session.get_bind().dialect.name
        raw = session.connection().connection.driver_connection
        if raw is None:
            raise RuntimeError("no database connection")
        self.raw = raw
        self.mark = "?" if self.dialect == "sqlite" else "%s"
        self.errors: type[Exception] = session.get_bind().dialect.loaded_dbapi.Error

    def stamp(self, value: datetime | None) -> object:
        # SQLite keeps naive UTC text in the form SQLAlchemy's DATETIME writes.
        if value is None or self.dialect != "sqlite":
            return value
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def run(self, statement: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        cursor = self.raw.cursor()
        try:
            cursor.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else []
        except self.errors as exc:  # the same error SQLAlchemy would have raised
            raise DBAPIError(statement[:200], None, exc) from exc
        finally:
            cursor.close()

    @property
    def arrays(self) -> bool:
        """PostgreSQL takes a whole column as one array parameter (``unnest``): one short
        statement text however many rows, which psycopg parses once and prepares, where a
        VALUES list of 500 rows was parsed by psycopg in Python on every flush (a third of
        a sender's CPU on PostgreSQL)."""
        return self.dialect == "postgresql"

    def owned_update(
        self,
        assignments: str,
        types: tuple[str, ...],
        rows: Sequence[tuple[object, ...]],
        leading: Sequence[object] = (),
    ) -> list[int]:
        """Write ``rows`` where this holder still owns them; the ids written."""
        written: list[int] = []
        if self.arrays:
            if rows:
                statement = _owned_update_arrays_sql(assignments, types)
                columns = [list(column) for column in zip(*rows, strict=True)]
                written.extend(
                    cast(int, row[0]) for row in self.run(statement, [*leading, *columns])
                )
            return written
        for chunk in _chunks(rows):
            statement = _owned_update_sql(self.dialect, assignments, types, len(chunk))
            params = [*leading, *(value for row in chunk for value in row)]
            written.extend(cast(int, row[0]) for row in self.run(statement, params))
        return written


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
    planning time) also records its articles and moves the subscription's offer cursor."""
    if not results:
        return Recorded(0, ())
    driver = _Driver(session)
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
                    driver.stamp(result.next_attempt_at),
                    claim,
                )
            )
    sent_ids = driver.owned_update(
        "status = 'sent', sent_at = %s, message_id = v.column2, "
        "last_error = NULL, lease_until = NULL, next_attempt_at = NULL",
        ("integer", "text", "text"),
        sent_rows,
        leading=(driver.stamp(now),),
    )
    other_ids = driver.owned_update(
        "status = v.column2, last_error = v.column3, lease_until = NULL, "
        "next_attempt_at = v.column4",
        ("integer", "text", "text", "timestamptz", "text"),
        other_rows,
    )
    written = set(sent_ids) | set(other_ids)
    stale = tuple(sorted(r.delivery_id for r in results if r.delivery_id not in written))
    delivered = [claimed[i] for i in sorted(sent_ids)]
    if planned_at is not None and delivered:
        _record_history(driver, delivered, now=now, planned_at=planned_at, articles=digest_articles)
    return Recorded(len(written), stale)


def _record_history(
    driver: _Driver,
    delivered: Sequence[ClaimedDelivery],
    *,
    now: datetime,
    planned_at: datetime,
    articles: dict[int, tuple[int, ...]],
) -> None:
    """Sent articles (never again to this person), the offer cursor, the end of soft bounces."""
    mark, stamp = driver.mark, driver.stamp(now)
    pairs = [
        (row.subscriber_id, article_id, row.id)
        for row in delivered
        if row.subscriber_id is not None and row.digest_id is not None
        for article_id in articles.get(row.digest_id, ())
    ]
    if driver.arrays:
        _record_history_arrays(driver, delivered, pairs, stamp, driver.stamp(planned_at))
        return
    sqlite = driver.dialect == "sqlite"
    ignore = "OR IGNORE " if sqlite else ""
    conflict = "" if sqlite else " ON CONFLICT (subscriber_id, article_id) DO NOTHING"
    for chunk in _chunks(pairs):
        values = ", ".join([f"({mark}, {mark}, {mark}, {mark})"] * len(chunk))
        driver.run(
            f"INSERT {ignore}INTO sent_articles (subscriber_id, article_id, delivery_id, "
            f"sent_at) VALUES {values}{conflict}",
            [value for row in chunk for value in (*row, stamp)],
        )
    planned = driver.stamp(planned_at)
    subscriptions = [(r.subscription_id,) for r in delivered if r.subscription_id is not None]
    for chunk in _chunks(subscriptions):
        marks = ", ".join([mark] * len(chunk))
        driver.run(
            f"UPDATE subscriptions SET last_sent_at = {mark}, offered_until = CASE "
            f"WHEN offered_until IS NULL OR offered_until < {mark} THEN {mark} "
            f"ELSE offered_until END WHERE id IN ({marks})",
            [stamp, planned, planned, *(row[0] for row in chunk)],
        )
    people = sorted({r.subscriber_id for r in delivered if r.subscriber_id is not None})
    for chunk in _chunks([(person,) for person in people]):
        # A successful send ends a run of soft bounces.
        marks = ", ".join([mark] * len(chunk))
        driver.run(
            f"UPDATE subscribers SET soft_bounces = 0 WHERE soft_bounces > 0 AND id IN ({marks})",
            [row[0] for row in chunk],
        )


def _record_history_arrays(
    driver: _Driver,
    delivered: Sequence[ClaimedDelivery],
    pairs: Sequence[tuple[int | None, int, int]],
    stamp: object,
    planned: object,
) -> None:
    """``_record_history`` on PostgreSQL: the same three writes, columns as arrays."""
    if pairs:
        subscribers, articles, deliveries = (list(column) for column in zip(*pairs, strict=True))
        driver.run(
            "INSERT INTO sent_articles (subscriber_id, article_id, delivery_id, sent_at) "
            "SELECT s, a, d, %s FROM unnest(%s::integer[], %s::integer[], %s::integer[]) "
            "AS t(s, a, d) ON CONFLICT (subscriber_id, article_id) DO NOTHING",
            [stamp, subscribers, articles, deliveries],
        )
    subscriptions = [r.subscription_id for r in delivered if r.subscription_id is not None]
    if subscriptions:
        driver.run(
            "UPDATE subscriptions SET last_sent_at = %s, offered_until = CASE "
            "WHEN offered_until IS NULL OR offered_until < %s THEN %s "
            "ELSE offered_until END WHERE id = ANY(%s::integer[])",
            [stamp, planned, planned, subscriptions],
        )
    people = sorted({r.subscriber_id for r in delivered if r.subscriber_id is not None})
    if people:
        # A successful send ends a run of soft bounces.
        driver.run(
            "UPDATE subscribers SET soft_bounces = 0 WHERE soft_bounces > 0 "
            "AND id = ANY(%s::integer[])",
            [people],
        )


def run_counts(session: Session, *, run_id: int) -> dict[str, int]:
    """Rows of a run per status (every status present, zero if none)."""
    return counts_by_run(session, [run_id])[run_id]


def counts_by_run(session: Session, run_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Rows per status of each of these runs, in one query (every status present, zero if none)."""
    counts = {run_id: {status.value: 0 for status in DeliveryStatus} for run_id in run_ids}
    if not run_ids:
        return counts
    rows = session.exec(
        select(Delivery.run_id, Delivery.status, func.count())
        .where(col(Delivery.run_id).in_(run_ids))
        .group_by(col(Delivery.run_id), col(Delivery.status))
    )
    for run_id, status, count in rows:
        counts[run_id][status] = count
    return counts


def digest_article_ids(session: Session, digest_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
    """The article ids each digest offers: shown, or counted in its "N more" lines."""
    rows = session.exec(
        select(Digest.id, Digest.sections, Digest.more).where(col(Digest.id).in_(digest_ids))
    )
    return {
        digest_id: tuple(article for _, ids in sections for article in ids)
        + tuple(article for ids in (more or {}).values() for article in ids)
        for digest_id, sections, more in rows
        if digest_id is not None
    }


def audience_version(session: Session) -> int:
    """The audience change counter (bumped by triggers when anyone leaves or is suppressed)."""
    value = session.execute(
        text("SELECT value FROM change_counters WHERE name = 'audience'")
    ).scalar_one_or_none()
    return int(value or 0)
