"""Plan a run: pick every recipient's articles and write the run, digests and delivery rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import Session, col, select

from newsletter.delivery.ledger import ClaimedDelivery
from newsletter.models import (
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
from newsletter.selector import Candidate, Limits, Selection, order_candidates, select_articles
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.service import suppressed_filter


@dataclass(frozen=True)
class Plan:
    """What planning a run produced."""

    run_id: int
    queued: int
    skipped: int
    digests: int


@dataclass(frozen=True)
class Audience:
    """One active, unsuppressed subscription of a list."""

    subscription_id: int
    subscriber_id: int
    email: str
    topics: tuple[str, ...]
    last_sent_at: datetime | None


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
    session: Session, *, topics: Collection[str], since: datetime
) -> list[Candidate]:
    """Articles in ``topics`` published after ``since`` (or pinned), not excluded, ordered."""
    query = (
        select(Article.id, Article.published_at, Article.pinned, ArticleTopic.topic)
        .join(ArticleTopic, col(ArticleTopic.article_id) == col(Article.id))
        .where(
            col(ArticleTopic.topic).in_(list(topics)),
            col(Article.excluded).is_(False),
            (col(Article.published_at) > since) | col(Article.pinned),
        )
    )
    found: dict[int, tuple[datetime, bool, set[str]]] = {}
    for article_id, published_at, pinned, topic in session.exec(query):
        entry = found.setdefault(article_id, (published_at, pinned, set()))
        entry[2].add(topic)
    return order_candidates(
        [
            Candidate(id=i, topics=frozenset(t), published_at=p, pinned=pin)
            for i, (p, pin, t) in found.items()
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
        select(
            Subscription.id,
            Subscriber.id,
            Subscriber.email,
            Subscription.topics,
            Subscription.last_sent_at,
        )
        .join(Subscriber, col(Subscriber.id) == col(Subscription.subscriber_id))
        .where(
            Subscription.list_id == list_id,
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscriber.status == SubscriberStatus.ACTIVE,
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
    after = 0
    while True:
        rows = session.exec(_audience_query(list_id, after, subscription_ids)).all()
        if not rows:
            return
        after = rows[-1][0]
        chunk = [
            Audience(sub_id, subscriber_id, email, tuple(topics), last_sent_at)
            for sub_id, subscriber_id, email, topics, last_sent_at in rows
            if not blocked(email)
        ]
        if chunk:
            yield chunk


def _earliest_since(session: Session, *, list_id: int, default_since: datetime) -> datetime:
    oldest, never = session.exec(
        select(
            func.min(Subscription.last_sent_at),
            func.count().filter(col(Subscription.last_sent_at).is_(None)),
        ).where(Subscription.list_id == list_id, Subscription.status == SubscriptionStatus.ACTIVE)
    ).one()
    candidates = [default_since] if never or oldest is None else []
    if oldest is not None:
        candidates.append(oldest)
    return min(candidates)


def _already_sent(
    session: Session, *, subscriber_ids: list[int], article_ids: list[int]
) -> dict[int, frozenset[int]]:
    if not article_ids or not subscriber_ids:
        return {}
    sent: dict[int, set[int]] = defaultdict(set)
    rows = session.exec(
        select(SentArticle.subscriber_id, SentArticle.article_id).where(
            col(SentArticle.subscriber_id).in_(subscriber_ids),
            col(SentArticle.article_id).in_(article_ids),
        )
    )
    for subscriber_id, article_id in rows:
        sent[subscriber_id].add(article_id)
    return {key: frozenset(value) for key, value in sent.items()}


def plan_run(
    session: Session,
    *,
    mailing_list: MailingList,
    now: datetime,
    limits: Limits,
    lookback: timedelta,
    kind: RunKind = RunKind.MANUAL,
    period: str | None = None,
    subscription_ids: Collection[int] | None = None,
) -> Plan:
    """Create a run with one delivery row per recipient: queued with a digest, or skipped.

    The audience is read and written in chunks, and selections are memoised: the selector is
    pure, so subscribers with the same topics, start date and history get the same digest.
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
    earliest = _earliest_since(session, list_id=mailing_list.id, default_since=default_since)
    candidates = load_candidates(session, topics=mailing_list.topics, since=earliest)
    candidate_ids = [c.id for c in candidates]
    digests: dict[str, int] = {}
    selections: dict[tuple[object, ...], tuple[Selection, str]] = {}
    queued = skipped = 0
    for chunk in iter_audience(session, list_id=mailing_list.id, subscription_ids=subscription_ids):
        sent = _already_sent(
            session, subscriber_ids=[m.subscriber_id for m in chunk], article_ids=candidate_ids
        )
        rows: list[dict[str, object]] = []
        for member in chunk:
            since = member.last_sent_at or default_since
            already = sent.get(member.subscriber_id, frozenset())
            key = (member.topics, since, already)
            memo = selections.get(key)
            if memo is None:
                selection = select_articles(
                    candidates,
                    topics=member.topics,
                    since=since,
                    already_sent=already,
                    limits=limits,
                )
                memo = (selection, selection.content_key)
                if len(selections) < 100_000:
                    selections[key] = memo
            selection, content_key = memo
            digest_id = None
            if selection.is_empty:
                status, skipped = DeliveryStatus.SKIPPED, skipped + 1
            else:
                status, queued = DeliveryStatus.QUEUED, queued + 1
                if content_key not in digests:
                    digest = Digest(
                        run_id=run.id,
                        content_key=content_key,
                        sections=[[t, list(ids)] for t, ids in selection.sections],
                        created_at=now,
                    )
                    session.add(digest)
                    session.flush()
                    if digest.id is None:
                        raise RuntimeError("digest flushed without an id")
                    digests[content_key] = digest.id
                digest_id = digests[content_key]
            rows.append(
                {
                    "run_id": run.id,
                    "subscriber_id": member.subscriber_id,
                    "subscription_id": member.subscription_id,
                    "digest_id": digest_id,
                    "email": member.email,
                    "period": period,
                    "status": status,
                    "attempts": 0,
                    "last_error": "nothing new in the chosen topics" if digest_id is None else None,
                    "created_at": now,
                }
            )
        # Core, not the ORM: its per-row bookkeeping doubles the cost of planning.
        session.connection().execute(insert(Delivery.__table__), rows)  # type: ignore[arg-type]
    if queued == 0:
        run.status = RunStatus.DONE
        run.finished_at = now
    session.flush()
    return Plan(run_id=run.id, queued=queued, skipped=skipped, digests=len(digests))


STOPPED = "unsubscribed or suppressed after the run was planned"


def stopped_deliveries(
    session: Session, claimed: Sequence[ClaimedDelivery], *, secret: bytes
) -> set[int]:
    """Claimed rows that must not go out any more: the subscription or subscriber is no longer
    active, or the address was suppressed since the run was planned."""
    person_ids = [c.subscriber_id for c in claimed if c.subscriber_id is not None]
    if not person_ids:
        return set()
    active_people = set(
        session.exec(
            select(Subscriber.id).where(
                col(Subscriber.id).in_(person_ids), Subscriber.status == SubscriberStatus.ACTIVE
            )
        )
    )
    sub_ids = [c.subscription_id for c in claimed if c.subscription_id is not None]
    active_subs = set(
        session.exec(
            select(Subscription.id).where(
                col(Subscription.id).in_(sub_ids),
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
        )
    )
    blocked = suppressed_filter(session, secret=secret)
    return {
        c.id
        for c in claimed
        if c.subscriber_id is not None
        and (
            c.subscriber_id not in active_people
            or (c.subscription_id is not None and c.subscription_id not in active_subs)
            or blocked(c.email)
        )
    }
