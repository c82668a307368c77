"""Subscribers as an admin manages them from the CLI, the console and the API: add, list, page
through, change, confirm, unsubscribe, import and export. Each use case is one transaction over
the ``subscribers`` services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlmodel import Session, select

from newsletter.db import session_scope
from newsletter.operations.confirmations import pending_without_confirmation
from subscribers import service
from subscribers.exporter import export_csv, export_file
from subscribers.importer import ImportReport, import_csv
from subscribers.models import (
    MailingList,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    UnsubscribeSource,
)
from subscribers.queries import Member, count_members, list_members, status_counts
from subscribers.suppression import is_suppressed

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


@dataclass(frozen=True)
class Added:
    """A subscription an admin added, and whether its address is suppressed."""

    subscription_id: int
    email: str
    list_slug: str
    status: SubscriptionStatus
    topics: list[str]
    suppressed: bool

    @property
    def needs_confirmation(self) -> bool:
        """Pending and mailable: a confirmation email should go out."""
        return self.status == SubscriptionStatus.PENDING and not self.suppressed


def add(runtime: Runtime, *, slug: str, email: str, confirmed: bool, **preferences: Any) -> Added:
    """Subscribe an address to a list as an admin (pending unless ``confirmed``)."""
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        subscription = service.add_subscriber(
            session,
            mailing_list=mailing_list,
            email=email,
            now=runtime.clock(),
            confirmed=confirmed,
            by_admin=True,
            **preferences,
        )
        person = service.subscription_person(session, subscription=subscription)
        return Added(
            subscription.id or 0,
            person.email,
            mailing_list.slug,
            subscription.status,
            list(subscription.topics),
            is_suppressed(session, email=person.email, secret=runtime.settings.links.secret),
        )


def members(
    runtime: Runtime,
    *,
    slug: str,
    status: str | None,
    topic: str | None,
    search: str | None,
    limit: int,
) -> tuple[list[Member], dict[str, int]]:
    """A list's members (filtered, at most ``limit``) and its subscriptions per status."""
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        shown = list(
            list_members(
                session,
                mailing_list=mailing_list,
                status=status,
                topic=topic,
                search=search,
                limit=limit,
            )
        )
        return shown, status_counts(session, list_id=mailing_list.id or 0)


def change_preferences(
    runtime: Runtime, *, email: str, slug: str, **preferences: Any
) -> Subscription:
    """Change one subscription's topics, cadence, weekday, send hour or time zone."""
    with session_scope(runtime.engine) as session:
        subscription = service.get_subscription(session, email=email, slug=slug)
        return service.update_preferences(
            session, subscription=subscription, now=runtime.clock(), **preferences
        )


def confirm(runtime: Runtime, *, token: str) -> tuple[Subscription, str]:
    """Confirm a pending subscription with its token; the subscription and its address."""
    with session_scope(runtime.engine) as session:
        subscription = service.confirm_subscription(
            session, token=token, secret=runtime.settings.links.secret, now=runtime.clock()
        )
        return subscription, service.subscription_person(session, subscription=subscription).email


def unsubscribe(runtime: Runtime, *, email: str, slug: str | None) -> tuple[str, int]:
    """End an address's subscription to one list, or to every list, as an admin action;
    the address and how many subscriptions ended."""
    with session_scope(runtime.engine) as session:
        subscriber = service.find_subscriber(session, email=email)
        list_id = service.get_list(session, slug=slug).id if slug else None
        ended = service.unsubscribe(
            session,
            subscriber_id=subscriber.id or 0,
            list_id=list_id,
            source=UnsubscribeSource.ADMIN,
            now=runtime.clock(),
        )
        return subscriber.email, ended


