"""Clean article drafts and store them once, merging topics of duplicates."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from newsletter.articles import ArticleDraft
from newsletter.errors import IngestError, UnknownTopic
from newsletter.ingest.sanitize import html_to_text, sanitize_html
from newsletter.ingest.summary import summarise
from newsletter.ingest.urls import canonical_url
from newsletter.models import Article, ArticleTopic, Topic, TopicOrigin


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did."""

    added: int
    duplicates: int
    article_ids: tuple[int, ...]


@dataclass(frozen=True)
class CleanArticle:
    """A draft after cleaning: what goes into the articles table."""

    guid: str
    canonical_url: str | None
    url: str | None
    title: str
    summary: str
    body_html: str
    body_text: str
    source: str
    author: str | None
    image_url: str | None
    published_at: datetime


def clean_draft(draft: ArticleDraft, *, now: datetime) -> CleanArticle:
    """Sanitise, summarise and identify a draft (pure)."""
    body_html = sanitize_html(draft.body_html, base_url=draft.url)
    body_text = html_to_text(body_html)
    title = html_to_text(sanitize_html(draft.title)) or draft.title
    title = " ".join(title.split())
    summary_source = html_to_text(sanitize_html(draft.summary)) if draft.summary else body_text
    canonical = canonical_url(draft.url) if draft.url else None
    guid = draft.guid or canonical
    if guid is None:
        guid = "sha256:" + hashlib.sha256(f"{title}\n{body_text}".encode()).hexdigest()
    return CleanArticle(
        guid=guid[:1000],
        canonical_url=canonical,
        url=draft.url,
        title=title,
        summary=summarise(summary_source or body_text),
        body_html=body_html,
        body_text=body_text,
        source=draft.source[:500],
        author=draft.author,
        image_url=draft.image_url,
        published_at=draft.published_at or now,
    )


def check_topics(session: Session, topics: Sequence[str]) -> list[str]:
    """Return the topic slugs, refusing any that do not exist."""
    wanted = [topic.strip().lower() for topic in topics if topic.strip()]
    known = set(session.exec(select(Topic.slug)))
    for topic in wanted:
        if topic not in known:
            raise UnknownTopic(topic, sorted(known))
    return list(dict.fromkeys(wanted))


def _find_existing(session: Session, article: CleanArticle) -> Article | None:
    conditions = [Article.guid == article.guid]
    if article.canonical_url:
        conditions.append(Article.canonical_url == article.canonical_url)
    from sqlalchemy import or_

    return session.exec(select(Article).where(or_(*conditions))).first()


def _add_topics(
    session: Session, article_id: int, topics: Sequence[str], origin: TopicOrigin
) -> None:
    have = set(
        session.exec(select(ArticleTopic.topic).where(ArticleTopic.article_id == article_id))
    )
    for topic in topics:
        if topic not in have:
            session.add(ArticleTopic(article_id=article_id, topic=topic, origin=origin))
            have.add(topic)


def store_drafts(
    session: Session,
    drafts: Sequence[ArticleDraft],
    *,
    topics: Sequence[str],
    now: datetime,
    source: str,
) -> IngestResult:
    """Store drafts with their topics; re-ingesting the same input adds nothing."""
    feed_topics = check_topics(session, topics)
    known = set(session.exec(select(Topic.slug)))
    added = duplicates = 0
    ids: list[int] = []
    seen: set[str] = set()
    for draft in drafts:
        article = clean_draft(draft, now=now)
        if not article.title:
            raise IngestError(source, "an article has no title")
        draft_topics = [t.lower() for t in draft.topics]
        unknown = [t for t in draft_topics if t not in known]
        if unknown:
            raise UnknownTopic(unknown[0], sorted(known))
        all_topics = list(dict.fromkeys(feed_topics + draft_topics))
        key = article.canonical_url or article.guid
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        existing = _find_existing(session, article)
        if existing is not None and existing.id is not None:
            duplicates += 1
            _add_topics(session, existing.id, all_topics, TopicOrigin.FEED)
            continue
        row = Article(**article.__dict__)
        session.add(row)
        session.flush()
        if row.id is None:
            raise RuntimeError("article flushed without an id")
        _add_topics(session, row.id, all_topics, TopicOrigin.FEED)
        ids.append(row.id)
        added += 1
    session.flush()
    return IngestResult(added=added, duplicates=duplicates, article_ids=tuple(ids))


def topics_of(session: Session, article_ids: Sequence[int]) -> dict[int, list[str]]:
    """Map article ids to their topic slugs."""
    result: dict[int, list[str]] = {article_id: [] for article_id in article_ids}
    rows = session.exec(
        select(ArticleTopic.article_id, ArticleTopic.topic).where(
            col(ArticleTopic.article_id).in_(list(article_ids))
        )
    )
    for article_id, topic in rows:
        result[article_id].append(topic)
    return result
