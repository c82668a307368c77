"""Feeds as configuration, fetched from a real HTTP server on loopback."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from newsletter.content.classifier import read_labelled_csv, train_classifier
from newsletter.content.sources import load_drafts
from newsletter.db import session_scope
from newsletter.errors import FeedNotFound, IngestError, UnknownTopic
from newsletter.models import Article, ArticleTopic, Feed
from newsletter.operations.feeds import (
    FeedResult,
    FetchStatus,
    add_feed,
    fetch_all,
    fetch_feed,
    find_feed,
    list_feeds,
    remove_feed,
)
from newsletter.runtime import Runtime
from tests.conftest import FIXTURES, NOW, make_runtime, make_settings
from tests.feedserver import FeedServer, Page
from tests.helpers import seed_topics

FEEDS = FIXTURES / "feeds"


@pytest.fixture
def server() -> Iterator[FeedServer]:
    served = FeedServer()
    served.start()
    yield served
    served.stop()


@pytest.fixture
def rt(sqlite_url: str, tmp_path: Path) -> Iterator[Runtime]:
    runtime = make_runtime(
        make_settings(
            sqlite_url,
            category_map={"Ukraine": "world", "nato": "world", "Engineering": "tech"},
            topic_model_path=tmp_path / "topics.model",
        )
    )
    seed_topics(runtime.engine, NOW, "world", "europe", "tech", "science", "sport", "business")
    yield runtime
    runtime.dispose()


def serve(server: FeedServer, path: str, fixture: str, **options: object) -> str:
    server.pages[path] = Page(body=(FEEDS / fixture).read_bytes(), **options)  # type: ignore[arg-type]
    return server.url(path)


def add(engine: Engine, url: str, *topics: str, name: str = "") -> int:
    with session_scope(engine) as session:
        feed = add_feed(session, url=url, topics=list(topics), name=name)
        if feed.id is None:
            raise RuntimeError("no id")
        return feed.id


def feed_row(engine: Engine, feed_id: int) -> Feed:
    with Session(engine) as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            raise LookupError(feed_id)
        return feed


def topics_by_title(engine: Engine) -> dict[str, dict[str, str]]:
    with Session(engine) as session:
        rows = session.exec(
            select(Article.title, ArticleTopic.topic, ArticleTopic.origin).join(
                ArticleTopic, ArticleTopic.article_id == Article.id, isouter=True
            )
        ).all()
    result: dict[str, dict[str, str]] = {}
    for title, topic, origin in rows:
        result.setdefault(title, {})
        if topic:
            result[title][topic] = origin
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_add_list_find_and_remove(rt: Runtime) -> None:
    first = add(rt.engine, "https://wire.example.com/world.rss", "world", name="Wire")
    second = add(rt.engine, "https://blog.example.com/atom.xml", "tech", "science")
    with session_scope(rt.engine) as session:
        assert [(f.id, f.name, f.topics) for f in list_feeds(session)] == [
            (first, "Wire", ["world"]),
            (second, "", ["tech", "science"]),
        ]
        assert find_feed(session, ref=str(second)).url == "https://blog.example.com/atom.xml"
        assert find_feed(session, ref="https://wire.example.com/world.rss").id == first
        remove_feed(session, ref="https://wire.example.com/world.rss")
    with session_scope(rt.engine) as session:
        assert [f.id for f in list_feeds(session)] == [second]
        with pytest.raises(FeedNotFound, match="unknown feed '99'"):
            find_feed(session, ref="99")


@pytest.mark.parametrize(
    ("url", "topics", "error", "match"),
    [
        ("https://x.example/feed", ["nope"], UnknownTopic, "unknown topic 'nope'"),
        ("ftp://x.example/feed", ["world"], IngestError, "must start with http"),
        (
            "https://wire.example.com/world.rss?utm_source=x",
            ["world"],
            IngestError,
            "already added",
        ),
    ],
)
def test_add_refuses_bad_feeds(
    rt: Runtime, url: str, topics: list[str], error: type[Exception], match: str
) -> None:
    add(rt.engine, "https://wire.example.com/world.rss", "world")
    with pytest.raises(error, match=match), session_scope(rt.engine) as session:
        add_feed(session, url=url, topics=topics)
    with Session(rt.engine) as session:
        assert len(session.exec(select(Feed)).all()) == 1


def test_second_fetch_is_conditional_and_adds_nothing(rt: Runtime, server: FeedServer) -> None:
    wire = add(rt.engine, serve(server, "/wire.rss", "world-wire.xml"), "world")
    atom = add(rt.engine, serve(server, "/blog.atom", "atom-html.xml", etag=False), "science")
    first = fetch_all(rt)
    assert [(r.feed_id, r.status, r.added) for r in first] == [
        (wire, FetchStatus.FETCHED, 2),
        (atom, FetchStatus.FETCHED, 2),
    ]
    second = fetch_all(rt)
    assert [(r.status, r.added) for r in second] == [(FetchStatus.NOT_MODIFIED, 0)] * 2
    wire_hits = [h for h in server.hits if h.path == "/wire.rss"]
    assert "if-none-match" not in wire_hits[0].headers
    assert wire_hits[1].headers["if-none-match"] == feed_row(rt.engine, wire).etag
    assert [h.status for h in wire_hits] == [200, 304]
    atom_hits = [h for h in server.hits if h.path == "/blog.atom"]
    assert atom_hits[1].headers["if-modified-since"] == "Tue, 24 Nov 2026 12:00:00 GMT"
    assert atom_hits[1].status == 304
    assert all(h.headers["user-agent"].startswith("newsletter/") for h in server.hits)
    state = feed_row(rt.engine, wire)
    assert state.article_count == 2
    assert state.last_success_at == NOW
    assert state.last_error is None
    assert state.name == "Example Wire: World"  # taken from the feed when none was given
    with Session(rt.engine) as session:
        assert len(session.exec(select(Article)).all()) == 4


def test_changed_feed_is_fetched_again(rt: Runtime, server: FeedServer) -> None:
    url = serve(server, "/tech.rss", "tech-rss2.xml")
    feed_id = add(rt.engine, url, "tech")
    assert fetch_feed(rt, feed_id).added == 4
    server.pages["/tech.rss"] = Page(body=(FEEDS / "rss091.xml").read_bytes())
    result = fetch_feed(rt, feed_id)
    assert (result.status, result.added) == (FetchStatus.FETCHED, 2)
    assert feed_row(rt.engine, feed_id).article_count == 6


def test_one_failing_feed_never_stops_the_others(rt: Runtime, server: FeedServer) -> None:
    missing = add(rt.engine, server.url("/gone.rss"), "world")
    broken = add(rt.engine, serve(server, "/broken.rss", "malformed.xml"), "world")
    html = add(
        rt.engine, serve(server, "/page", "not-a-feed.rss", content_type="text/html"), "tech"
    )
    refused = add(rt.engine, f"http://127.0.0.1:{free_port()}/feed", "world")
    server.pages["/huge.rss"] = Page(body=b"<rss>" + b" " * (5 * 1024 * 1024 + 10))
    huge = add(rt.engine, server.url("/huge.rss"), "world")
    good = add(rt.engine, serve(server, "/good.rss", "world-wire.xml"), "world")
    results = {r.feed_id: r for r in fetch_all(rt)}
    assert results[good] == FeedResult(good, server.url("/good.rss"), FetchStatus.FETCHED, 2)
    expected = {
        missing: "HTTP 404",
        broken: "not a well-formed feed and no entry is complete",
        html: "not a valid RSS or Atom feed",
        refused: "cannot fetch",
        huge: "larger than 5 MB",
    }
    for feed_id, reason in expected.items():
        assert results[feed_id].status is FetchStatus.FAILED
        assert reason in (results[feed_id].error or "")
        state = feed_row(rt.engine, feed_id)
        assert reason in (state.last_error or "")
        assert state.last_error_at == NOW
        assert state.last_success_at is None
        assert (state.etag, state.article_count) == (None, 0)


def test_same_story_through_two_feeds_is_stored_once_with_all_topics(
    rt: Runtime, server: FeedServer
) -> None:
    add(rt.engine, serve(server, "/wire.rss", "world-wire.xml"))
    add(rt.engine, serve(server, "/daily.rss", "world-daily.xml"), "europe")
    # One worker: the wire is stored first, so the stored copy is the wire's.
    results = fetch_all(rt, workers=1)
    assert [(r.added, r.duplicates) for r in results] == [(2, 0), (1, 1)]
    topics = topics_by_title(rt.engine)
    story = "NATO ministers agree new air-defence package for Ukraine"
    assert topics[story] == {"world": "category", "europe": "feed"}
    assert topics["Monsoon floods cut road links to mountain villages"] == {}
    with Session(rt.engine) as session:
        stored = session.exec(select(Article).where(Article.title == story)).one()
    assert stored.canonical_url == "https://wire.example.com/world/nato-air-defence"
    assert stored.fingerprint and len(stored.fingerprint) == 64
    assert stored.image_url == "https://wire.example.com/img/brussels.jpg"


def test_classifier_tags_only_confident_untagged_articles(rt: Runtime, server: FeedServer) -> None:
    texts, labels = read_labelled_csv(FIXTURES / "articles" / "labelled-topics.csv")
    train_classifier(texts, labels).save(rt.settings.content.topic_model_file)
    sport = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Results</title>
    <link>https://results.example.org/</link>
    <item><title>Striker scores twice as United win the derby</title>
    <link>https://results.example.org/derby</link>
    <description>The striker scored twice in the second half and the goalkeeper saved a
    penalty as United beat City in the league match.</description></item>
    <item><title>Lifeboat crew rescues two kayakers</title>
    <link>https://results.example.org/lifeboat</link>
    <description>Volunteers launched within six minutes.</description></item>
    </channel></rss>"""
    server.pages["/results.rss"] = Page(body=sport)
    add(rt.engine, server.url("/results.rss"))
    (result,) = fetch_all(rt)
    assert (result.added, result.classified) == (2, 1)
    with Session(rt.engine) as session:
        rows = session.exec(select(ArticleTopic)).all()
    assert [(r.topic, r.origin) for r in rows] == [("sport", "classifier")]
    assert rows[0].confidence is not None and 0.6 <= rows[0].confidence <= 1


