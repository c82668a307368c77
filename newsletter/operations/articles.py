"""Editorial actions on stored articles: ingest one, tag, pin, exclude, find (for the CLI, the
web console and the HTTP API)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, delete, select

from newsletter.content.articlefile import Overrides, parse_article_file
from newsletter.content.draft import ArticleDraft
from newsletter.content.sources import load_drafts
from newsletter.content.store import IngestResult, check_topics, store_drafts, topics_of
from newsletter.content.topic_model import load_tagging
from newsletter.db import session_scope
from newsletter.errors import ArticleNotFound, IngestError
from newsletter.models import Article, ArticleTopic, Topic, TopicOrigin
from newsletter.operations.topics import all_topics
from newsletter.runtime import Runtime


@dataclass(frozen=True)
class ArticleTag:
    """One topic of an article, how it was assigned and the classifier's confidence."""

    topic: str
    origin: str
    confidence: float | None


def get_article(session: Session, *, article_id: int) -> Article:
    """The article with this id."""
    article = session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound(article_id)
    return article


def article_tags(session: Session, *, article_id: int) -> list[ArticleTag]:
    """The article's topics with their origins, by topic name."""
    rows = session.exec(
        select(ArticleTopic)
        .where(ArticleTopic.article_id == article_id)
        .order_by(col(ArticleTopic.topic))
    )
    return [ArticleTag(row.topic, row.origin, row.confidence) for row in rows]


def set_topics(session: Session, *, article_id: int, topics: Sequence[str]) -> list[str]:
    """Replace the article's topics by an editor's choice (origin ``manual``)."""
    get_article(session, article_id=article_id)
    slugs = check_topics(session, topics)
    current = {tag.topic: tag for tag in article_tags(session, article_id=article_id)}
    session.exec(  # type: ignore[call-overload]
        delete(ArticleTopic).where(
            col(ArticleTopic.article_id) == article_id, col(ArticleTopic.topic).not_in(slugs)
        )
    )
    for slug in slugs:
        if slug not in current:
            session.add(ArticleTopic(article_id=article_id, topic=slug, origin=TopicOrigin.MANUAL))
    session.flush()
    return slugs


def pin(session: Session, *, article_id: int, pinned: bool) -> Article:
    """Pin an article (always offered to digests of its topics) or unpin it."""
    article = get_article(session, article_id=article_id)
    article.pinned = pinned
    session.add(article)
    session.flush()
    return article


def exclude(session: Session, *, article_id: int, excluded: bool) -> Article:
    """Keep an article out of every digest, or let it back in."""
    article = get_article(session, article_id=article_id)
    article.excluded = excluded
    session.add(article)
    session.flush()
    return article


def search_articles(
    session: Session,
    *,
    text: str | None = None,
    topic: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Article]:
    """Articles whose title, summary or body contain ``text``, in ``topic``, newest first."""
    query = select(Article)
    if topic:
        query = query.where(
            col(Article.id).in_(
                select(ArticleTopic.article_id).where(ArticleTopic.topic == topic.lower())
            )
        )
    if text and text.strip():
        needle = f"%{_escape_like(text.strip().lower())}%"
        query = query.where(
            or_(
                func.lower(Article.title).like(needle, escape="\\"),
                func.lower(Article.summary).like(needle, escape="\\"),
                func.lower(Article.body_text).like(needle, escape="\\"),
            )
        )
    query = query.order_by(col(Article.published_at).desc(), col(Article.id).desc())
    return list(session.exec(query.offset(max(offset, 0)).limit(max(min(limit, 1000), 0))))


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


