"""Small builders shared by tests: topics, a list, subscribers, articles."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import session_scope
from newsletter.models import Topic
from subscribers import service
from subscribers.models import MailingList


def seed_topics(engine: Engine, now: datetime, *slugs: str) -> None:
    """Create topics."""
    with session_scope(engine) as session:
        for slug in slugs:
            session.add(Topic(slug=slug, name=slug.title(), created_at=now))


def seed_list(engine: Engine, now: datetime, topics: list[str], slug: str = "daily") -> MailingList:
    """Create topics and a list offering them."""
    seed_topics(engine, now, *topics)
    with session_scope(engine) as session:
        return service.create_list(
            session,
            slug=slug,
            name="Example Daily",
            from_name="Example Newsroom",
            from_address="digest@news.example.org",
            topics=topics,
        )


def subscribe(
    engine: Engine,
    now: datetime,
    email: str,
    topics: list[str],
    name: str = "",
    slug: str = "daily",
) -> None:
    """Subscribe an address with chosen topics, active at once."""
    with session_scope(engine) as session:
        mailing_list = service.get_list(session, slug=slug)
        service.add_subscriber(
            session,
            mailing_list=mailing_list,
            email=email,
            now=now,
            name=name,
            topics=topics,
            confirmed=True,
            by_admin=True,
        )


def add_articles(
    engine: Engine, now: datetime, topic_sets: list[list[str]], *, hours_ago: int = 1
) -> list[int]:
    """Store one article per entry of ``topic_sets``, each an hour older than the previous."""
    ids = []
    with session_scope(engine) as session:
        for index, topics in enumerate(topic_sets):
            draft = ArticleDraft(
                title=f"Story {index} about {' and '.join(topics)}",
                body_html=f"<p>Body of story {index}.</p>",
                published_at=now - timedelta(hours=hours_ago + index),
                url=f"https://news.example.org/story-{index}-{'-'.join(topics)}",
                summary=f"Summary of story {index}.",
                topics=tuple(topics),
            )
            result = store_drafts(session, [draft], topics=[], now=now, source="test")
            ids.extend(result.article_ids)
    return ids
