"""Real-world-shaped feeds: every RSS version and Atom, odd dates, HTML titles, encodings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from newsletter.content.feeds import parse_feed
from newsletter.content.store import CleanArticle, clean_draft
from newsletter.errors import IngestError
from tests.conftest import FIXTURES, NOW

FEEDS = FIXTURES / "feeds"


def cleaned(name: str, base_url: str | None = None) -> list[CleanArticle]:
    drafts = parse_feed((FEEDS / name).read_bytes(), source=name, base_url=base_url)
    return [clean_draft(draft, now=NOW) for draft in drafts]


def test_rss_090_rdf_titles_only() -> None:
    articles = cleaned("rss090.rdf")
    assert [a.title for a in articles] == [
        "Museum opens its archive of early web pages",
        "Volunteers restore a 1990s bulletin board system",
    ]
    assert articles[0].url == "https://almanac.example.com/archive-opens"
    assert articles[0].published_at == NOW  # no date: ingest time stands in
    assert articles[0].summary == ""


def test_rss_091_relative_links_are_made_absolute_and_tracking_stripped() -> None:
    articles = cleaned("rss091.xml", base_url="https://gazette.example.net/rss/feed.xml")
    assert [a.url for a in articles] == [
        "https://gazette.example.net/news/lifeboat-kayakers.html",
        "https://gazette.example.net/rss/news/ferry-winter.html?utm_source=rss&utm_campaign=feed",
    ]
    assert articles[1].canonical_url == "https://gazette.example.net/rss/news/ferry-winter.html"
    assert articles[1].guid == articles[1].canonical_url  # no guid: the canonical URL
    assert articles[0].summary.startswith("Volunteers launched within six minutes")


def test_rss_091_from_a_file_resolves_against_the_channel_link() -> None:
    articles = cleaned("rss091.xml")
    assert articles[0].url == "https://gazette.example.net/news/lifeboat-kayakers.html"


def test_rss_10_rdf_dates_authors_and_subjects() -> None:
    drafts = parse_feed((FEEDS / "rss10.rdf").read_bytes(), source="rss10.rdf")
    assert [d.categories for d in drafts] == [("Science",), ("Biology",)]
    first = clean_draft(drafts[0], now=NOW)
    assert first.published_at == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert first.author == "M. Okafor"
    assert first.title == "Corals that survived the 2024 heatwave share three genes"


def test_rss_20_categories_content_and_script() -> None:
    drafts = parse_feed((FEEDS / "tech-rss2.xml").read_bytes(), source="tech")
    assert drafts[0].categories == ("Email",)
    first = clean_draft(drafts[0], now=NOW)
    assert "<script" not in first.body_html and "alert" not in first.body_text
    assert first.canonical_url == "https://news.example.org/tech/one-click-unsubscribe"


def test_atom_html_titles_content_and_relative_links() -> None:
    build, profiling = cleaned("atom-html.xml")
    assert build.title == "How we cut build times with ccache & a warm cache"
    assert profiling.title == "Profiling Python in production"
    assert build.url == "https://blog.example.com/posts/build-times"
    assert profiling.url == "https://blog.example.com/posts/profiling"
    assert build.author == "Dana Reyes"
    assert build.published_at == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert build.summary == "Our CI builds went from 40 minutes to 9."
    html = build.body_html.lower()
    for banned in (
        "<script",
        "<style",
        "<iframe",
        "<form",
        "<input",
        "onclick",
        "javascript:",
        "data:",
        "pixel.example.net",
    ):
        assert banned not in html, banned
    assert 'href="https://blog.example.com/docs/ci"' in build.body_html
    assert 'src="https://blog.example.com/img/graph.png"' in build.body_html
    assert "<strong>40 minutes to 9</strong>" in build.body_html


def test_broken_and_missing_dates_fall_back_to_ingest_time() -> None:
    articles = cleaned("broken-dates.xml")
    assert [a.published_at for a in articles] == [
        NOW,
        NOW,
        NOW,
        datetime(2026, 11, 24, 7, 0, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("name", "title", "summary"),
    [
        (
            "windows-1252.xml",
            "“Best croissant in town” – the judges’ verdict",
            "The jury tasted 40 pastries … and chose a café near the station. Prices from €2.",
        ),
        (
            "iso-8859-1.xml",
            "København opens a sauna on the harbour · ½ price on Mondays",
            "Bathers pay 50 kr (£6) for an hour; Ærø gets one next year.",
        ),
    ],
)
def test_declared_legacy_encodings_are_decoded(name: str, title: str, summary: str) -> None:
    (article,) = cleaned(name)
    assert article.title == title
    assert article.summary == summary


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("malformed.xml", "not a well-formed feed and no entry is complete"),
        ("not-a-feed.rss", "not a valid RSS or Atom feed"),
        ("empty-channel.xml", "the feed has no entries"),
    ],
)
def test_unusable_feeds_are_refused_naming_the_input(name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason) as caught:
        parse_feed((FEEDS / name).read_bytes(), source=name)
    assert caught.value.source == name


def test_a_followed_feed_may_be_empty_for_now() -> None:
    data = (FEEDS / "empty-channel.xml").read_bytes()
    assert parse_feed(data, source="empty", allow_empty=True) == []
