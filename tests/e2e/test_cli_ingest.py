"""Content commands as a user runs them: real processes, a real HTTP server, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FIXTURES
from tests.e2e.test_cli import article_count, assert_one_line_error, cli
from tests.feedserver import FeedServer, Page

FEEDS = FIXTURES / "feeds"
ARTICLES = FIXTURES / "articles"
CATEGORY_MAP = json.dumps({"Ukraine": "world", "NATO": "world", "Engineering": "tech"})


@pytest.fixture
def server() -> Iterator[FeedServer]:
    served = FeedServer()
    served.start()
    yield served
    served.stop()


def ok(url: str, *args: str, **env: str) -> str:
    result = cli(url, *args, **env)
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def topics(url: str, *slugs: str) -> None:
    for slug in slugs:
        ok(url, "topics", "add", slug)


def test_new_user_walkthrough(sqlite_url: str, server: FeedServer, tmp_path: Path) -> None:
    topics(sqlite_url, "world", "tech", "science", "environment")
    server.pages["/wire.rss"] = Page((FEEDS / "world-wire.xml").read_bytes())
    server.pages["/blog.atom"] = Page((FEEDS / "atom-html.xml").read_bytes(), etag=False)
    env = {"NEWSLETTER_CATEGORY_MAP": CATEGORY_MAP}
    assert "feed 1 added" in ok(
        sqlite_url, "feeds", "add", server.url("/wire.rss"), "--topic", "world"
    )
    ok(sqlite_url, "feeds", "add", server.url("/blog.atom"), "-t", "science", "--name", "Eng blog")
    first = ok(sqlite_url, "feeds", "fetch", "--all", **env)
    assert f"{server.url('/wire.rss')}: 2 added, 0 already stored" in first
    assert f"{server.url('/blog.atom')}: 2 added, 0 already stored" in first
    second = ok(sqlite_url, "feeds", "fetch", **env)
    assert second.count("not modified") == 2
    assert [h.status for h in server.hits] == [200, 200, 304, 304]
    listing = ok(sqlite_url, "feeds", "ls", COLUMNS="200")
    assert "Example Wire: World" in listing and "Eng blog" in listing
    assert "2 feed(s)" in listing
    ok(sqlite_url, "ingest", str(ARTICLES / "heat-pumps.txt"), "--topic", "environment")
    ok(
        sqlite_url,
        "ingest",
        str(ARTICLES / "harbour-wind-farm.html"),
        "--url",
        "https://www.coastalcourier.example/wind-farm?utm_source=x",
        "--published",
        "2026-11-24T10:00:00Z",
        "-t",
        "environment",
    )
    rows = json.loads(ok(sqlite_url, "articles", "ls", "--json"))
    assert len(rows) == 6
    by_title = {row["title"]: row for row in rows}
    build = by_title["How we cut build times with ccache & a warm cache"]
    assert build["topics"] == ["science", "tech"]
    assert build["summary"] == "Our CI builds went from 40 minutes to 9."
    nato = by_title["NATO ministers agree new air-defence package for Ukraine"]
    assert nato["topics"] == ["world"]
    assert nato["url"].startswith("https://wire.example.com/world/nato-air-defence")
    heat = by_title["Heat pump installations double as grant is raised to £7,500"]
    assert heat["topics"] == ["environment"]
    assert heat["summary"].startswith("Demand has surged in rural areas")
    wind = next(
        row
        for row in rows
        if row["url"] == "https://www.coastalcourier.example/wind-farm?utm_source=x"
    )
    assert wind["published_at"] == "2026-11-24T10:00:00+00:00"
    for row in rows:
        assert row["title"] and row["body_text"] and len(row["summary"]) <= 300
        for text in (row["title"], row["summary"], row["body_text"]):
            assert "<" not in text and "script" not in text.lower()
    shown = ok(sqlite_url, "articles", "show", str(heat["id"]), "--json")
    assert json.loads(shown)["topics"] == [
        {"topic": "environment", "origin": "manual", "confidence": None}
    ]
    # Fetching after the feed changed brings only what is new.
    server.pages["/wire.rss"] = Page((FEEDS / "world-daily.xml").read_bytes())
    third = ok(sqlite_url, "feeds", "fetch", "1", **env)
    assert "1 added, 1 already stored" in third


def test_curating_articles(sqlite_url: str) -> None:
    topics(sqlite_url, "tech", "world")
    ok(sqlite_url, "ingest", str(FEEDS / "tech-rss2.xml"), "--topic", "tech")
    assert "article 1 pinned" in ok(sqlite_url, "articles", "pin", "1")
    ok(sqlite_url, "articles", "exclude", "2")
    ok(sqlite_url, "articles", "tag", "3", "-t", "world", "-t", "tech")
    rows = {row["id"]: row for row in json.loads(ok(sqlite_url, "articles", "ls", "--json"))}
    assert (rows[1]["pinned"], rows[2]["excluded"], rows[3]["topics"]) == (
        True,
        True,
        ["tech", "world"],
    )
    ok(sqlite_url, "articles", "unpin", "1")
    ok(sqlite_url, "articles", "include", "2")
    found = json.loads(ok(sqlite_url, "articles", "ls", "--search", "PYTHON", "--json"))
    assert [row["title"] for row in found] == ["Python 3.15 speeds up startup by a third"]
    assert "Python 3.15" in ok(sqlite_url, "articles", "show", "2")
    assert_one_line_error(cli(sqlite_url, "articles", "pin", "99"), "unknown article 99")
    assert_one_line_error(
        cli(sqlite_url, "articles", "tag", "1", "-t", "nope"), "unknown topic 'nope'"
    )


def test_train_and_evaluate_the_topic_model(sqlite_url: str, tmp_path: Path) -> None:
    model = tmp_path / "models" / "topics.model"
    env = {"NEWSLETTER_TOPIC_MODEL_PATH": str(model)}
    csv = ARTICLES / "labelled-topics.csv"
    assert_one_line_error(cli(sqlite_url, "topics", "evaluate", str(csv), **env), "no topic model")
    assert_one_line_error(cli(sqlite_url, "topics", "train", **env), "cannot train")
    trained = ok(sqlite_url, "topics", "train", "--labelled", str(csv), **env)
    assert "trained on 40 examples" in trained and model.exists()
    report = ok(sqlite_url, "topics", "evaluate", str(csv), **env)
    assert "macro-F1 1.000" in report and "precision" in report
    topics(sqlite_url, "sport", "tech")
    ok(sqlite_url, "ingest", str(FEEDS / "tech-rss2.xml"), "--topic", "tech")
    ok(sqlite_url, "ingest", str(FEEDS / "world-wire.xml"), "--topic", "sport")
    retrained = ok(sqlite_url, "topics", "train", **env)
    assert "from stored articles (sport 2, tech 4)" in retrained
    model.write_bytes(b"not a model")
    assert_one_line_error(
        cli(sqlite_url, "ingest", str(FEEDS / "rss091.xml"), **env), "NEWSLETTER_TOPIC_MODEL_PATH"
    )
    assert_one_line_error(cli(sqlite_url, "topics", "evaluate", str(tmp_path / "no.csv")), "no.csv")


def test_bad_inputs_one_line_nothing_stored(sqlite_url: str, tmp_path: Path) -> None:
    topics(sqlite_url, "world")
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"word " * (1024 * 1024 + 1))
    binary = tmp_path / "photo.html"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(
        "Caf\u00e9 society\n\nA story about caf\u00e9s in the city.".encode("latin-1")
    )
    odd = tmp_path / "odd.html"
    odd.write_bytes(b'<html><head><meta charset="x-martian"></head><body>hi</body></html>')
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    cases = [
        (huge, "larger than 5 MB"),
        (binary, "binary file"),
        (latin, "undecodable text"),
        (odd, "unknown text encoding 'x-martian'"),
        (empty, "empty file"),
        (FEEDS / "malformed.xml", "not a well-formed feed"),
        (FEEDS / "empty-channel.xml", "the feed has no entries"),
        (FEEDS / "not-a-feed.rss", "not a valid RSS or Atom feed"),
        (ARTICLES / "no-article-index.html", "no article text"),
    ]
    for path, reason in cases:
        assert_one_line_error(
            cli(sqlite_url, "ingest", str(path), "-t", "world"), path.name, reason
        )
    assert_one_line_error(
        cli(sqlite_url, "ingest", str(ARTICLES / "heat-pumps.txt"), "--published", "someday"),
        "--published 'someday' is not a date",
    )
    assert_one_line_error(
        cli(sqlite_url, "ingest", str(ARTICLES / "heat-pumps.txt"), "--url", "ftp://x"),
        "must start with http",
    )
    assert article_count(sqlite_url) == 0


def test_feed_commands_errors(sqlite_url: str, server: FeedServer) -> None:
    topics(sqlite_url, "world")
    assert_one_line_error(
        cli(sqlite_url, "feeds", "add", "https://x.example/f", "-t", "nope"), "unknown topic 'nope'"
    )
    assert_one_line_error(cli(sqlite_url, "feeds", "remove", "7"), "unknown feed '7'")
    assert_one_line_error(cli(sqlite_url, "feeds", "fetch", "7"), "unknown feed '7'")
    assert_one_line_error(
        cli(sqlite_url, "feeds", "ls", NEWSLETTER_CATEGORY_MAP="{not json"),
        "NEWSLETTER_CATEGORY_MAP",
    )
    ok(sqlite_url, "feeds", "add", server.url("/missing.rss"), "-t", "world")
    server.pages["/ok.rss"] = Page((FEEDS / "rss091.xml").read_bytes())
    ok(sqlite_url, "feeds", "add", server.url("/ok.rss"), "-t", "world")
    assert_one_line_error(cli(sqlite_url, "feeds", "fetch", "1"), "/missing.rss", "HTTP 404")
    both = cli(sqlite_url, "feeds", "fetch", "--all")
    assert both.returncode == 0  # one of several failing is reported, not fatal
    assert "HTTP 404" in both.stderr and "2 added" in both.stdout
    listing = ok(sqlite_url, "feeds", "ls", COLUMNS="250")
    assert "HTTP 404" in listing
    assert "feed 1 removed" in ok(sqlite_url, "feeds", "remove", "1")
    assert "feed 2 removed" in ok(sqlite_url, "feeds", "remove", server.url("/ok.rss"))
    assert article_count(sqlite_url) == 2


def test_content_commands_have_help(sqlite_url: str) -> None:
    for args in (
        ["feeds"],
        ["feeds", "fetch"],
        ["articles", "show"],
        ["articles", "tag"],
        ["topics", "train"],
        ["topics", "evaluate"],
    ):
        result = cli(sqlite_url, *args, "--help")
        assert result.returncode == 0, (args, result.stderr)
        assert "Usage" in result.stdout
