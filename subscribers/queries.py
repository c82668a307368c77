"""Read-only views of a list's audience: filtered member listings and counts per status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import ColumnElement, String, cast, func, or_
from sqlmodel import Session, col, select

from subscribers.errors import InvalidPreference, shown
from subscribers.models import MailingList, Subscriber, Subscription, SubscriptionStatus


@dataclass(frozen=True)
class Member:
    """One subscriber on one list, as listings show it."""

    email: str
    name: str
    status: str
    subscriber_status: str
    topics: tuple[str, ...]
    cadence: str
    weekday: int
    send_hour: int
    timezone: str


def _member_filters(
    *,
    mailing_list: MailingList,
    status: str | None,
    topic: str | None,
    search: str | None,
) -> list[ColumnElement[bool]]:
    """The conditions on subscribers joined to their subscriptions that a listing applies."""
    conditions: list[ColumnElement[bool]] = [col(Subscription.list_id) == mailing_list.id]
    if status is not None:
        conditions.append(col(Subscription.status) == check_status(status))
    if search:
        pattern = f"%{search.strip().lower()}%"
        conditions.append(
            or_(
                func.lower(col(Subscriber.email)).like(pattern),
                func.lower(col(Subscriber.name)).like(pattern),
            )
        )
    if topic and topic.strip():
        # topics are a JSON array of strings: match the quoted element in its text form
        element = json.dumps(topic.strip().lower())
        escaped = element.replace("^", "^^").replace("%", "^%").replace("_", "^_")
        conditions.append(cast(col(Subscription.topics), String).like(f"%{escaped}%", escape="^"))
    return conditions


def list_members(
    session: Session,
    *,
    mailing_list: MailingList,
    status: str | None = None,
    topic: str | None = None,
    search: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[Member]:
    """Members of a list by address, filtered by subscription status, topic and text."""
    query = (
        select(Subscriber, Subscription)
        .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
        .where(
            *_member_filters(mailing_list=mailing_list, status=status, topic=topic, search=search)
        )
        .order_by(col(Subscriber.email), col(Subscriber.id))
    )
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    for subscriber, subscription in session.execute(query.execution_options(yield_per=1000)):
        yield Member(
            email=subscriber.email,
            name=subscriber.name,
            status=subscription.status,
            subscriber_status=subscriber.status,
            topics=tuple(subscription.topics),
            cadence=subscription.cadence,
            weekday=subscription.weekday,
            send_hour=subscription.send_hour,
            timezone=subscription.timezone or subscriber.timezone,
        )


def count_members(
    session: Session,
    *,
    mailing_list: MailingList,
    status: str | None = None,
    topic: str | None = None,
    search: str | None = None,
) -> int:
    """How many members ``list_members`` would list with the same filters."""
    query = (
        select(func.count())
        .select_from(Subscriber)
        .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
        .where(
            *_member_filters(mailing_list=mailing_list, status=status, topic=topic, search=search)
        )
    )
    return int(session.execute(query).scalar_one())


def check_status(value: str) -> SubscriptionStatus:
    """Parse a subscription status name."""
    try:
        return SubscriptionStatus(value.strip().lower())
    except ValueError:
        names = ", ".join(status.value for status in SubscriptionStatus)
        raise InvalidPreference(f"status must be one of {names}, not {shown(value)}") from None


def status_counts(session: Session, *, list_id: int) -> dict[str, int]:
    """How many subscriptions of a list are in each status."""
    rows = session.exec(
        select(Subscription.status, func.count())
        .where(Subscription.list_id == list_id)
        .group_by(col(Subscription.status))
    ).all()
    return {str(status): int(count) for status, count in rows}
