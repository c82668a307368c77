"""Clean article drafts and store them once, merging topics of duplicates."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from newsletter.content.draft import ArticleDraft
from newsletter.content.fingerprint import BODY_PREFIX, NearDuplicates, story_fingerprint
from newsletter.content.language import detect_language
from newsletter.content.sanitize import html_to_text, sanitize_html
from newsletter.content.summary import plain_text, summarise
from newsletter.content.tagging import (
    Tagging,
    classifier_text,
    topics_from_categories,
    topics_from_classifier,
)
from newsletter.content.urls import canonical_url, site_name, web_url
from newsletter.errors import IngestError, UnknownTopic
from newsletter.models import Article, ArticleTopic, Topic, TopicOrigin

DEDUP_WINDOW = timedelta(days=3)  # near-duplicates are looked for among stories this close
MAX_CANDIDATES = 2000


@dataclass(frozen=True)
class IngestResult:
    """What one ingest did."""

    added: int
    duplicates: int
    article_ids: tuple[int, ...]
    classified: int = 0


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
    fingerprint: str
    language: str | None


@dataclass(frozen=True)
class Tag:
    """One topic for an article, and how it was found."""

    topic: str
    origin: TopicOrigin
    confidence: float | None = None


def clean_draft(draft: ArticleDraft, *, now: datetime) -> CleanArticle:
    """Sanitise, summarise and identify a draft (pure).

    Only http(s) links are kept (article and image); the source is a name (the feed's
    title, the site's name), never a path; the language is detected from the text.
    """
    url = web_url(draft.url)
    body_html = sanitize_html(draft.body_html, base_url=url)
    body_text = html_to_text(body_html)
    title = plain_text(sanitize_html(draft.title))
    summary_source = html_to_text(sanitize_html(draft.summary)) if draft.summary else ""
    language = detect_language(f"{title}\n{summary_source}\n{body_text}") or declared_language(
        draft.language
    )
    if not title and body_text:
        # RSS allows items with a description only: their first words stand in.
        title = summarise(body_text, limit=100, language=language)
    canonical = canonical_url(url) if url else None
    guid = draft.guid or canonical
    if guid is None:
        guid = "sha256:" + hashlib.sha256(f"{title}\n{body_text}".encode()).hexdigest()
    author = " ".join(html_to_text(sanitize_html(draft.author)).split()) if draft.author else ""
    return CleanArticle(
        guid=guid[:1000],
        canonical_url=canonical,
        url=url,
        title=title,
        summary=summarise(summary_source.strip() or body_text, language=language),
        body_html=body_html,
        body_text=body_text,
        source=source_name(draft.source, url)[:500],
        author=author[:500] or None,
        image_url=web_url(draft.image_url),
        published_at=draft.published_at or now,
        fingerprint=story_fingerprint(title, body_text),
        language=language,
    )


def source_name(source: str, url: str | None) -> str:
    """Return the name to show for where an article came from: never a path or a URL."""
    name = " ".join(html_to_text(source).split())
    looks_like_path = name.startswith(("/", "./", "../", "~", "file:", "\\")) or bool(
        re.match(r"[A-Za-z]:[\\/]", name)
    )
    if re.match(r"https?://", name, re.IGNORECASE):
        return site_name(name)
    if looks_like_path or not name:
        return site_name(url)
    return name


def declared_language(value: str | None) -> str | None:
    """Return the two-letter code of a declared language such as ``en-GB``, or None."""
    code = (value or "").strip().split("-")[0].split("_")[0].lower()
    return code if len(code) == 2 and code.isalpha() else None


def check_topics(session: Session, topics: Sequence[str]) -> list[str]:
    """Return the topic slugs, refusing any that do not exist."""
    wanted = [topic.strip().lower() for topic in topics if topic.strip()]
    known = set(session.exec(select(Topic.slug)))
    for topic in wanted:
        if topic not in known:
            raise UnknownTopic(topic, sorted(known))
    return list(dict.fromkeys(wanted))


def find_duplicate(
    session: Session,
    article: CleanArticle,
    *,
    window: timedelta = DEDUP_WINDOW,
    near: NearDuplicates | None = None,
) -> Article | None:
    """Return the stored article that is the same story: GUID, URL, fingerprint or near-copy.

    ``near`` holds the stories of the time window already loaded (``load_recent``); without
    it they are loaded for this one article.
    """
    conditions = [
        col(Article.guid) == article.guid,
        col(Article.fingerprint) == article.fingerprint,
    ]
    if article.canonical_url:
        conditions.append(col(Article.canonical_url) == article.canonical_url)
    same = session.exec(select(Article).where(or_(*conditions))).first()
    if same is not None:
        return same
    if near is None:
        near = load_recent(session, [article.published_at], window=window)
    key = near.find(article.title, article.body_text, article.published_at)
    return session.get(Article, key) if key is not None else None


def load_recent(
    session: Session, moments: Sequence[datetime], *, window: timedelta = DEDUP_WINDOW
) -> NearDuplicates:
    """Index the stored stories published within ``window`` of any of ``moments``."""
    near = NearDuplicates(window)
    if not moments:
        return near
    rows = session.exec(
        select(
            Article.id,
            Article.title,
            func.substr(Article.body_text, 1, BODY_PREFIX + 200),
            Article.published_at,
        )
        .where(
            col(Article.published_at) >= min(moments) - window,
            col(Article.published_at) <= max(moments) + window,
        )
        .order_by(col(Article.published_at).desc())
        .limit(MAX_CANDIDATES)
    )
    for article_id, title, text, published_at in rows:
        if article_id is not None:
            near.add(article_id, title, text or "", published_at)
    return near


def _add_tags(session: Session, article_id: int, tags: Sequence[Tag]) -> None:
    have = set(
        session.exec(select(ArticleTopic.topic).where(ArticleTopic.article_id == article_id))
    )
    for tag in tags:
        if tag.topic not in have:
            session.add(
                ArticleTopic(
                    article_id=article_id,
                    topic=tag.topic,
                    origin=tag.origin,
                    confidence=tag.confidence,
                )
            )
            have.add(tag.topic)


def _given_tags(
    draft: ArticleDraft,
    given: Sequence[str],
    origin: TopicOrigin,
    tagging: Tagging,
    known: set[str],
) -> list[Tag]:
    tags = [Tag(topic, origin) for topic in given]
    tags += [Tag(topic.lower(), TopicOrigin.FEED) for topic in draft.topics]
    mapped = topics_from_categories(draft.categories, tagging.category_map, known)
    tags += [Tag(topic, TopicOrigin.CATEGORY) for topic in mapped]
    unique: dict[str, Tag] = {}
    for tag in tags:
        unique.setdefault(tag.topic, tag)
    return list(unique.values())


def store_drafts(
    session: Session,
    drafts: Sequence[ArticleDraft],
    *,
    topics: Sequence[str],
    now: datetime,
    source: str,
    tagging: Tagging | None = None,
    origin: TopicOrigin = TopicOrigin.FEED,
) -> IngestResult:
    """Store drafts with their topics; re-ingesting the same input adds nothing.

    Every draft is cleaned and checked before the first row is written, so a bad input
    stores nothing (the caller's transaction covers the whole call).
    """
    tagging = tagging or Tagging()
    given = check_topics(session, topics)
    known = set(session.exec(select(Topic.slug)))
    prepared: list[tuple[CleanArticle, list[Tag]]] = []
    for draft in drafts:
        article = clean_draft(draft, now=now)
        if not article.title:
            raise IngestError(source, "an article has no title")
        unknown = [t for t in draft.topics if t.lower() not in known]
        if unknown:
            raise UnknownTopic(unknown[0], sorted(known))
        prepared.append((article, _given_tags(draft, given, origin, tagging, known)))
    added = duplicates = classified = 0
    ids: list[int] = []
    near = load_recent(session, [article.published_at for article, _ in prepared])
    for article, tags in prepared:
        existing = find_duplicate(session, article, near=near)
        if existing is not None and existing.id is not None:
            duplicates += 1
            _add_tags(session, existing.id, tags)
            continue
        # The model tags only the languages it was trained on: others keep their feed's topics.
        if not tags and tagging.model is not None:
            text = classifier_text(article.title, article.body_text, article.summary)
            suggested = topics_from_classifier(
                tagging.model,
                text,
                threshold=tagging.threshold,
                known=known,
                language=article.language,
            )
            tags = [Tag(topic, TopicOrigin.CLASSIFIER, round(p, 4)) for topic, p in suggested]
            classified += bool(tags)
        row = Article(**article.__dict__)
        session.add(row)
        session.flush()
        if row.id is None:
            raise RuntimeError("article flushed without an id")
        _add_tags(session, row.id, tags)
        session.flush()
        near.add(row.id, article.title, article.body_text, article.published_at)
        ids.append(row.id)
        added += 1
    return IngestResult(
        added=added, duplicates=duplicates, article_ids=tuple(ids), classified=classified
    )


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
