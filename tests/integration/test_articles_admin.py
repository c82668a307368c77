"""Editorial helpers on SQLite and PostgreSQL: tag, pin, exclude, search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import make_engine, session_scope
from newsletter.errors import ArticleNotFound, UnknownTopic
from newsletter.models import TopicOrigin
from newsletter.operations.articles import (
    article_tags,
    exclude,
    get_article,
    pin,
    search_articles,
    set_topics,
)
from newsletter.operations.feeds import fetch_all
from tests.conftest import NOW, make_runtime, make_settings
from tests.feedserver import FeedServer, Page
from tests.helpers import seed_topics
from tests.integration.test_feeds import FEEDS, add


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    seed_topics(engine, NOW, "world", "tech", "science")
    drafts = [
        ArticleDraft(
            title=title,
            body_html=f"<p>{body}</p>",
            published_at=NOW - timedelta(hours=index),
            url=f"https://news.example.org/{index}",
            topics=tuple(topics),
        )
        for index, (title, body, topics) in enumerate(
            [
                (
                    "Rocket launch delayed",
                    "High winds at the pad; 50% chance tomorrow.",
                    ["science"],
                ),
                ("Chip prices fall", "Memory makers cut prices as demand slows.", ["tech"]),
                ("Summit ends", "Leaders agree on a rocket-free zone_plan.", ["world"]),
            ]
        )
    ]
    with session_scope(engine) as session:
        store_drafts(session, drafts, topics=[], now=NOW, source="test")
    yield engine
    engine.dispose()


def test_set_topics_replaces_and_records_manual(db: Engine) -> None:
    with session_scope(db) as session:
        assert set_topics(session, article_id=1, topics=["World", "tech", "tech"]) == [
            "world",
            "tech",
        ]
    with session_scope(db) as session:
        tags = article_tags(session, article_id=1)
    assert [(t.topic, t.origin) for t in tags] == [
        ("tech", TopicOrigin.MANUAL),
        ("world", TopicOrigin.MANUAL),
    ]
    with pytest.raises(UnknownTopic), session_scope(db) as session:
        set_topics(session, article_id=1, topics=["nope"])
    with pytest.raises(ArticleNotFound), session_scope(db) as session:
        set_topics(session, article_id=99, topics=["tech"])
    with session_scope(db) as session:
        set_topics(session, article_id=1, topics=[])
        assert article_tags(session, article_id=1) == []


def test_pin_and_exclude(db: Engine) -> None:
    with session_scope(db) as session:
        pin(session, article_id=2, pinned=True)
        exclude(session, article_id=3, excluded=True)
    with session_scope(db) as session:
        assert get_article(session, article_id=2).pinned
        assert get_article(session, article_id=3).excluded
        pin(session, article_id=2, pinned=False)
        exclude(session, article_id=3, excluded=False)
    with session_scope(db) as session:
        assert not get_article(session, article_id=2).pinned
        assert not get_article(session, article_id=3).excluded
    with pytest.raises(ArticleNotFound, match="unknown article 42"), session_scope(db) as session:
        pin(session, article_id=42, pinned=True)


def test_search_by_text_topic_and_page(db: Engine) -> None:
    with session_scope(db) as session:
        titles = lambda **kw: [a.title for a in search_articles(session, **kw)]  # noqa: E731
        assert titles() == ["Rocket launch delayed", "Chip prices fall", "Summit ends"]
        assert titles(text="ROCKET") == ["Rocket launch delayed", "Summit ends"]
        assert titles(text="rocket", topic="world") == ["Summit ends"]
        assert titles(text="50%") == ["Rocket launch delayed"]  # % is literal, not a wildcard
        assert titles(text="t_p") == []  # _ is literal too ("cut prices" would match)
        assert titles(text="zone_plan") == ["Summit ends"]
        assert titles(limit=1, offset=1) == ["Chip prices fall"]


def test_fetch_all_dedups_on_this_database(database_url: str) -> None:
    runtime = make_runtime(make_settings(database_url, category_map={"ukraine": "world"}))
    seed_topics(runtime.engine, NOW, "world", "europe")
    server = FeedServer()
    server.start()
    try:
        server.pages["/a"] = Page((FEEDS / "world-wire.xml").read_bytes())
        server.pages["/b"] = Page((FEEDS / "world-daily.xml").read_bytes())
        add(runtime.engine, server.url("/a"))
        add(runtime.engine, server.url("/b"), "europe")
        # Fetched side by side: either feed may be stored first.
        outcome = sorted((r.added, r.duplicates) for r in fetch_all(runtime))
        assert outcome == [(1, 1), (2, 0)]
        assert [(r.added, r.status) for r in fetch_all(runtime)] == [(0, "not-modified")] * 2
    finally:
        server.stop()
        runtime.dispose()
