"""What the public archive and the API's archive read: the public lists, a list's issues, one
issue or one digest as a view to render, a topic's newest articles, and the sent digests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import select

from newsletter.db import session_scope
from newsletter.digest.compose import DigestView, LinkSettings, digest_view
from newsletter.models import Article, IssueNote, Topic
from newsletter.operations.topics import topic_names
from newsletter.publish import archive as reads
from newsletter.publish.urls import issue_url
from subscribers.models import MailingList

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


def _links(runtime: Runtime) -> LinkSettings:
    return LinkSettings(
        base_url=runtime.settings.links.base_url, secret=runtime.settings.links.secret
    )


def public_lists(runtime: Runtime) -> list[MailingList]:
    """The lists whose archive is public."""
    with session_scope(runtime.engine) as session:
        return reads.public_lists(session)


@dataclass(frozen=True)
class IssuesPage:
    """One page of a list's published issues and the names of the list's topics."""

    found: reads.Page[reads.IssueSummary]
    topic_names: dict[str, str]


def issues_page(runtime: Runtime, *, mailing_list: MailingList, page: int) -> IssuesPage:
    """Published issues of a list, newest first, and its topics' names."""
    with session_scope(runtime.engine) as session:
        found = reads.issues_page(session, list_id=mailing_list.id or 0, page=page)
        return IssuesPage(found, topic_names(session, mailing_list.topics))


@dataclass(frozen=True)
class IssueView:
    """A published issue (or one sent digest) ready to render."""

    view: DigestView
    published_at: datetime


def published_issue(
    runtime: Runtime, *, mailing_list: MailingList, run_id: int
) -> IssueView | None:
    """One published issue of the list with every article its readers got, or None."""
    with session_scope(runtime.engine) as session:
        issue = reads.published_issue(session, list_id=mailing_list.id or 0, run_id=run_id)
        if issue is None:
            return None
        view = digest_view(
            session,
            mailing_list=mailing_list,
            sections=issue.sections,
            view_url=issue_url(runtime.settings.links.base_url, mailing_list.slug, issue.run_id),
            note=issue.note,
            links=_links(runtime),
        )
        return IssueView(view, issue.published_at)


def digest_issue(runtime: Runtime, *, digest_id: int, view_url: str) -> IssueView | None:
    """One distinct digest as sent, without personal links; None when it was never sent."""
    with session_scope(runtime.engine) as session:
        found = reads.issue_of_digest(session, digest_id)
        if found is None:
            return None
        digest, run, mailing_list = found
        note = session.exec(select(IssueNote).where(IssueNote.run_id == run.id)).first()
        view = digest_view(
            session,
            mailing_list=mailing_list,
            sections=[(topic, ids) for topic, ids in digest.sections],
            view_url=view_url,
            note=note,
            links=_links(runtime),
        )
        return IssueView(view, run.created_at)


@dataclass(frozen=True)
class TopicPage:
    """One page of a topic's newest articles, and the topic (None when it is not stored)."""

    found: reads.Page[Article]
    topic: Topic | None


def topic_page(runtime: Runtime, *, topic: str, page: int) -> TopicPage:
    """The newest articles of a topic, one page."""
    with session_scope(runtime.engine) as session:
        found = reads.topic_articles(session, topic=topic, page=page)
        return TopicPage(found, session.get(Topic, topic))


def latest_issues(runtime: Runtime, *, list_id: int) -> tuple[reads.IssueSummary, ...]:
    """The list's latest published issues, for its feed."""
    with session_scope(runtime.engine) as session:
        return reads.latest_issues(session, list_id=list_id)


def sent_digests(runtime: Runtime, *, slug: str, limit: int = 50) -> list[reads.SentDigest]:
    """The list's sent digests, newest first (SubscriberError for an unknown list)."""
    with session_scope(runtime.engine) as session:
        return reads.sent_digests(session, slug=slug, limit=limit)
