"""What a feed's content becomes once stored: complete entries, web links, one copy per story.

Feeds come from a real HTTP server on loopback and go into a real database; assertions
are on the rows stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, col, select

from newsletter.content.articlefile import parse_article_file
from newsletter.content.draft import ArticleDraft
from newsletter.content.feeds import read_feed
from newsletter.content.jsonfile import parse_json_articles
from newsletter.content.language import detect_language
from newsletter.content.store import clean_draft, source_name
from newsletter.content.summary import strip_read_more, summarise
from newsletter.content.urls import web_url
from newsletter.db import session_scope
from newsletter.errors import IngestError
from newsletter.models import Article, Feed
from newsletter.operations.feeds import FetchStatus, add_feed, fetch_feed
from newsletter.runtime import Runtime
from tests.conftest import FIXTURES, NOW, make_runtime, make_settings
from tests.feedserver import FeedServer, Page
from tests.helpers import seed_topics

STORY = (
    "Ministers from the alliance agreed on Thursday to send a further package of air "
    "defence systems, including two medium-range batteries and several hundred "
    "interceptor missiles, before the winter. The package was agreed at a meeting in "
    "Brussels that ran late into the evening, officials said."
)
REWORDED = (
    "Defence ministers from the alliance agreed on Thursday to send a further package of "
    "air defence systems, including two medium-range batteries and several hundred "
    "interceptor missiles, before the winter. The package was agreed at a meeting in "
    "Brussels that ran late into the night, officials told reporters."
)
OTHER = (
    "Heavy monsoon rain has cut the main road to a string of mountain villages for the "
    "third time this month, and the regional government has asked the army for "
    "helicopters to carry food and medicine to the families who remain."
)


def rss(title: str, items: list[tuple[str, str, str, str]], language: str = "") -> bytes:
    """An RSS 2.0 feed of (title, link, date, description) items."""
    lang = f"<language>{language}</language>" if language else ""
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><pubDate>{date}</pubDate>"
        f"<description><![CDATA[{text}]]></description></item>"
        for t, link, date, text in items
    )
    head = f"<title>{title}</title>" if title else ""
    return f'<rss version="2.0"><channel>{head}{lang}{body}</channel></rss>'.encode()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    served = FeedServer()
    served.start()
    yield served
    served.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def rt_any(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """A runtime on each database (the near-duplicate query runs on both)."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    runtime = make_runtime(make_settings(str(url)))
    seed_topics(runtime.engine, NOW, "world")
    yield runtime
    runtime.dispose()


