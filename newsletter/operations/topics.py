"""Topics for editors: create and rename them, count their articles, train the classifier
(console, API and CLI)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func
from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.errors import NewsletterError, UnknownTopic
from newsletter.models import ArticleTopic, Topic

if TYPE_CHECKING:
    from newsletter.content.topic_model import TrainingReport
    from newsletter.runtime import Runtime


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


def all_topics(session: Session) -> list[Topic]:
    """Every topic, by slug."""
    return list(session.exec(select(Topic).order_by(col(Topic.slug))))


def topic_names(session: Session, slugs: Sequence[str]) -> dict[str, str]:
    """The names of these topics by slug (unknown slugs are left out)."""
    query = select(Topic.slug, Topic.name).where(col(Topic.slug).in_(slugs))
    return dict(session.exec(query).all())


# The use cases of the CLI (`newsletter topics`) and the console: each one transaction.


def ensure_topic(runtime: Runtime, *, slug: str, name: str = "") -> bool:
    """Create a topic unless it exists; whether it was created."""
    with session_scope(runtime.engine) as session:
        if session.get(Topic, check_slug(slug)) is not None:
            return False
        create_topic(session, slug=slug, name=name, now=runtime.clock())
        return True


def topics_with_counts(runtime: Runtime) -> list[TopicRow]:
    """Every topic with its article count."""
    with session_scope(runtime.engine) as session:
        return topic_rows(session)


def train_model(runtime: Runtime, *, labelled: Path | None = None) -> TrainingReport:
    """Train the topic classifier on a labelled CSV, or on the stored articles whose topics an
    editor or a feed gave, and save it where ingest looks for it."""
    from newsletter.content.topic_model import read_csv, stored_examples, train

    if labelled is not None:
        texts, labels = read_csv(labelled)
    else:
        with session_scope(runtime.engine) as session:
            texts, labels = stored_examples(session)
    return train(texts, labels, path=runtime.settings.content.topic_model_file)


def list_topics(runtime: Runtime) -> list[Topic]:
    """Every topic, by slug."""
    with session_scope(runtime.engine) as session:
        return all_topics(session)


def add_topic(runtime: Runtime, *, slug: str, name: str) -> Topic:
    """Create a topic (TopicError for a bad or taken slug)."""
    with session_scope(runtime.engine) as session:
        return create_topic(session, slug=slug, name=name, now=runtime.clock())


def rename(runtime: Runtime, *, slug: str, name: str) -> Topic:
    """Give a topic another name (UnknownTopic, TopicError)."""
    with session_scope(runtime.engine) as session:
        return rename_topic(session, slug=slug, name=name)


def names_of(runtime: Runtime, *, slugs: Sequence[str]) -> dict[str, str]:
    """The names of these topics by slug (unknown slugs are left out)."""
    with session_scope(runtime.engine) as session:
        return topic_names(session, slugs)
