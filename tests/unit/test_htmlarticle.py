"""Tests for reading HTML article pages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.content.htmlarticle import NoArticleFound, parse_html_article
from newsletter.content.parsed import ArticleParseError
from newsletter.content.sanitize import html_to_text, sanitize_html

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"


def _page(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_news_page_metadata() -> None:
    article = parse_html_article(_page("harbour-wind-farm.html"))
    assert article.title == "Offshore wind farm gets green light despite fishing fears"
    assert article.author == "Morwenna Tregear"
    assert article.published_at == datetime(2024, 5, 14, 6, 30, tzinfo=UTC)
    assert article.canonical_url == (
        "https://www.coastalcourier.example/news/2024/05/14/offshore-wind-farm-approved"
    )
    assert article.image_url == "https://cdn.coastalcourier.example/images/wind-farm-lead.jpg"
    assert article.standfirst == (
        "The 48-turbine scheme off Porthallow will power 300,000 homes, "
        "but fishermen say it will close their best grounds."
    )


def test_news_page_body_is_the_story_only() -> None:
    article = parse_html_article(_page("harbour-wind-farm.html"))
    text = html_to_text(article.body_html)
    assert text.startswith("A wind farm of 48 turbines off the south Cornish coast")
    assert text.endswith("when piling noise is at its highest.")
    assert len(text.split("\n\n")) == 5
    for furniture in (
        "Skip to content",
        "What's On",
        "Share this article",
        "More from The Coastal Courier",
        "Harbour dredging",
        "newsletter",
        "All rights reserved",
        "dataLayer",
        "gets green light",  # the headline is not repeated in the body
        "48-turbine scheme",  # nor is the standfirst
    ):
        assert furniture not in text
    assert "tracker.example" not in article.body_html
    assert 'href="https://www.coastalcourier.example/topics/kernow-offshore"' in article.body_html
    assert (
        'src="https://www.coastalcourier.example/images/wind-farm-inline.jpg"' in article.body_html
    )


def test_page_url_resolves_links_when_given() -> None:
    article = parse_html_article(
        _page("harbour-wind-farm.html"), url="https://mirror.example/a/b?utm_source=rss"
    )
    assert 'href="https://mirror.example/topics/kernow-offshore"' in article.body_html
    # The page's own canonical link still names the story.
    assert article.canonical_url is not None
    assert article.canonical_url.startswith("https://www.coastalcourier.example/news/")


def test_blog_page_metadata_from_og_url_meta_author_and_time() -> None:
    article = parse_html_article(_page("sourdough-starter.html"))
    assert article.title == "Why your sourdough starter smells of nail varnish"
    assert article.author == "Eleanor Vance"
    assert article.published_at == datetime(2024, 2, 20, 18, 45, tzinfo=UTC)
    # og:url with tracking parameters and a default port comes back canonical.
    assert article.canonical_url == "https://crumb-and-crust.example/blog/starter-smells?id=77"
    assert article.image_url == "https://crumb-and-crust.example/media/starter-jar.jpg"
    assert article.standfirst is None


def test_blog_page_body_drops_comments_ads_and_pixels() -> None:
    article = parse_html_article(_page("sourdough-starter.html"))
    text = html_to_text(article.body_html)
    assert text.startswith("If you open the jar")
    assert "Temperature matters" in text
    assert text.endswith("which carries more wild yeast.")
    for furniture in ("Leave a Reply", "Required fields", "cookies", "Subscribe", "renderAd"):
        assert furniture not in text
    assert "stats.example" not in article.body_html


def test_body_is_left_for_the_caller_to_sanitise() -> None:
    article = parse_html_article(_page("sourdough-starter.html"))
    cleaned = sanitize_html(article.body_html, base_url=article.canonical_url)
    assert "<em>hungry</em>" in cleaned or "<i>hungry</i>" in cleaned
    assert 'rel="noopener noreferrer"' in cleaned


def test_page_without_article_is_refused() -> None:
    with pytest.raises(NoArticleFound):
        parse_html_article(_page("no-article-index.html"))


@pytest.mark.parametrize(
    "html",
    ["", "   ", "<html><body></body></html>", "<p>Too short to be a story.</p>", "\x00\x00"],
)
def test_empty_or_tiny_pages_are_refused(html: str) -> None:
    with pytest.raises(NoArticleFound):
        parse_html_article(html)


def test_no_article_found_is_a_value_error() -> None:
    assert issubclass(NoArticleFound, ArticleParseError)
    assert issubclass(NoArticleFound, ValueError)


def test_page_without_metadata_uses_heading_and_url() -> None:
    paragraph = "<p>" + "The quick brown fox jumps over the lazy dog again and again. " * 4 + "</p>"
    html = f"<html><body><article><h1>Fox news</h1>{paragraph}{paragraph}</article></body></html>"
    article = parse_html_article(html, url="HTTPS://Example.com/fox#top")
    assert article.title == "Fox news"
    assert article.canonical_url == "https://example.com/fox"
    assert article.author is None
    assert article.published_at is None
    assert article.image_url is None


@settings(max_examples=60, deadline=None)
@given(
    html=st.text(max_size=200)
    | st.lists(st.sampled_from(["<p>", "</p>", "<h1>T</h1>", "<html>", "<body>", "x y z. "])).map(
        "".join
    )
)
def test_any_input_gives_an_article_or_no_article_found(html: str) -> None:
    try:
        article = parse_html_article(html)
    except NoArticleFound:
        return
    assert article.title
