"""Tests for reading Markdown article files."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.content.markdownarticle import parse_markdown_article, split_front_matter
from newsletter.content.parsed import ArticleParseError, NoArticleFound

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"


def test_fixture_with_front_matter() -> None:
    article = parse_markdown_article((FIXTURES / "night-trains.md").read_text(encoding="utf-8"))
    assert article.title == "Night trains return to the Highlands"
    assert article.canonical_url == "https://rail.example/news/night-trains-return"
    assert article.published_at == datetime(2024, 4, 2, 6, 0, tzinfo=UTC)
    assert article.topics == ("travel", "transport")
    assert article.author == "Callum Reid"
    assert article.standfirst == "A sleeper service to Inverness restarts after four years."
    assert "<h1>" not in article.body_html
    assert "<h2>Timetable</h2>" in article.body_html
    assert "<em>sleeper</em>" in article.body_html
    assert '<a href="https://rail.example/timetable">' in article.body_html
    assert "<table>" in article.body_html  # the "extra" extension
    assert "<li>Edinburgh" in article.body_html


def test_heading_is_the_title_without_front_matter() -> None:
    article = parse_markdown_article(
        "# A *plain* `title` [link](https://x.example)\n\nBody text.\n"
    )
    assert article.title == "A plain title link"
    assert article.body_html == "<p>Body text.</p>"
    assert article.published_at is None
    assert article.canonical_url is None
    assert article.topics == ()


def test_front_matter_title_wins_and_heading_leaves_body() -> None:
    text = "---\ntitle: 'From front matter'\n---\n# From heading\n\nBody.\n"
    article = parse_markdown_article(text)
    assert article.title == "From front matter"
    assert article.body_html == "<p>Body.</p>"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("topics: politics, tech", ("politics", "tech")),
        ("topics: [politics, 'tech']", ("politics", "tech")),
        ("topics:\n  - politics\n  - tech", ("politics", "tech")),
        ("topics: sport", ("sport",)),
        ("topics:", ()),
    ],
)
def test_topics_forms(line: str, expected: tuple[str, ...]) -> None:
    article = parse_markdown_article(f"---\n{line}\n---\n# T\n\nBody.\n")
    assert article.topics == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-12", datetime(2024, 3, 12, tzinfo=UTC)),
        ("2024-03-12T08:30:00Z", datetime(2024, 3, 12, 8, 30, tzinfo=UTC)),
        ("2024-03-12 09:30:00+01:00", datetime(2024, 3, 12, 8, 30, tzinfo=UTC)),
        ("12 March 2024", datetime(2024, 3, 12, tzinfo=UTC)),
    ],
)
def test_published_forms(value: str, expected: datetime) -> None:
    article = parse_markdown_article(f"---\npublished: {value}\n---\n# T\n\nBody.\n")
    assert article.published_at == expected


def test_bad_published_date_is_refused_clearly() -> None:
    with pytest.raises(ArticleParseError, match="published"):
        parse_markdown_article("---\npublished: next Tuesday\n---\n# T\n\nBody.\n")


def test_no_title_is_refused() -> None:
    with pytest.raises(NoArticleFound, match="title"):
        parse_markdown_article("Just a paragraph.\n\nAnd another.\n")


def test_no_body_is_refused() -> None:
    with pytest.raises(NoArticleFound, match="body"):
        parse_markdown_article("# Only a title\n")


def test_heading_inside_code_block_is_not_the_title() -> None:
    text = "```\n# not a title\n```\n\n# Real title\n\nBody.\n"
    article = parse_markdown_article(text)
    assert article.title == "Real title"
    assert "# not a title" in article.body_html


def test_second_level_heading_is_not_the_title() -> None:
    with pytest.raises(NoArticleFound):
        parse_markdown_article("## Section\n\nBody.\n")


def test_unclosed_front_matter_is_body() -> None:
    meta, body = split_front_matter("---\ntitle: x\n\n# Heading\n")
    assert meta == {}
    assert body.startswith("---")


def test_front_matter_ignores_comments_and_blank_lines() -> None:
    meta, body = split_front_matter(
        "\ufeff---\n# comment\n\nTitle: X\nurl: 'https://a.example/'\n---\nrest"
    )
    assert meta == {"title": ["X"], "url": ["https://a.example/"]}
    assert body == "rest"


def test_raw_html_passes_through_for_the_caller_to_sanitise() -> None:
    article = parse_markdown_article("# T\n\n<script>x()</script>\n\nBody.\n")
    assert "<script>" in article.body_html


@given(text=st.text(max_size=300))
def test_any_text_gives_an_article_or_a_parse_error(text: str) -> None:
    try:
        article = parse_markdown_article(text)
    except ArticleParseError:
        return
    assert article.title
