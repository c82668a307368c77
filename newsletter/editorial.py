"""Editorial services on stored articles: search, re-tag, pin and exclude (CLI and web alike)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from newsletter.errors import UnknownTopic
from newsletter.models import Article, ArticleTopic, Topic, TopicOrigin


@dataclass(frozen=True)
class ArticlePage:
    """One page of a search: the articles with their topics, and the total count."""

    rows: list[tuple[Article, list[str]]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the search has."""
        return max(1, -(-self.total // self.per_page))


def search_articles(
    session: Session,
    *,
    query: str = "",
    topic: str = "",
    flag: str = "",
    page: int = 1,
    per_page: int = 25,
) -> ArticlePage:
    """Articles whose title or source contains ``query``, in ``topic``, pinned or excluded."""
    conditions: list[Any] = []
    if query.strip():
        pattern = f"%{query.strip().lower()}%"
        conditions.append(
            func.lower(col(Article.title)).like(pattern)
            | func.lower(col(Article.source)).like(pattern)
        )
    if topic:
        tagged = select(ArticleTopic.article_id).where(ArticleTopic.topic == topic)
        conditions.append(col(Article.id).in_(tagged))
    if flag == "pinned":
        conditions.append(col(Article.pinned).is_(True))
    elif flag == "excluded":
        conditions.append(col(Article.excluded).is_(True))
    total = session.exec(select(func.count()).select_from(Article).where(*conditions)).one()
    page = max(1, page)
    articles = list(
        session.exec(
            select(Article)
            .where(*conditions)
            .order_by(col(Article.pinned).desc(), col(Article.published_at).desc())
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    topics: dict[int, list[str]] = {article.id or 0: [] for article in articles}
    for article_id, slug in session.exec(
        select(ArticleTopic.article_id, ArticleTopic.topic)
        .where(col(ArticleTopic.article_id).in_(list(topics)))
        .order_by(col(ArticleTopic.topic))
    ):
        topics[article_id].append(slug)
    return ArticlePage(
        rows=[(a, topics[a.id or 0]) for a in articles], total=total, page=page, per_page=per_page
    )


def _article(session: Session, article_id: int) -> Article:
    article = session.get(Article, article_id)
    if article is None:
        raise LookupError(f"unknown article {article_id}")
    return article


def set_article_topics(session: Session, *, article_id: int, topics: Sequence[str]) -> list[str]:
    """Replace an article's topics with ``topics`` (all must exist); marks them manual."""
    _article(session, article_id)
    known = set(session.exec(select(Topic.slug)))
    chosen = list(dict.fromkeys(t.strip().lower() for t in topics if t.strip()))
    for slug in chosen:
        if slug not in known:
            raise UnknownTopic(slug, sorted(known))
    session.execute(delete(ArticleTopic).where(col(ArticleTopic.article_id) == article_id))
    for slug in chosen:
        session.add(ArticleTopic(article_id=article_id, topic=slug, origin=TopicOrigin.MANUAL))
    session.flush()
    return chosen


def set_article_flags(
    session: Session, *, article_id: int, pinned: bool | None = None, excluded: bool | None = None
) -> Article:
    """Pin an article to the top of the next digests, or exclude it from digests."""
    article = _article(session, article_id)
    if pinned is not None:
        article.pinned = pinned
    if excluded is not None:
        article.excluded = excluded
    session.flush()
    return article
