"""The public archive's reads: published issues of a list, one issue's articles, topic pages.

An issue is a run of kind manual or scheduled that delivered at least one message; its
canonical content is the union of its digests' sections (every article any reader got),
topic by topic in the order of first appearance. One query per view, counts with count().
The HTTP API also lists a list's sent digests, each with its signed view-in-browser URL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import exists, func
from sqlmodel import Session, col, select

from newsletter.models import (
    DIGEST_KINDS,
    Article,
    ArticleTopic,
    Delivery,
    DeliveryStatus,
    Digest,
    IssueNote,
    Run,
)
from newsletter.publish.editorial import ISSUE_KINDS
from subscribers.models import MailingList
from subscribers.service import get_list

PER_PAGE = 20
T = TypeVar("T")


@dataclass(frozen=True)
class IssueSummary:
    """One line of the archive index and one entry of the feed."""

    run_id: int
    published_at: datetime
    headlines: tuple[str, ...]
    article_count: int


@dataclass(frozen=True)
class Issue:
    """One published issue: its sections (topic, article ids) and its editor's note."""

    run_id: int
    published_at: datetime
    sections: tuple[tuple[str, tuple[int, ...]], ...]
    note: IssueNote | None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a paged view."""

    items: tuple[T, ...]
    page: int
    pages: int
    total: int


def public_lists(session: Session) -> list[MailingList]:
    """Lists whose archive is public, by name."""
    return list(
        session.exec(
            select(MailingList)
            .where(col(MailingList.archive_public).is_(True))
            .order_by(col(MailingList.name))
        )
    )


def _published() -> Any:
    sent = exists().where(
        col(Delivery.run_id) == col(Run.id), col(Delivery.status) == DeliveryStatus.SENT
    )
    return (col(Run.kind).in_([kind.value for kind in ISSUE_KINDS]), sent)


def merge_sections(digests: Iterable[Sequence[Any]]) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The union of several digests' ``[[topic, [ids]], ...]``, each article once (pure)."""
    merged: dict[str, list[int]] = {}
    seen: set[int] = set()
    for sections in digests:
        for topic, ids in sections:
            for article_id in ids:
                if article_id not in seen:
                    seen.add(article_id)
                    merged.setdefault(str(topic), []).append(int(article_id))
    return tuple((topic, tuple(ids)) for topic, ids in merged.items())


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


