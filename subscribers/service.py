"""Audience services: sign-up, consent, preferences, unsubscribe; shared by CLI and web."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from subscribers.addresses import normalise_email
from subscribers.errors import (
    InvalidPreference,
    InvalidToken,
    SubscriberNotFound,
    SubscriptionNotFound,
    Suppressed,
)
from subscribers.lists import all_lists, create_list, get_list
from subscribers.models import (
    Cadence,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
    UnsubscribeEvent,
    UnsubscribeSource,
)
from subscribers.names import clean_name
from subscribers.preferences import (
    check_cadence,
    check_hour,
    check_timezone,
    check_topics,
    check_weekday,
)
from subscribers.suppression import is_suppressed, suppress, suppressed_filter
from subscribers.tokens import Purpose, read_token

__all__ = [
    "SignupResult",
    "add_subscriber",
    "all_lists",
    "confirm_subscription",
    "create_list",
    "find_subscriber",
    "get_list",
    "get_subscription",
    "is_suppressed",
    "mark_bounced",
    "request_subscription",
    "subscription_for_token",
    "subscription_person",
    "suppress",
    "suppressed_filter",
    "unsubscribe",
    "update_preferences",
]

BLOCKED_STATUSES = (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED)


@dataclass(frozen=True)
class SignupResult:
    """What a sign-up did; the web page shows the same neutral text whatever it says."""

    subscription: Subscription
    subscriber: Subscriber
    needs_confirmation: bool
    already_active: bool


@dataclass(frozen=True)
class _Chosen:
    topics: list[str]
    cadence: Cadence
    weekday: int
    send_hour: int
    timezone: str


def _choose(
    mailing_list: MailingList,
    current: Subscription | None,
    *,
    topics: Sequence[str] | None,
    cadence: str | None,
    weekday: int | str | None,
    send_hour: int | str | None,
    timezone: str | None,
) -> _Chosen:
    """Validate every preference before anything is written; unset ones keep their value."""
    if topics is not None:
        chosen_topics = list(check_topics(topics, mailing_list.topics))
        if not chosen_topics:
            raise InvalidPreference(
                f"choose at least one topic (offered: {', '.join(mailing_list.topics)})"
            )
    elif current is not None and current.topics:
        chosen_topics = list(current.topics)
    else:
        chosen_topics = list(mailing_list.topics)
    base_cadence = current.cadence if current is not None else mailing_list.default_cadence
    base_weekday = current.weekday if current is not None else mailing_list.default_weekday
    base_hour = current.send_hour if current is not None else mailing_list.default_send_hour
    base_zone = (
        current.timezone if current is not None and current.timezone else None
    ) or mailing_list.default_timezone
    return _Chosen(
        topics=chosen_topics,
        cadence=check_cadence(cadence) if cadence is not None else base_cadence,
        weekday=check_weekday(weekday) if weekday is not None else base_weekday,
        send_hour=check_hour(send_hour) if send_hour is not None else base_hour,
        timezone=check_timezone(timezone) if timezone is not None else base_zone,
    )


def _apply(subscription: Subscription, chosen: _Chosen) -> None:
    subscription.topics = chosen.topics
    subscription.cadence = chosen.cadence
    subscription.weekday = chosen.weekday
    subscription.send_hour = chosen.send_hour
    subscription.timezone = chosen.timezone


def find_subscriber(session: Session, *, email: str) -> Subscriber:
    """The subscriber with this address (normalised first), or SubscriberNotFound."""
    address = normalise_email(email)
    found = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    if found is None:
        raise SubscriberNotFound(address)
    return found


def get_subscription(session: Session, *, email: str, slug: str) -> Subscription:
    """The subscription of this address to this list, or a LookupError naming what is missing."""
    mailing_list = get_list(session, slug=slug)
    subscriber = find_subscriber(session, email=email)
    found = _subscription(session, subscriber.id or 0, mailing_list.id or 0)
    if found is None:
        raise SubscriptionNotFound(subscriber.email, mailing_list.slug)
    return found


def subscription_person(session: Session, *, subscription: Subscription) -> Subscriber:
    """The subscriber a subscription belongs to."""
    found = session.get(Subscriber, subscription.subscriber_id)
    if found is None:
        raise SubscriberNotFound(f"#{subscription.subscriber_id}")
    return found


def _subscription(session: Session, subscriber_id: int, list_id: int) -> Subscription | None:
    return session.exec(
        select(Subscription).where(
            Subscription.subscriber_id == subscriber_id, Subscription.list_id == list_id
        )
    ).first()


def request_subscription(
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
    secret: bytes | None = None,
) -> SignupResult:
    """A public sign-up: pending until confirmed (on double opt-in lists), never a reactivation.

    Suppressed, bounced or complained addresses raise Suppressed (pass ``secret`` so that
    erased addresses are recognised too). An already active subscription is left untouched, so
    a stranger cannot change someone's preferences by signing them up; ``name`` is stored only
    for a person not yet known, never given to (or changed for) an existing one.
    """
    address = normalise_email(email)
    name = clean_name(name)
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    if (subscriber is not None and subscriber.status in BLOCKED_STATUSES) or is_suppressed(
        session, email=address, secret=secret
    ):
        raise Suppressed(address)
    current = _current_subscription(session, subscriber, mailing_list)
    if subscriber is not None and current is not None and current.status == "active":
        return SignupResult(current, subscriber, needs_confirmation=False, already_active=True)
    chosen = _choose(
        mailing_list,
        current,
        topics=topics,
        cadence=cadence,
        weekday=weekday,
        send_hour=send_hour,
        timezone=timezone,
    )
    if subscriber is None:
        subscriber = _new_subscriber(session, address, name, chosen.timezone, now)
    # An existing person's name is never set or changed here: anyone can send this form for any
    # address. The owner changes it on the preferences page, behind their signed link.
    if current is None:
        current = _new_subscription(session, subscriber, mailing_list, now)
    _apply(current, chosen)
    current.unsubscribed_at = None
    current.unsubscribe_source = None
    if mailing_list.double_opt_in:
        current.status = SubscriptionStatus.PENDING
        current.confirmed_at = None
        current.confirm_generation = (current.confirm_generation or 0) + 1
    else:
        _activate(subscriber, current, now)
    session.flush()
    return SignupResult(
        current,
        subscriber,
        needs_confirmation=mailing_list.double_opt_in,
        already_active=False,
    )


def _activate(subscriber: Subscriber, subscription: Subscription, now: datetime) -> None:
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.confirmed_at = now
    subscription.unsubscribed_at = None
    subscription.unsubscribe_source = None
    if subscriber.status == SubscriberStatus.UNSUBSCRIBED:
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.updated_at = now


def confirm_subscription(
    session: Session, *, token: str, secret: bytes, now: datetime
) -> Subscription:
    """Activate the pending subscription a confirmation token names (idempotent once active)."""
    claims = read_token(secret, token, Purpose.CONFIRM, now=now)
    if claims.list_id is None:
        raise InvalidToken("confirmation token names no list")
    subscriber = session.get(Subscriber, claims.subscriber_id)
    subscription = _subscription(session, claims.subscriber_id, claims.list_id)
    if subscriber is None or subscription is None:
        raise InvalidToken("this subscription no longer exists")
    if subscriber.status in BLOCKED_STATUSES or is_suppressed(
        session, email=subscriber.email, secret=secret
    ):
        raise Suppressed(subscriber.email)
    if subscription.status == SubscriptionStatus.UNSUBSCRIBED:
        raise InvalidToken("this subscription was cancelled; sign up again to get a new link")
    if subscription.status != SubscriptionStatus.ACTIVE:
        if claims.generation != subscription.confirm_generation:
            raise InvalidToken("this link answers an earlier sign-up; use the latest email")
        _activate(subscriber, subscription, now)
        session.flush()
    return subscription


def unsubscribe(
    session: Session,
    *,
    subscriber_id: int,
    list_id: int | None,
    source: UnsubscribeSource,
    now: datetime,
) -> int:
    """Unsubscribe from one list (or all with ``list_id=None``); returns subscriptions ended.

    Recorded as an UnsubscribeEvent when anything changed; a repeat changes nothing. A complaint
    or a bounce also marks the subscriber complained or bounced and suppresses the address.
    """
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise SubscriberNotFound(f"#{subscriber_id}")
    query = select(Subscription).where(
        Subscription.subscriber_id == subscriber_id,
        col(Subscription.status) != SubscriptionStatus.UNSUBSCRIBED,
    )
    if list_id is not None:
        query = query.where(Subscription.list_id == list_id)
    ended = 0
    for subscription in session.exec(query):
        subscription.status = SubscriptionStatus.UNSUBSCRIBED
        subscription.unsubscribed_at = now
        subscription.unsubscribe_source = source
        ended += 1
    changed_person = False
    if source in (UnsubscribeSource.COMPLAINT, UnsubscribeSource.BOUNCE):
        complaint = source == UnsubscribeSource.COMPLAINT
        status = SubscriberStatus.COMPLAINED if complaint else SubscriberStatus.BOUNCED
        if subscriber.status != status:
            subscriber.status = status
            changed_person = True
        reason = SuppressionReason.COMPLAINT if complaint else SuppressionReason.HARD_BOUNCE
        suppress(session, value=subscriber.email, reason=reason, now=now)
    elif list_id is None and subscriber.status == SubscriberStatus.ACTIVE:
        subscriber.status = SubscriberStatus.UNSUBSCRIBED
        changed_person = True
    if ended or changed_person:
        subscriber.updated_at = now
        session.add(
            UnsubscribeEvent(subscriber_id=subscriber_id, list_id=list_id, source=source, at=now)
        )
    session.flush()
    return ended


def update_preferences(
    session: Session,
    *,
    subscription: Subscription,
    now: datetime,
    topics: Sequence[str] | None = None,
    cadence: str | None = None,
    weekday: int | str | None = None,
    send_hour: int | str | None = None,
    timezone: str | None = None,
    name: str | None = None,
) -> Subscription:
    """Change one subscription's topics, cadence, weekday, send hour or time zone (validated);
    ``name`` also renames the subscriber."""
    mailing_list = session.get(MailingList, subscription.list_id)
    if mailing_list is None:
        raise InvalidPreference("the subscription's list no longer exists")
    new_name = clean_name(name) if name is not None else None
    chosen = _choose(
        mailing_list,
        subscription,
        topics=topics,
        cadence=cadence,
        weekday=weekday,
        send_hour=send_hour,
        timezone=timezone,
    )
    _apply(subscription, chosen)
    session.add(subscription)
    if new_name is not None:
        person = subscription_person(session, subscription=subscription)
        if person.name != new_name:
            person.name = new_name
            person.updated_at = now
    session.flush()
    return subscription


def subscription_for_token(
    session: Session, *, token: str, purpose: Purpose, secret: bytes, now: datetime
) -> tuple[Subscriber, Subscription | None]:
    """The subscriber (and subscription, when the token names a list) a link token is for."""
    claims = read_token(secret, token, purpose, now=now)
    subscriber = session.get(Subscriber, claims.subscriber_id)
    if subscriber is None:
        raise InvalidToken("this link's subscriber no longer exists")
    subscription = None
    if claims.list_id is not None:
        subscription = _subscription(session, claims.subscriber_id, claims.list_id)
    return subscriber, subscription


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
    secret: bytes | None = None,
) -> Subscription:
    """Subscribe ``email`` to a list: pending (needs confirmation) unless ``confirmed``.

    Suppressed, bounced or complained addresses can only be re-subscribed by an admin; a
    suppression entry still blocks sending until the admin removes it.
    """
    address = normalise_email(email)
    name = clean_name(name)
    subscriber = session.exec(select(Subscriber).where(Subscriber.email == address)).first()
    blocked = subscriber is not None and subscriber.status in BLOCKED_STATUSES
    if not by_admin and (blocked or is_suppressed(session, email=address, secret=secret)):
        raise Suppressed(address)
    current = _current_subscription(session, subscriber, mailing_list)
    chosen = _choose(
        mailing_list,
        current,
        topics=topics,
        cadence=cadence,
        weekday=weekday,
        send_hour=send_hour,
        timezone=timezone,
    )
    if subscriber is None:
        subscriber = _new_subscriber(session, address, name, chosen.timezone, now)
    else:
        if name:
            subscriber.name = name
        if subscriber.status != SubscriberStatus.ACTIVE and (by_admin or not blocked):
            subscriber.status = SubscriberStatus.ACTIVE
        subscriber.updated_at = now
    if current is None:
        current = _new_subscription(session, subscriber, mailing_list, now)
    _apply(current, chosen)
    if confirmed or not mailing_list.double_opt_in:
        if current.status != SubscriptionStatus.ACTIVE:
            _activate(subscriber, current, now)
    elif current.status != SubscriptionStatus.ACTIVE:
        current.status = SubscriptionStatus.PENDING
        current.unsubscribed_at = None
        current.unsubscribe_source = None
        current.confirm_generation = (current.confirm_generation or 0) + 1
    session.flush()
    return current


def _current_subscription(
    session: Session, subscriber: Subscriber | None, mailing_list: MailingList
) -> Subscription | None:
    """The person's subscription to the list, if both exist."""
    if subscriber is None or subscriber.id is None or mailing_list.id is None:
        return None
    return _subscription(session, subscriber.id, mailing_list.id)


def _new_subscriber(
    session: Session, address: str, name: str, timezone: str, now: datetime
) -> Subscriber:
    """Store a new person (flushed, so it has an id)."""
    subscriber = Subscriber(email=address, name=name, timezone=timezone, created_at=now)
    subscriber.updated_at = now
    session.add(subscriber)
    session.flush()
    return subscriber


def _new_subscription(
    session: Session, subscriber: Subscriber, mailing_list: MailingList, now: datetime
) -> Subscription:
    """A new subscription of the person to the list (preferences are applied by the caller)."""
    if subscriber.id is None or mailing_list.id is None:
        raise RuntimeError("rows were flushed without ids")
    subscription = Subscription(
        subscriber_id=subscriber.id, list_id=mailing_list.id, created_at=now
    )
    session.add(subscription)
    return subscription


def mark_bounced(session: Session, *, subscriber_id: int, now: datetime) -> None:
    """A permanent failure: mark the subscriber bounced and suppress the address."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return
    subscriber.status = SubscriberStatus.BOUNCED
    subscriber.updated_at = now
    suppress(session, value=subscriber.email, reason=SuppressionReason.HARD_BOUNCE, now=now)
