"""Mailing lists as editors manage them: create, list with counts, show, change, delete, and the
next issue's note. Each use case is one transaction over ``subscribers.lists``, which checks the
offered topics against the stored ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.models import Topic
from newsletter.operations.topics import all_topics
from newsletter.publish import editorial
from subscribers import lists as list_service
from subscribers.models import MailingList, Subscription
from subscribers.queries import status_counts

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


def known_topics(session: Session) -> set[str]:
    """The slugs a list may offer: every stored topic."""
    return set(session.exec(select(Topic.slug)))


def create(runtime: Runtime, *, topics: Sequence[str], **fields: Any) -> MailingList:
    """Create a list; its topics must exist (``subscribers.lists.create_list`` checks the rest)."""
    with session_scope(runtime.engine) as session:
        return list_service.create_list(
            session, topics=topics, known_topics=known_topics(session), **fields
        )


@dataclass(frozen=True)
class ListOverview:
    """A list's settings, its subscriptions per status and its next issue's note and lead."""

    mailing_list: MailingList
    counts: dict[str, int]
    next_issue: editorial.NextIssue


def overview(runtime: Runtime, *, slug: str) -> ListOverview:
    """What ``lists show`` prints."""
    with session_scope(runtime.engine) as session:
        item = list_service.get_list(session, slug=slug)
        return ListOverview(
            item,
            status_counts(session, list_id=item.id or 0),
            editorial.next_issue(session, list_id=item.id or 0),
        )


def update(runtime: Runtime, *, slug: str, **changes: Any) -> list_service.ListUpdate:
    """Change a list's settings and branding; only the values given (not None) change."""
    with session_scope(runtime.engine) as session:
        return list_service.update_list(
            session, slug=slug, known_topics=known_topics(session), **changes
        )


def delete(runtime: Runtime, *, slug: str, force: bool = False) -> int:
    """Delete a list (one with subscriptions only with ``force``); how many went with it."""
    with session_scope(runtime.engine) as session:
        return list_service.delete_list(session, slug=slug, force=force)


def set_note(
    runtime: Runtime,
    *,
    slug: str,
    note: str | None,
    lead_article_id: int | None,
    clear_lead: bool = False,
) -> editorial.NextIssue:
    """Set the editor's note and lead story of the list's next issue."""
    with session_scope(runtime.engine) as session:
        return editorial.set_next_issue(
            session,
            mailing_list=list_service.get_list(session, slug=slug),
            now=runtime.clock(),
            note=note,
            lead_article_id=lead_article_id,
            clear_lead=clear_lead,
        )


# The use cases of the console and the API.


def find_list(runtime: Runtime, *, slug: str) -> MailingList:
    """The list with this slug (SubscriberError otherwise)."""
    with session_scope(runtime.engine) as session:
        return list_service.get_list(session, slug=slug)


def every_list(runtime: Runtime) -> list[MailingList]:
    """Every list, by slug."""
    with session_scope(runtime.engine) as session:
        return list_service.all_lists(session)


def status_counts_by_list(session: Session) -> dict[int, dict[str, int]]:
    """Subscriptions per list and status (statuses with none left out), in one grouped query."""
    counts: dict[int, dict[str, int]] = {}
    for list_id, status, count in session.exec(
        select(Subscription.list_id, Subscription.status, func.count()).group_by(
            col(Subscription.list_id), col(Subscription.status)
        )
    ):
        counts.setdefault(list_id, {})[str(status)] = int(count)
    return counts


@dataclass(frozen=True)
class ListCounts:
    """A list and how many of its subscriptions are in each status (statuses with none left
    out)."""

    mailing_list: MailingList
    counts: dict[str, int]


def lists_with_status_counts(runtime: Runtime) -> list[ListCounts]:
    """Every list, by slug, with its subscriptions per status."""
    with session_scope(runtime.engine) as session:
        counts = status_counts_by_list(session)
        return [
            ListCounts(item, counts.get(item.id or 0, {}))
            for item in list_service.all_lists(session)
        ]


@dataclass(frozen=True)
class ListsPage:
    """The console's lists page: every list with its counts, and the topics a list may offer."""

    lists: list[ListCounts]
    topics: list[Topic]


def lists_page(runtime: Runtime) -> ListsPage:
    """Every list with its subscriptions per status, and every topic."""
    with session_scope(runtime.engine) as session:
        counts = status_counts_by_list(session)
        return ListsPage(
            lists=[
                ListCounts(item, counts.get(item.id or 0, {}))
                for item in list_service.all_lists(session)
            ],
            topics=all_topics(session),
        )


def update_counted(runtime: Runtime, *, slug: str, **changes: Any) -> ListCounts:
    """Change a list's settings (as ``update``); the list after, with its counts."""
    with session_scope(runtime.engine) as session:
        list_service.update_list(session, slug=slug, known_topics=known_topics(session), **changes)
        item = list_service.get_list(session, slug=slug)
        return ListCounts(item, status_counts(session, list_id=item.id or 0))


def next_issue(runtime: Runtime, *, list_id: int) -> editorial.NextIssue:
    """The note and lead story set for a list's next issue."""
    with session_scope(runtime.engine) as session:
        return editorial.next_issue(session, list_id=list_id)


def list_by_id(runtime: Runtime, *, list_id: int) -> MailingList | None:
    """The list with this id, or None."""
    with session_scope(runtime.engine) as session:
        return session.get(MailingList, list_id)
