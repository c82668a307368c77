"""Audience services: lists, subscribing, suppression; used by the CLI and the web app alike."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from subscribers.addresses import address_domain, normalise_email
from subscribers.errors import DuplicateList, InvalidPreference, ListNotFound, Suppressed
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from subscribers.preferences import (
    check_cadence,
    check_hour,
    check_timezone,
    check_topics,
    check_weekday,
)


def create_list(
    session: Session,
    *,
    slug: str,
    name: str,
    from_name: str,
    from_address: str,
    topics: Sequence[str],
    reply_to: str | None = None,
    default_cadence: str = "daily",
    default_weekday: int | str = 0,
    default_send_hour: int = 8,
    default_timezone: str = "UTC",
    double_opt_in: bool = True,
    known_topics: Collection[str] | None = None,
) -> MailingList:
    """Create a list after validating its sender, topics (against ``known_topics``) and defaults."""
    slug = slug.strip().lower()
    if not slug or not all(ch.isalnum() or ch in "-_" for ch in slug):
        raise InvalidPreference(f"list slug {slug!r} may only hold letters, digits, - and _")
    offered = list(dict.fromkeys(topic.strip().lower() for topic in topics if topic.strip()))
    if not offered:
        raise InvalidPreference("a list must offer at least one topic")
    if known_topics is not None:
        unknown = [topic for topic in offered if topic not in known_topics]
        if unknown:
            raise InvalidPreference(
                f"unknown topic {unknown[0]!r} (known: {', '.join(sorted(known_topics)) or 'none'})"
            )
    if session.exec(select(MailingList).where(MailingList.slug == slug)).first():
        raise DuplicateList(slug)
    mailing_list = MailingList(
        slug=slug,
        name=name,
        from_name=from_name,
        from_address=normalise_email(from_address),
        reply_to=normalise_email(reply_to) if reply_to else None,
        topics=offered,
        default_cadence=check_cadence(default_cadence),
        default_weekday=check_weekday(default_weekday),
        default_send_hour=check_hour(default_send_hour),
        default_timezone=check_timezone(default_timezone),
        double_opt_in=double_opt_in,
    )
    session.add(mailing_list)
    session.flush()
    return mailing_list


def get_list(session: Session, *, slug: str) -> MailingList:
    """The list with this slug, or ListNotFound."""
    found = session.exec(
        select(MailingList).where(MailingList.slug == slug.strip().lower())
    ).first()
    if found is None:
        raise ListNotFound(slug)
    return found


def all_lists(session: Session) -> list[MailingList]:
    """Every list, by slug."""
    return list(session.exec(select(MailingList).order_by(col(MailingList.slug))))


def is_suppressed(session: Session, *, email: str) -> bool:
    """Whether a normalised address (or its domain) is on the suppression list."""
    values = [email, address_domain(email)]
    return (
        session.exec(select(Suppression.id).where(col(Suppression.value).in_(values))).first()
        is not None
    )


def suppress(
    session: Session,
    *,
    value: str,
    reason: SuppressionReason,
    kind: str = "address",
    note: str = "",
) -> Suppression:
    """Add an address, domain or hash to the suppression list (idempotent)."""
    existing = session.exec(select(Suppression).where(Suppression.value == value)).first()
    if existing is not None:
        return existing
    entry = Suppression(value=value, kind=kind, reason=reason, note=note)
    session.add(entry)
    session.flush()
    return entry


def add_subscriber(
    session: Session,
    *,
    mailing_list: MailingList,
    email: str,
    now: datetime,
    name: str = "",
    topics: Sequence[str] | None = None,
    cadence: str | None = None,
    weekday: int | str | None = None,
    send_hour: int | str | None = None,
    timezone: str | None = None,
    confirmed: bool = False,
    by_admin: bool = False,
) -> Subscription:
    """Subscribe ``email`` to a list: pending (needs confirmation) unless ``confirmed``.

    Suppressed, bounced or complained addresses can only be re-subscribed by an admin.
    """
    address = normalise_email(email)
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    blocked = subscriber is not None and subscriber.status in (
        SubscriberStatus.BOUNCED,
        SubscriberStatus.COMPLAINED,
    )
    if not by_admin and (blocked or is_suppressed(session, email=address)):
        raise Suppressed(address)
    zone = check_timezone(timezone) if timezone else mailing_list.default_timezone
    if subscriber is None:
        subscriber = Subscriber(email=address, name=name.strip(), timezone=zone)
        session.add(subscriber)
        session.flush()
    else:
        if name:
            subscriber.name = name.strip()
        if subscriber.status != SubscriberStatus.ACTIVE and (by_admin or not blocked):
            subscriber.status = SubscriberStatus.ACTIVE
        subscriber.updated_at = now
    if subscriber.id is None or mailing_list.id is None:
        raise RuntimeError("rows were flushed without ids")
    subscription = session.exec(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber.id, Subscription.list_id == mailing_list.id
        )
    ).first()
    if subscription is None:
        subscription = Subscription(subscriber_id=subscriber.id, list_id=mailing_list.id)
        session.add(subscription)
    subscription.topics = list(
        check_topics(topics, mailing_list.topics) if topics else mailing_list.topics
    )
    subscription.cadence = check_cadence(cadence or mailing_list.default_cadence)
    subscription.weekday = check_weekday(
        weekday if weekday is not None else mailing_list.default_weekday
    )
    subscription.send_hour = check_hour(
        send_hour if send_hour is not None else mailing_list.default_send_hour
    )
    subscription.timezone = zone
    if confirmed or not mailing_list.double_opt_in:
        if subscription.status != SubscriptionStatus.ACTIVE:
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.confirmed_at = now
    elif subscription.status != SubscriptionStatus.ACTIVE:
        subscription.status = SubscriptionStatus.PENDING
    subscription.unsubscribed_at = None
    subscription.unsubscribe_source = None
    session.flush()
    return subscription


def mark_bounced(session: Session, *, subscriber_id: int, now: datetime) -> None:
    """A permanent failure: mark the subscriber bounced and suppress the address."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return
    subscriber.status = SubscriberStatus.BOUNCED
    subscriber.updated_at = now
    suppress(session, value=subscriber.email, reason=SuppressionReason.HARD_BOUNCE)