@pytest.fixture
def rt(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(make_settings(sqlite_url))
    seed_topics(runtime.engine, NOW, "world")
    yield runtime
    runtime.dispose()


def fetch(rt: Runtime, server: FeedServer, path: str, data: bytes) -> tuple[FetchStatus, str]:
    server.pages[path] = Page(data)
    with session_scope(rt.engine) as session:
        feed = add_feed(session, url=server.url(path), topics=["world"])
        feed_id = feed.id or 0
    result = fetch_feed(rt, feed_id)
    return result.status, result.error or result.note or ""


def articles(rt: Runtime) -> list[Article]:
    with Session(rt.engine) as session:
        return list(session.exec(select(Article).order_by(col(Article.id))))


DATE = "Thu, 26 Nov 2026 18:00:00 GMT"
LATER = "Fri, 27 Nov 2026 07:30:00 GMT"
MUCH_LATER = "Thu, 10 Dec 2026 07:30:00 GMT"


def test_a_reworded_story_from_a_second_feed_is_stored_once(
    rt_any: Runtime, server: FeedServer
) -> None:
    rt = rt_any
    wire = rss("World Wire", [("Allies agree air-defence package", "https://wire.example/a1",
                              DATE, STORY)])  # fmt: skip
    daily = rss("The Daily", [("Ukraine to get more missiles before winter",
                               "https://daily.example/news/123", LATER, REWORDED),
                              ("Floods cut off villages", "https://daily.example/news/124",
                               LATER, OTHER)])  # fmt: skip
    assert fetch(rt, server, "/wire", wire)[0] is FetchStatus.FETCHED
    assert fetch(rt, server, "/daily", daily)[0] is FetchStatus.FETCHED
    stored = articles(rt)
    assert [a.title for a in stored] == [
        "Allies agree air-defence package",
        "Floods cut off villages",
    ]
    assert [a.source for a in stored] == ["World Wire", "The Daily"]


def test_the_same_body_weeks_apart_is_a_new_story(rt: Runtime, server: FeedServer) -> None:
    first = rss("Wire", [("Package agreed", "https://wire.example/a1", DATE, STORY)])
    again = rss("Daily", [("Package agreed again", "https://daily.example/b", MUCH_LATER,
                           REWORDED)])  # fmt: skip
    fetch(rt, server, "/one", first)
    fetch(rt, server, "/two", again)
    assert len(articles(rt)) == 2


def test_a_truncated_feed_stores_only_its_complete_entries(rt: Runtime, server: FeedServer) -> None:
    whole = rss("Wire", [("Package agreed", "https://wire.example/a1", DATE, STORY),
                         ("Floods", "https://wire.example/a2", DATE, OTHER)])  # fmt: skip
    cut = whole[: whole.index(b"<link>https://wire.example/a2") + 12]
    status, note = fetch(rt, server, "/cut", cut)
    assert status is FetchStatus.FETCHED
    assert note == "not well-formed: 1 incomplete entries dropped"
    stored = articles(rt)
    assert [(a.title, a.url) for a in stored] == [("Package agreed", "https://wire.example/a1")]
    assert stored[0].body_text.startswith("Ministers from the alliance")


def test_a_broken_feed_without_complete_entries_is_refused_with_one_line(
    rt: Runtime, server: FeedServer
) -> None:
    cut = rss("Wire", [("Package agreed", "https://wire.example/a1", DATE, STORY)])[:80]
    status, error = fetch(rt, server, "/cut", cut)
    assert status is FetchStatus.FAILED
    assert error.startswith("not a")
    assert "\n" not in error
    assert articles(rt) == []
    with Session(rt.engine) as session:
        (feed,) = session.exec(select(Feed)).all()
    assert feed.last_error == error


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(document.cookie)", "data:text/html,<script>x</script>",
     "file:///etc/passwd", "vbscript:msgbox(1)", "  JaVaScRiPt:alert(1)"],
)  # fmt: skip
def test_only_web_links_are_stored(rt: Runtime, server: FeedServer, link: str) -> None:
    feed = rss("Wire", [("Package agreed", link.replace("<", "&lt;"), DATE, STORY)])
    assert fetch(rt, server, "/feed", feed)[0] is FetchStatus.FETCHED
    (stored,) = articles(rt)
    assert stored.url is None and stored.canonical_url is None
    assert not stored.guid.lower().lstrip().startswith(("javascript", "data", "file", "vb"))


def test_a_feed_without_a_title_is_named_after_its_site(rt: Runtime, server: FeedServer) -> None:
    feed = rss("", [("Package agreed", "https://www.wire.example/a1", DATE, STORY)])
    fetch(rt, server, "/untitled", feed)
    (stored,) = articles(rt)
    assert stored.source == "127.0.0.1"  # the feed's own site: it has no <link>


def test_read_more_tails_are_stripped_from_stored_summaries(
    rt: Runtime, server: FeedServer
) -> None:
    text = STORY + ' <a href="https://wire.example/a1">Read more »</a>'
    fetch(rt, server, "/feed", rss("Wire", [("Package", "https://wire.example/a1", DATE, text)]))
    (stored,) = articles(rt)
    assert "Read more" not in stored.summary
    assert stored.summary.endswith(("winter.", "said.", "…"))