def issues_page(
    session: Session, *, list_id: int, page: int = 1, per_page: int = PER_PAGE
) -> Page[IssueSummary]:
    """Published issues of a list, newest first, with their first headlines."""
    conditions = _published()
    total = int(
        session.exec(
            select(func.count()).select_from(Run).where(Run.list_id == list_id, *conditions)
        ).one()
    )
    page = max(1, min(page, _pages(total, per_page)))
    runs = session.exec(
        select(Run.id, Run.created_at)
        .where(Run.list_id == list_id, *conditions)
        .order_by(col(Run.created_at).desc(), col(Run.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    summaries = _summaries(session, [(run_id or 0, created) for run_id, created in runs])
    return Page(items=summaries, page=page, pages=_pages(total, per_page), total=total)


def _summaries(
    session: Session, runs: Sequence[tuple[int, datetime]], headlines: int = 3
) -> tuple[IssueSummary, ...]:
    run_ids = [run_id for run_id, _ in runs]
    by_run: dict[int, list[Any]] = {}
    for run_id, sections in session.exec(
        select(Digest.run_id, Digest.sections)
        .where(col(Digest.run_id).in_(run_ids))
        .order_by(col(Digest.id))
    ):
        by_run.setdefault(run_id, []).append(sections)
    merged = {run_id: merge_sections(by_run.get(run_id, [])) for run_id in run_ids}
    wanted = {ids[0] for sections in merged.values() for _, ids in sections[:headlines] if ids}
    titles = dict(
        session.exec(select(Article.id, Article.title).where(col(Article.id).in_(wanted))).all()
    )
    return tuple(
        IssueSummary(
            run_id=run_id,
            published_at=created,
            headlines=tuple(
                titles[ids[0]] for _, ids in merged[run_id][:headlines] if ids and ids[0] in titles
            ),
            article_count=sum(len(ids) for _, ids in merged[run_id]),
        )
        for run_id, created in runs
    )


def latest_issues(session: Session, *, list_id: int, limit: int = 20) -> tuple[IssueSummary, ...]:
    """The newest published issues, for the feed."""
    return issues_page(session, list_id=list_id, page=1, per_page=limit).items


def published_issue(session: Session, *, list_id: int, run_id: int) -> Issue | None:
    """One published issue of a list, or None (unknown, another list's, a test, never sent)."""
    run = session.exec(
        select(Run).where(Run.id == run_id, Run.list_id == list_id, *_published())
    ).first()
    if run is None:
        return None
    digests = session.exec(
        select(Digest.sections).where(Digest.run_id == run_id).order_by(col(Digest.id))
    ).all()
    note = session.exec(select(IssueNote).where(IssueNote.run_id == run_id)).first()
    return Issue(
        run_id=run_id,
        published_at=run.created_at,
        sections=merge_sections(digests),
        note=note,
    )


def issue_of_digest(session: Session, digest_id: int) -> tuple[Digest, Run, MailingList] | None:
    """A digest that went out to at least one reader, with its run and list."""
    row = session.exec(
        select(Digest, Run, MailingList)
        .join(Run, col(Run.id) == col(Digest.run_id))
        .join(MailingList, col(MailingList.id) == col(Run.list_id))
        .where(
            Digest.id == digest_id,
            exists().where(
                col(Delivery.digest_id) == col(Digest.id),
                col(Delivery.status) == DeliveryStatus.SENT,
            ),
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def topic_articles(
    session: Session, *, topic: str, page: int = 1, per_page: int = PER_PAGE
) -> Page[Article]:
    """Articles of a topic, newest first (the list's topic page; excluded ones never show)."""
    base = (
        select(Article)
        .join(ArticleTopic, col(ArticleTopic.article_id) == col(Article.id))
        .where(ArticleTopic.topic == topic, col(Article.excluded).is_(False))
    )
    total = int(
        session.exec(
            select(func.count())
            .select_from(Article)
            .join(ArticleTopic, col(ArticleTopic.article_id) == col(Article.id))
            .where(ArticleTopic.topic == topic, col(Article.excluded).is_(False))
        ).one()
    )
    page = max(1, min(page, _pages(total, per_page)))
    items = session.exec(
        base.order_by(col(Article.published_at).desc(), col(Article.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return Page(items=tuple(items), page=page, pages=_pages(total, per_page), total=total)


MAX_ISSUES = 200


@dataclass(frozen=True)
class SentDigest:
    """One sent digest of a list (the HTTP API lists them with their view-in-browser URLs)."""

    digest_id: int
    run_id: int
    created_at: datetime


def sent_digests(session: Session, *, slug: str, limit: int = 50) -> list[SentDigest]:
    """The list's digests that reached someone, newest first."""
    mailing_list = get_list(session, slug=slug)
    delivered = select(Delivery.id).where(
        col(Delivery.digest_id) == col(Digest.id), col(Delivery.status) == DeliveryStatus.SENT
    )
    query = (
        select(Digest.id, Digest.run_id, Digest.created_at)
        .join(Run, col(Run.id) == col(Digest.run_id))
        .where(
            col(Run.list_id) == mailing_list.id,
            col(Run.kind).in_(DIGEST_KINDS),
            delivered.exists(),
        )
        .order_by(col(Digest.id).desc())
        .limit(max(1, min(limit, MAX_ISSUES)))
    )
    return [
        SentDigest(digest_id=digest_id or 0, run_id=run_id, created_at=created_at)
        for digest_id, run_id, created_at in session.exec(query)
    ]
