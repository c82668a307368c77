"""Consent on the public pages: a person signs up, confirms, reads their preferences behind a
signed link, and leaves with one click. Each use case is one transaction; saving preferences and
unsubscribing are in ``operations.subscriptions``, shared with the console."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.db import session_scope
from subscribers import service
from subscribers.errors import SubscriberNotFound
from subscribers.models import MailingList, Subscriber, Subscription, UnsubscribeSource
from subscribers.tokens import Purpose

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


def sign_up(
    runtime: Runtime,
    *,
    mailing_list: MailingList,
    email: str,
    name: str,
    topics: Sequence[str],
    cadence: str | None,
    weekday: str | None,
    send_hour: str | None,
    timezone: str | None,
) -> int | None:
    """Ask to join a list; the subscription to send a confirmation to, if any (InvalidPreference,
    Suppressed)."""
    with session_scope(runtime.engine) as session:
        result = service.request_subscription(
            session,
            mailing_list=mailing_list,
            email=email,
            now=runtime.clock(),
            name=name,
            topics=topics,
            cadence=cadence,
            weekday=weekday,
            send_hour=send_hour,
            timezone=timezone,
            secret=runtime.settings.links.secret,
        )
        pending = result.needs_confirmation and not result.already_active
        return result.subscription.id if pending else None


@dataclass(frozen=True)
class Confirmed:
    """A subscription just confirmed, its list and the person's address."""

    subscription: Subscription
    mailing_list: MailingList | None
    email: str


def confirm(runtime: Runtime, *, token: str) -> Confirmed:
    """Activate the subscription a confirmation token names (InvalidToken, Suppressed)."""
    with session_scope(runtime.engine) as session:
        subscription = service.confirm_subscription(
            session, token=token, secret=runtime.settings.links.secret, now=runtime.clock()
        )
        person = service.subscription_person(session, subscription=subscription)
        return Confirmed(subscription, session.get(MailingList, subscription.list_id), person.email)


@dataclass(frozen=True)
class Preferences:
    """The person behind a preferences link, their subscription and its list (None when the
    subscription or the list is gone)."""

    subscriber: Subscriber
    subscription: Subscription | None
    mailing_list: MailingList | None


def preferences(runtime: Runtime, *, token: str) -> Preferences:
    """Who a preferences link is for (InvalidToken when it is not valid)."""
    with session_scope(runtime.engine) as session:
        subscriber, subscription = service.subscription_for_token(
            session,
            token=token,
            purpose=Purpose.PREFERENCES,
            secret=runtime.settings.links.secret,
            now=runtime.clock(),
        )
        mailing_list = (
            session.get(MailingList, subscription.list_id) if subscription is not None else None
        )
        return Preferences(subscriber, subscription, mailing_list)


def one_click_unsubscribe(
    runtime: Runtime, *, subscriber_id: int, list_id: int | None
) -> MailingList | None:
    """RFC 8058: unsubscribe from the list (every list for None); an erased person is no error.
    Returns the list."""
    with session_scope(runtime.engine) as session:
        mailing_list = session.get(MailingList, list_id or 0)
        # an erased subscriber has nobody left to mail: answer all the same
        with contextlib.suppress(SubscriberNotFound):
            service.unsubscribe(
                session,
                subscriber_id=subscriber_id,
                list_id=list_id,
                source=UnsubscribeSource.ONE_CLICK,
                now=runtime.clock(),
            )
        return mailing_list
