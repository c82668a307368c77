"""Subscribers as an admin manages them from the CLI, the console and the API: add, list, page
through, change, confirm, unsubscribe, import and export. Each use case is one transaction over
the ``subscribers`` services."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

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
    """One page of a list's members, how many match, and the list's subscriptions per status."""

    rows: list[Member]
    total: int
    counts: dict[str, int]


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
    return Members(rows, total, status_counts(session, list_id=mailing_list.id or 0))


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
    """The console's subscribers page: every list, the chosen one, and one page of its members
    with its counts per status (no chosen list when there are no lists)."""

    lists: list[MailingList]
    chosen: MailingList | None
    members: Members


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
            return MembersPage([], None, Members([], 0, {}))
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
        return MembersPage(lists, chosen, found)


@dataclass(frozen=True)
class Membership:
    """A person and their subscription to one list, and whether their address is on the
    suppression list (then nothing is sent to them until an admin takes it off)."""

    subscriber: Subscriber
    subscription: Subscription
    suppressed: bool = False

    @property
    def needs_confirmation(self) -> bool:
        """Pending and mailable: a confirmation email should go out."""
        return self.subscription.status == SubscriptionStatus.PENDING and not self.suppressed


def add_member(
    runtime: Runtime,
    *,
    slug: str,
    email: str,
    name: str = "",
    topics: Sequence[str] | None = None,
    cadence: str | None = None,
    weekday: int | str | None = None,
    send_hour: int | str | None = None,
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
        blocked = is_suppressed(session, email=person.email, secret=runtime.settings.links.secret)
        return Membership(person, subscription, blocked)


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
