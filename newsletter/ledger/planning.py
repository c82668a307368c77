"""Plan a run: pick every recipient's articles and write the run, digests and delivery rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, exists, func, insert, literal, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from newsletter.digest.selector import (
    Candidate,
    Limits,
    Selection,
    order_candidates,
    select_articles,
)
from newsletter.models import (
    DIGEST_KINDS,
    OPEN_STATES,
    Article,
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Digest,
    Run,
    RunKind,
    RunStatus,
    SentArticle,
)
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionKind,
)
from subscribers.service import suppressed_filter

# Articles stored up to this long before a digest was planned are still offered to the next
# one: an ingest that committed while planning ran, or a clock a little behind, loses nothing.
# Nothing is repeated by it: sent_articles keeps every article to one digest per person.
OVERLAP = timedelta(minutes=5)


@dataclass(frozen=True)
class Plan:
    """What planning a run produced."""

    run_id: int
    queued: int
    skipped: int
    digests: int
    held: int = 0  # subscribers whose earlier digest is still pending: not planned again


@dataclass(frozen=True)
class Audience:
    """One active, unsuppressed subscription of a list."""

    subscription_id: int
    subscriber_id: int
    email: str
    topics: tuple[str, ...]
    offered_until: datetime | None  # planning time of the last digest that reached them


def load_audience(
    session: Session,
    *,
    list_id: int,
    subscription_ids: Collection[int] | None = None,
    secret: bytes | None = None,
) -> list[Audience]:
    """Active subscriptions of active subscribers that are not suppressed (by address, domain
    or, with ``secret``, erased-address hash), all at once: for small selections and counts."""
    return [
        member
        for chunk in iter_audience(
            session, list_id=list_id, subscription_ids=subscription_ids, secret=secret
        )
        for member in chunk
    ]


def load_candidates(
    session: Session, *, topics: Collection[str], since: datetime, oldest: datetime
) -> list[Candidate]:
    """Articles in ``topics`` published or stored after ``since`` (or pinned), not excluded,
    not published before ``oldest``, ordered."""
    query = (
        sa_select(
            col(Article.id),
            col(Article.published_at),
            col(Article.ingested_at),
            col(Article.pinned),
            col(ArticleTopic.topic),
        )
        .join(ArticleTopic, col(ArticleTopic.article_id) == col(Article.id))
        .where(
            col(ArticleTopic.topic).in_(list(topics)),
            col(Article.excluded).is_(False),
            (
                ((col(Article.published_at) > since) | (col(Article.ingested_at) > since))
                & (col(Article.published_at) >= oldest)
            )
            | col(Article.pinned),
        )
    )
    found: dict[int, tuple[datetime, datetime, bool, set[str]]] = {}
    for article_id, published_at, ingested_at, pinned, topic in session.execute(query):
        entry = found.setdefault(article_id, (published_at, ingested_at, pinned, set()))
        entry[3].add(topic)
    return order_candidates(
        [
            Candidate(id=i, topics=frozenset(t), published_at=p, pinned=pin, arrived_at=a)
            for i, (p, a, pin, t) in found.items()
        ]
    )


def load_already_sent(session: Session, *, article_ids: Collection[int]) -> dict[int, set[int]]:
    """Which of these articles each subscriber has already received."""
    sent: dict[int, set[int]] = defaultdict(set)
    if not article_ids:
        return sent
    rows = session.exec(
        select(SentArticle.subscriber_id, SentArticle.article_id).where(
            col(SentArticle.article_id).in_(list(article_ids))
        )
    )
    for subscriber_id, article_id in rows:
        sent[subscriber_id].add(article_id)
    return sent


CHUNK = 5000


def _audience_query(list_id: int, after: int, subscription_ids: Collection[int] | None) -> Any:
    query = (
        sa_select(
            col(Subscription.id),
            col(Subscriber.id),
            col(Subscriber.email),
            # as text: a list has few distinct topic sets, each parsed once (iter_audience)
            cast(col(Subscription.topics), Text),
            col(Subscription.offered_until),
        )
        .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
        .where(
            col(Subscription.list_id) == list_id,
            col(Subscription.status) == SubscriptionStatus.ACTIVE,
            col(Subscriber.status) == SubscriberStatus.ACTIVE,
            col(Subscription.id) > after,
        )
        .order_by(col(Subscription.id))
        .limit(CHUNK)
    )
    if subscription_ids is not None:
        query = query.where(col(Subscription.id).in_(list(subscription_ids)))
    return query


def iter_audience(
    session: Session,
    *,
    list_id: int,
    subscription_ids: Collection[int] | None = None,
    secret: bytes | None = None,
) -> Iterator[list[Audience]]:
    """The audience in chunks of at most CHUNK, so a million subscribers never sit in memory."""
    blocked = suppressed_filter(session, secret=secret)
    parsed: dict[str, tuple[str, ...]] = {}

    def topic_tuple(text: str) -> tuple[str, ...]:
        found = parsed.get(text)
        if found is None:
            found = tuple(json.loads(text))
            if len(parsed) < 10_000:
                parsed[text] = found
        return found

    after = 0
    while True:
        # Core, not the ORM: no per-row entity bookkeeping
        query = _audience_query(list_id, after, subscription_ids)
        rows = session.connection().execute(query).all()
        if not rows:
            return
        after = rows[-1][0]
        chunk = [
            Audience(sub_id, subscriber_id, email, topic_tuple(topics), offered_until)
            for sub_id, subscriber_id, email, topics, offered_until in rows
            if not blocked(email)
        ]
        if chunk:
            yield chunk


def not_suppressed() -> ColumnElement[bool]:
    """``iter_audience``'s suppression check (without ``secret``) in SQL, for counts: the
    subscriber's address and its domain are not on the suppression list."""
    email, value = col(Subscriber.email), col(Suppression.value)
    blocked = exists().where(
        or_(
            and_(col(Suppression.kind) == SuppressionKind.ADDRESS, value == email),
            and_(
                col(Suppression.kind) == SuppressionKind.DOMAIN,
                func.length(email) > func.length(value),
                func.substr(email, func.length(email) - func.length(value)) == literal("@") + value,
            ),
        )
    )
    return ~blocked