def test_fetch_all_runs_from_another_thread(rt: Runtime, server: FeedServer) -> None:
    add(rt.engine, serve(server, "/wire.rss", "world-wire.xml"), "world")
    add(rt.engine, serve(server, "/tech.rss", "tech-rss2.xml"), "tech")
    outcome: list[list[FeedResult]] = []
    workers = [threading.Thread(target=lambda: outcome.append(fetch_all(rt))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert len(outcome) == 2
    with Session(rt.engine) as session:
        assert len(session.exec(select(Article)).all()) == 6


def test_ingest_by_url_takes_a_feed_or_an_article_page(server: FeedServer) -> None:
    page = (FIXTURES / "articles" / "harbour-wind-farm.html").read_bytes()
    server.pages["/story.html"] = Page(page, content_type="text/html; charset=utf-8")
    server.pages["/feed"] = Page((FEEDS / "rss091.xml").read_bytes())
    server.pages["/data.bin"] = Page(b"\x00\x01\x02", content_type="application/octet-stream")
    (article,) = load_drafts(server.url("/story.html"))
    assert article.title == "Offshore wind farm gets green light despite fishing fears"
    assert [d.url for d in load_drafts(server.url("/feed"))][0] == server.url(
        "/news/lifeboat-kayakers.html"
    )
    with pytest.raises(IngestError, match="neither an RSS or Atom feed nor an HTML page"):
        load_drafts(server.url("/data.bin"))
    with pytest.raises(IngestError, match="HTTP 404"):
        load_drafts(server.url("/nothing"))


def test_a_slow_feed_times_out_and_the_next_one_is_fetched(
    sqlite_url: str, server: FeedServer
) -> None:
    runtime = make_runtime(make_settings(sqlite_url, feed_timeout=1.0))
    seed_topics(runtime.engine, NOW, "world")
    server.pages["/slow.rss"] = Page((FEEDS / "rss091.xml").read_bytes(), delay=3.0)
    slow = add(runtime.engine, server.url("/slow.rss"), "world")
    add(runtime.engine, serve(server, "/wire.rss", "world-wire.xml"), "world")
    results = fetch_all(runtime)
    assert [r.status for r in results] == [FetchStatus.FAILED, FetchStatus.FETCHED]
    assert "cannot fetch" in (feed_row(runtime.engine, slow).last_error or "")
    runtime.dispose()