def test_language_is_stored_per_article(rt: Runtime, server: FeedServer) -> None:
    french = (
        "Le conseil municipal a voté mardi soir la construction de douze kilomètres de "
        "pistes cyclables séparées de la chaussée, la plus grande extension du réseau."
    )
    feed = rss("Mixed", [("Package agreed", "https://wire.example/a1", DATE, STORY),
                         ("Pistes cyclables", "https://wire.example/a2", DATE, french),
                         ("Ok", "https://wire.example/a3", DATE, "Ok.")],
               language="de")  # fmt: skip
    fetch(rt, server, "/feed", feed)
    # Detected from the text; the feed's declared language only when the text is too short.
    assert [a.language for a in articles(rt)] == ["en", "fr", "de"]


@pytest.mark.parametrize(
    ("source", "url", "expected"),
    [
        ("/srv/news/feeds/world.json", "https://news.example.org/x", "news.example.org"),
        ("C:\\feeds\\world.json", None, ""),
        ("https://www.gazette.example/rss", None, "gazette.example"),
        ("The Gazette", "https://gazette.example/x", "The Gazette"),
        ("", "https://www.gazette.example/x", "gazette.example"),
    ],
)
def test_a_source_is_a_name_never_a_path(source: str, url: str | None, expected: str) -> None:
    assert source_name(source, url) == expected
    draft = ArticleDraft(title="T", body_html="<p>x</p>", published_at=None, source=source, url=url)
    assert clean_draft(draft, now=NOW).source == expected


def test_a_json_file_without_sources_never_shows_its_path(tmp_path: Path) -> None:
    path = tmp_path / "srv" / "world.json"
    data = b'[{"title": "A", "body": "<p>x</p>", "url": "https://www.news.example/a"}]'
    (draft,) = parse_json_articles(data, source=str(path))
    assert draft.source == "news.example"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The council voted. Read more »", "The council voted."),
        ("The council voted on the plan [...] Continue reading →",
         "The council voted on the plan…"),
        ("The council voted\n\nContinue reading Council votes", "The council voted"),
        ("Ferries resume. The post Ferries resume appeared first on Coast News.",
         "Ferries resume."),
        ("He said he would read more books.", "He said he would read more books."),
        ("Keep reading to find out. Or not.", "Keep reading to find out. Or not."),
        ("The plan | Read the full story", "The plan"),
    ],
)  # fmt: skip
def test_read_more_tails(text: str, expected: str) -> None:
    assert strip_read_more(text) == expected
    # summarise reads HTML: paragraphs stand apart as elements, not as blank lines.
    html = "".join(f"<p>{part}</p>" for part in text.split("\n\n"))
    assert summarise(html) == " ".join(expected.split())


def test_web_url() -> None:
    assert web_url(" https://a.example/x ") == "https://a.example/x"
    assert web_url("http://a.example") == "http://a.example"
    for bad in ("javascript:x", "https://", "//a.example/x", "/relative", "https://a b.c/", ""):
        assert web_url(bad) is None


def test_language_detection_abstains_on_too_little_text() -> None:
    assert detect_language("Hello") is None
    assert detect_language("12345 ... 678") is None
    assert detect_language("Die Bundesregierung hat am Dienstag neue Regeln beschlossen.") == "de"


def test_unrelated_stories_in_one_feed_are_all_kept() -> None:
    items = [(f"Story {i}", f"https://x.example/{i}", DATE, f"{OTHER} Item {i}.") for i in range(3)]
    assert len(read_feed(rss("X", items), source="x").drafts) == 3
    with pytest.raises(IngestError):
        read_feed(b"<rss><channel><item><title>x", source="x")
    assert timedelta(days=3)  # the de-duplication window the tests above rely on


@pytest.mark.parametrize(
    ("name", "source", "language"),
    [
        ("harbour-wind-farm.html", "The Coastal Courier", "en"),  # og:site_name, lang="en-GB"
        ("sourdough-starter.html", "crumb-and-crust.example", "en"),  # no name: the host
    ],
)
def test_html_pages_give_their_site_name_and_language(
    name: str, source: str, language: str
) -> None:
    data = (FIXTURES / "articles" / name).read_bytes()
    draft = parse_article_file(data, source=f"/srv/pages/{name}", suffix=".html")
    article = clean_draft(draft, now=NOW)
    assert (article.source, article.language) == (source, language)