def audience_size(session: Session, *, list_id: int) -> int:
    """How many people ``iter_audience`` yields for a list (without ``secret``), by one count:
    active subscriptions of active subscribers whose address and domain are not suppressed."""
    query = (
        sa_select(func.count())
        .select_from(Subscription)
        .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
        .where(
            col(Subscription.list_id) == list_id,
            col(Subscription.status) == SubscriptionStatus.ACTIVE,
            col(Subscriber.status) == SubscriberStatus.ACTIVE,
            not_suppressed(),
        )
    )
    return int(session.connection().execute(query).scalar_one())


def _earliest_since(session: Session, *, list_id: int, default_since: datetime) -> datetime:
    oldest, never = session.exec(
        select(
            func.min(Subscription.offered_until),
            func.count().filter(col(Subscription.offered_until).is_(None)),
        ).where(Subscription.list_id == list_id, Subscription.status == SubscriptionStatus.ACTIVE)
    ).one()
    candidates = [default_since] if never or oldest is None else []
    if oldest is not None:
        candidates.append(oldest - OVERLAP)
    return min(candidates)


def _still_pending(session: Session, *, run_id: int, first: int, last: int) -> dict[int, int]:
    """Subscriptions with ids in ``first..last`` that have a digest of another run still open
    (queued, deferred or sending): subscription id -> that run's id. Their next digest waits
    until it is settled. A range, not a list of ids: one small statement per page of the
    audience, answered from the (subscription_id, period) index."""
    rows = session.exec(
        select(Delivery.subscription_id, Delivery.run_id)
        .join(Run, col(Run.id) == col(Delivery.run_id))
        .where(
            col(Delivery.subscription_id).between(first, last),
            col(Delivery.status).in_(OPEN_STATES),
            col(Run.kind).in_(DIGEST_KINDS),
            Run.id != run_id,
        )
    )
    return {sub_id: other for sub_id, other in rows if sub_id is not None}


def _already_sent(
    session: Session, *, list_id: int, first: int, last: int, article_ids: list[int]
) -> dict[int, frozenset[int]]:
    """Which of ``article_ids`` each subscriber of the list's subscriptions ``first..last``
    has already received (subscriber id -> article ids)."""
    if not article_ids:
        return {}
    sent: dict[int, set[int]] = defaultdict(set)
    rows = session.exec(
        select(SentArticle.subscriber_id, SentArticle.article_id)
        .join(Subscription, col(Subscription.subscriber_id) == col(SentArticle.subscriber_id))
        .where(
            col(Subscription.list_id) == list_id,
            col(Subscription.id).between(first, last),
            col(SentArticle.article_id).in_(article_ids),
        )
    )
    for subscriber_id, article_id in rows:
        sent[subscriber_id].add(article_id)
    return {key: frozenset(value) for key, value in sent.items()}


_LEDGER_COLUMNS = (
    "run_id",
    "subscriber_id",
    "subscription_id",
    "digest_id",
    "email",
    "period",
    "status",
    "attempts",
    "last_error",
    "created_at",
)


