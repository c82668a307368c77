"""Topics for editors: create and rename them, count their articles (console and API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from newsletter.errors import NewsletterError, UnknownTopic
from newsletter.models import ArticleTopic, Topic


class TopicError(NewsletterError, ValueError):
    """A topic that cannot be created or renamed; the message says why."""


@dataclass(frozen=True)
class TopicRow:
    """A topic with how many articles carry it."""

    slug: str
    name: str
    articles: int


def check_slug(slug: str) -> str:
    """A topic slug: lower-case letters, digits, - and _."""
    cleaned = slug.strip().lower()
    if not cleaned or len(cleaned) > 64 or not all(ch.isalnum() or ch in "-_" for ch in cleaned):
        raise TopicError(f"a topic slug uses letters, digits, - and _ only, not {slug!r}")
    return cleaned


def create_topic(session: Session, *, slug: str, name: str, now: datetime) -> Topic:
    """Create a topic; refuses a slug that exists."""
    cleaned = check_slug(slug)
    if session.get(Topic, cleaned) is not None:
        raise TopicError(f"topic {cleaned!r} already exists")
    label = " ".join(name.split())[:200] or cleaned.replace("-", " ").title()
    topic = Topic(slug=cleaned, name=label, created_at=now)
    session.add(topic)
    session.flush()
    return topic


def rename_topic(session: Session, *, slug: str, name: str) -> Topic:
    """Give a topic another display name (its slug, used everywhere, stays)."""
    topic = session.get(Topic, slug)
    if topic is None:
        raise UnknownTopic(slug)
    label = " ".join(name.split())[:200]
    if not label:
        raise TopicError("a topic needs a name")
    topic.name = label
    session.flush()
    return topic


def topic_rows(session: Session) -> list[TopicRow]:
    """Every topic with its article count (one grouped query)."""
    counts = dict(
        session.exec(
            select(ArticleTopic.topic, func.count()).group_by(col(ArticleTopic.topic))
        ).all()
    )
    return [
        TopicRow(slug=t.slug, name=t.name, articles=int(counts.get(t.slug, 0)))
        for t in session.exec(select(Topic).order_by(col(Topic.slug)))
    ]