def import_file(
    runtime: Runtime,
    *,
    path: Path,
    slug: str,
    confirmed: bool,
    rejects: Path | None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    """Import a CSV of subscribers into a list (see ``subscribers.importer``)."""
    with session_scope(runtime.engine) as session:
        return import_csv(
            session,
            path=path,
            mailing_list=service.get_list(session, slug=slug),
            now=runtime.clock(),
            confirmed=confirmed,
            secret=runtime.settings.links.secret,
            rejects_path=rejects,
            progress=progress,
        )


def awaiting_confirmation(runtime: Runtime, *, slug: str) -> list[int]:
    """Pending subscriptions of a list whose confirmation email never went out."""
    with session_scope(runtime.engine) as session:
        list_id = service.get_list(session, slug=slug).id or 0
    return pending_without_confirmation(runtime, list_id=list_id)


def export(runtime: Runtime, *, slug: str, status: str, out: TextIO | Path) -> int:
    """Export a list's subscribers as CSV to a stream or, all or nothing, to a file."""
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        if isinstance(out, Path):
            return export_file(session, mailing_list=mailing_list, path=out, status=status)
        return export_csv(session, mailing_list=mailing_list, out=out, status=status)


# The use cases of the console and the API.


@dataclass(frozen=True)
class Members:
    """One page of a list's members and how many match."""

    rows: list[Member]
    total: int


def _members(
    session: Session,
    mailing_list: MailingList,
    *,
    status: str | None,
    topic: str | None,
    search: str | None,
    limit: int,
    offset: int,
) -> Members:
    filters = {"status": status, "topic": topic, "search": search}
    total = count_members(session, mailing_list=mailing_list, **filters)
    rows = [
        *list_members(session, mailing_list=mailing_list, **filters, limit=limit, offset=offset)
    ]
    return Members(rows, total)


def paged_members(
    runtime: Runtime,
    *,
    slug: str,
    status: str | None = None,
    topic: str | None = None,
    search: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Members:
    """Members of a list, filtered by status, topic and text, by address (SubscriberError for
    an unknown list or a bad filter)."""
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        return _members(
            session,
            mailing_list,
            status=status,
            topic=topic,
            search=search,
            limit=limit,
            offset=offset,
        )


@dataclass(frozen=True)
class MembersPage:
    """The console's subscribers page: every list, the chosen one with its counts per status,
    and one page of its members (no chosen list when there are no lists)."""

    lists: list[MailingList]
    chosen: MailingList | None
    members: Members
    counts: dict[str, int]


def members_page(
    runtime: Runtime,
    *,
    slug: str,
    status: str | None,
    topic: str | None,
    search: str | None,
    limit: int,
    offset: int,
) -> MembersPage:
    """Members of the list ``slug`` (the first list when it names none), filtered and paged."""
    with session_scope(runtime.engine) as session:
        lists = service.all_lists(session)
        if not lists:
            return MembersPage([], None, Members([], 0), {})
        chosen = next((ml for ml in lists if ml.slug == slug), lists[0])
        found = _members(
            session,
            chosen,
            status=status,
            topic=topic,
            search=search,
            limit=limit,
            offset=offset,
        )
        counts = status_counts(session, list_id=chosen.id or 0)
        return MembersPage(lists, chosen, found, counts)


@dataclass(frozen=True)
class Membership:
    """A person and their subscription to one list."""

    subscriber: Subscriber
    subscription: Subscription


def add_member(
    runtime: Runtime,
    *,
    slug: str,
    email: str,
    name: str = "",
    topics: Sequence[str] | None = None,
    cadence: str | None = None,
    weekday: int | None = None,
    send_hour: int | None = None,
    timezone: str | None = None,
    confirmed: bool,
) -> Membership:
    """Add (or re-add) a person to a list as an admin: active when ``confirmed``, else pending
    (the caller sends the confirmation)."""
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        subscription = service.add_subscriber(
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
            confirmed=confirmed,
            by_admin=True,
            secret=runtime.settings.links.secret,
        )
        person = service.subscription_person(session, subscription=subscription)
        return Membership(person, subscription)


def membership(runtime: Runtime, *, slug: str, email: str) -> Membership | None:
    """The person and their subscription to the list; None when they are not on it
    (SubscriberError for an unknown list or address)."""
    with session_scope(runtime.engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        subscriber = service.find_subscriber(session, email=email)
        subscription = session.exec(
            select(Subscription).where(
                Subscription.subscriber_id == subscriber.id,
                Subscription.list_id == mailing_list.id,
            )
        ).first()
        return Membership(subscriber, subscription) if subscription is not None else None


def change_member(
    runtime: Runtime,
    *,
    slug: str,
    email: str,
    name: str | None = None,
    topics: Sequence[str] | None = None,
    cadence: str | None = None,
    weekday: int | str | None = None,
    send_hour: int | str | None = None,
    timezone: str | None = None,
) -> Membership:
    """Change a subscription's preferences (and the person's name); fields left None stay."""
    with session_scope(runtime.engine) as session:
        subscription = service.get_subscription(session, email=email, slug=slug)
        service.update_preferences(
            session,
            subscription=subscription,
            now=runtime.clock(),
            topics=topics,
            cadence=cadence,
            weekday=weekday,
            send_hour=send_hour,
            timezone=timezone,
            name=name,
        )
        person = service.subscription_person(session, subscription=subscription)
        return Membership(person, subscription)


def save_preferences(
    runtime: Runtime,
    *,
    subscription: Subscription,
    name: str | None = None,
    topics: Sequence[str] | None = None,
    cadence: str | None = None,
    weekday: int | str | None = None,
    send_hour: int | str | None = None,
    timezone: str | None = None,
) -> Subscription:
    """Save preferences on a subscription read earlier (InvalidPreference changes nothing)."""
    with session_scope(runtime.engine) as session:
        current = session.merge(subscription)
        return service.update_preferences(
            session,
            subscription=current,
            now=runtime.clock(),
            topics=topics,
            cadence=cadence,
            weekday=weekday,
            send_hour=send_hour,
            timezone=timezone,
            name=name,
        )


def end_subscription(
    runtime: Runtime, *, subscriber_id: int, list_id: int | None, source: UnsubscribeSource
) -> int:
    """Unsubscribe a person from one list (or from every list for None)."""
    with session_scope(runtime.engine) as session:
        return service.unsubscribe(
            session,
            subscriber_id=subscriber_id,
            list_id=list_id,
            source=source,
            now=runtime.clock(),
        )