def _insert_deliveries(session: Session, rows: list[tuple[object, ...]]) -> None:
    """Write ledger rows (values in ``_LEDGER_COLUMNS`` order) in the session's transaction:
    COPY on PostgreSQL, a multi-row INSERT elsewhere. Core, not the ORM: its per-row
    bookkeeping doubles the cost of planning."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw: Any = connection.connection.driver_connection
        statement = f"COPY deliveries ({', '.join(_LEDGER_COLUMNS)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return
    connection.execute(
        insert(Delivery), [dict(zip(_LEDGER_COLUMNS, row, strict=True)) for row in rows]
    )


def plan_run(
    session: Session,
    *,
    mailing_list: MailingList,
    now: datetime,
    limits: Limits,
    lookback: timedelta,
    max_age: timedelta | None = None,
    kind: RunKind = RunKind.MANUAL,
    period: str | None = None,
    subscription_ids: Collection[int] | None = None,
) -> Plan:
    """Create a run with one delivery row per recipient: queued with a digest, or skipped.

    Each subscriber is offered what arrived or was published since their last delivered digest
    was planned (``offered_until``; ``lookback`` for a first digest), never older than
    ``max_age`` and never an article they already received. A subscriber whose digest of an
    earlier run is still open gets a skipped row: that digest holds its articles, and the next
    one starts where it was planned. The audience is read and written in chunks, and
    selections are memoised: the selector is pure, so subscribers with the same topics, start
    and history get the same digest.
    """
    if mailing_list.id is None:
        raise ValueError("list has no id")
    run = Run(
        list_id=mailing_list.id, kind=kind, status=RunStatus.SENDING, period=period, created_at=now
    )
    session.add(run)
    session.flush()
    if run.id is None:
        raise RuntimeError("run flushed without an id")
    default_since = now - lookback
    oldest = now - max(max_age or lookback, lookback)
    earliest = _earliest_since(session, list_id=mailing_list.id, default_since=default_since)
    candidates = load_candidates(session, topics=mailing_list.topics, since=earliest, oldest=oldest)
    candidate_ids = [c.id for c in candidates]
    digests: dict[str, int] = {}
    selections: dict[tuple[object, ...], tuple[Selection, str]] = {}
    queued = skipped = held = 0
    for chunk in iter_audience(session, list_id=mailing_list.id, subscription_ids=subscription_ids):
        first, last = chunk[0].subscription_id, chunk[-1].subscription_id
        sent = _already_sent(
            session, list_id=mailing_list.id, first=first, last=last, article_ids=candidate_ids
        )
        pending = _still_pending(session, run_id=run.id, first=first, last=last)
        rows: list[tuple[object, ...]] = []
        for member in chunk:
            digest_id = None
            error: str | None = None
            if member.subscription_id in pending:
                held += 1
                status, skipped = DeliveryStatus.SKIPPED, skipped + 1
                error = f"the digest of run {pending[member.subscription_id]} is still pending"
            else:
                since = (
                    member.offered_until - OVERLAP
                    if member.offered_until is not None
                    else default_since
                )
                already = sent.get(member.subscriber_id, frozenset())
                key = (member.topics, since, already)
                memo = selections.get(key)
                if memo is None:
                    selection = select_articles(
                        candidates,
                        topics=member.topics,
                        since=since,
                        oldest=oldest,
                        already_sent=already,
                        limits=limits,
                    )
                    memo = (selection, selection.content_key)
                    if len(selections) < 100_000:
                        selections[key] = memo
                selection, content_key = memo
                if selection.is_empty:
                    status, skipped = DeliveryStatus.SKIPPED, skipped + 1
                    error = "nothing new in the chosen topics"
                else:
                    status, queued = DeliveryStatus.QUEUED, queued + 1
                    if content_key not in digests:
                        digests[content_key] = add_digest(session, run.id, selection, now)
                    digest_id = digests[content_key]
            rows.append(
                (
                    run.id,
                    member.subscriber_id,
                    member.subscription_id,
                    digest_id,
                    member.email,
                    period,
                    str(status),
                    0,
                    error,
                    now,
                )
            )
        _insert_deliveries(session, rows)
    if queued == 0:
        run.status = RunStatus.DONE
        run.finished_at = now
    session.flush()
    return Plan(run_id=run.id, queued=queued, skipped=skipped, digests=len(digests), held=held)


def add_digest(session: Session, run_id: int, selection: Selection, now: datetime) -> int:
    digest = Digest(
        run_id=run_id,
        content_key=selection.content_key,
        sections=[[t, list(ids)] for t, ids in selection.sections],
        more={t: list(ids) for t, ids in selection.more},
        created_at=now,
    )
    session.add(digest)
    session.flush()
    if digest.id is None:
        raise RuntimeError("digest flushed without an id")
    return digest.id