def article_page(
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
        pattern = f"%{_escape_like(query.strip().lower())}%"
        conditions.append(
            func.lower(col(Article.title)).like(pattern, escape="\\")
            | func.lower(col(Article.source)).like(pattern, escape="\\")
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


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


ARTICLE_FORMATS = {"html": ".html", "markdown": ".md", "text": ".txt"}


def ingest_article(
    runtime: Runtime,
    *,
    url: str | None = None,
    body: str | None = None,
    body_format: str = "html",
    topics: Sequence[str] = (),
    published_at: datetime | None = None,
) -> IngestResult:
    """Ingest a feed or page fetched from ``url``, or one article given as ``body`` (HTML,
    Markdown or text); the same path as ``newsletter ingest``. Re-ingesting adds nothing."""
    source = url or "request body"
    if (url is None) == (body is None):
        raise IngestError(source, "give either a url or a body")
    if url is not None and not url.startswith(("http://", "https://")):
        raise IngestError(url, "the url must start with http:// or https://")
    overrides = Overrides(published_at=published_at)
    if body is not None:
        suffix = ARTICLE_FORMATS.get(body_format)
        if suffix is None:
            raise IngestError(source, f"format must be one of {', '.join(ARTICLE_FORMATS)}")
        drafts = [
            parse_article_file(
                body.encode("utf-8"), source=source, suffix=suffix, overrides=overrides
            )
        ]
    else:
        drafts = load_drafts(source, overrides=overrides)
    return _store(runtime, drafts, topics=topics, source=source)


def ingest_source(
    runtime: Runtime, *, target: str, topics: Sequence[str] = (), overrides: Overrides
) -> tuple[IngestResult, int]:
    """Ingest a feed (URL or file), a JSON file or one article file, as ``newsletter ingest``
    does; returns what was stored and how many articles the input held."""
    drafts = load_drafts(target, overrides=overrides)
    return _store(runtime, drafts, topics=topics, source=target), len(drafts)


def _store(
    runtime: Runtime, drafts: Sequence[ArticleDraft], *, topics: Sequence[str], source: str
) -> IngestResult:
    """Store parsed articles in one transaction; topics given for a single article are the
    editor's (manual), for a feed the feed's."""
    tagging = load_tagging(runtime.settings)
    with session_scope(runtime.engine) as session:
        return store_drafts(
            session,
            list(drafts),
            topics=list(topics),
            now=runtime.clock(),
            source=source,
            tagging=tagging,
            origin=TopicOrigin.MANUAL if len(drafts) == 1 and topics else TopicOrigin.FEED,
        )


# The use cases of the CLI (`newsletter articles`), the console and the API: each one
# transaction.


def listed_articles(
    runtime: Runtime, *, text: str | None, topic: str | None, limit: int, offset: int
) -> list[tuple[Article, list[str]]]:
    """Articles matching ``text`` and ``topic``, newest first, each with its topics."""
    with session_scope(runtime.engine) as session:
        articles = search_articles(session, text=text, topic=topic, limit=limit, offset=offset)
        topics = topics_of(session, [a.id for a in articles if a.id is not None])
    return [(a, topics.get(a.id or 0, [])) for a in articles]


def article_detail(runtime: Runtime, *, article_id: int) -> tuple[Article, list[ArticleTag]]:
    """One article with its topics and where each came from."""
    with session_scope(runtime.engine) as session:
        return get_article(session, article_id=article_id), article_tags(
            session, article_id=article_id
        )


def set_flags(
    runtime: Runtime,
    *,
    article_id: int,
    pinned: bool | None = None,
    excluded: bool | None = None,
) -> None:
    """Pin or unpin, exclude or include an article."""
    with session_scope(runtime.engine) as session:
        if pinned is not None:
            pin(session, article_id=article_id, pinned=pinned)
        if excluded is not None:
            exclude(session, article_id=article_id, excluded=excluded)


def retag(runtime: Runtime, *, article_id: int, topics: Sequence[str]) -> list[str]:
    """Replace an article's topics (recorded as manual); returns the new ones."""
    with session_scope(runtime.engine) as session:
        return set_topics(session, article_id=article_id, topics=topics)


@dataclass(frozen=True)
class ArticlesPage:
    """The console's articles page: one page of a search and every topic to filter by."""

    found: ArticlePage
    topics: list[Topic]


def browse_articles(
    runtime: Runtime, *, query: str = "", topic: str = "", flag: str = "", page: int = 1
) -> ArticlesPage:
    """One page of articles by text, topic and flag, and the topics to choose from."""
    with session_scope(runtime.engine) as session:
        found = article_page(session, query=query, topic=topic, flag=flag, page=page)
        return ArticlesPage(found=found, topics=all_topics(session))


def edit_article(
    runtime: Runtime,
    *,
    article_id: int,
    topics: Sequence[str] | None = None,
    pinned: bool | None = None,
    excluded: bool | None = None,
) -> tuple[Article, list[str]]:
    """Retag, pin or unpin, exclude or include an article in one transaction; the article and
    its topics after."""
    with session_scope(runtime.engine) as session:
        if topics is not None:
            set_topics(session, article_id=article_id, topics=topics)
        if pinned is not None:
            pin(session, article_id=article_id, pinned=pinned)
        if excluded is not None:
            exclude(session, article_id=article_id, excluded=excluded)
        article = get_article(session, article_id=article_id)
        return article, topics_of(session, [article_id]).get(article_id, [])
