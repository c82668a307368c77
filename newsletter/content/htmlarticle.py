"""Read an HTML article page: main content through trafilatura, metadata from the page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import lxml.etree
import lxml.html
import trafilatura

from newsletter.content.parsed import NoArticleFound, ParsedArticle, parse_published
from newsletter.content.sanitize import is_tracking_image
from newsletter.content.urls import absolute_url, canonical_url

__all__ = ["NoArticleFound", "parse_html_article"]

# trafilatura returns something for almost any page; a story has at least this many words
# in lines long enough to be prose rather than menus and buttons.
MIN_PROSE_WORDS = 40
PROSE_LINE_WORDS = 8

_PUBLISHED_XPATHS = (
    "//meta[@property='article:published_time']/@content",
    "//meta[@name='article:published_time']/@content",
    "//meta[@property='og:published_time']/@content",
    "//meta[@itemprop='datePublished']/@content",
    "//*[@itemprop='datePublished']/@datetime",
    "//meta[@name='pubdate' or @name='publishdate' or @name='date']/@content",
    "//meta[@name='dc.date' or @name='DC.date' or @name='dcterms.created']/@content",
    "//article//time[@datetime]/@datetime",
    "//time[@datetime]/@datetime",
)


# What trafilatura is asked for: the story as HTML with its tables, images, links and
# emphasis, without comments (bench/html_extraction.py scores trafilatura with the same).
EXTRACT_OPTIONS: dict[str, Any] = {
    "output_format": "html",
    "include_comments": False,
    "include_tables": True,
    "include_images": True,
    "include_links": True,
    "include_formatting": True,
}


def parse_html_article(html: str, url: str | None = None) -> ParsedArticle:
    """Return the article in an HTML page; raise ``NoArticleFound`` when it has none.

    ``url`` is where the page came from; it resolves relative links and stands in for
    the canonical URL when the page declares none.
    """
    page = _parse_page(html)
    _drop_tracking_images(page)
    source = lxml.html.tostring(page, encoding="unicode")
    meta = trafilatura.extract_metadata(source, default_url=url)
    canonical = canonical_url(absolute_url(meta.url, url)) if meta.url else None
    base = url or canonical
    extracted = trafilatura.extract(source, url=base, **EXTRACT_OPTIONS)
    if not extracted:
        raise NoArticleFound("the page has no main content")
    body = lxml.html.document_fromstring(extracted).body
    title = _text(meta.title) or _first_heading(body)
    if not title:
        raise NoArticleFound("the page has no headline")
    standfirst = _text(meta.description)
    _drop_leading_repeats(body, title, standfirst)
    if _prose_words(body) < MIN_PROSE_WORDS:
        raise NoArticleFound(f"the page has no article text (title {title!r})")
    return ParsedArticle(
        title=title,
        body_html=_inner_html(body),
        standfirst=standfirst,
        author=_text(meta.author),
        published_at=_published(page, meta.date),
        canonical_url=canonical or (canonical_url(url) if url else None),
        image_url=absolute_url(meta.image, base) if meta.image else None,
        site_name=_text(meta.sitename),
        language=_text(page.get("lang")) or _text(meta.language),
    )


def _parse_page(html: str) -> lxml.html.HtmlElement:
    """Parse a whole page, turning parser failures into ``NoArticleFound``."""
    if not html.strip():
        raise NoArticleFound("the page is empty")
    try:
        return lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise NoArticleFound(f"the page is not HTML: {exc}") from exc


def _drop_tracking_images(page: lxml.html.HtmlElement) -> None:
    """Remove 1x1 images before extraction, which forgets their declared size."""
    for img in list(page.iter("img")):
        if is_tracking_image(img.get("width"), img.get("height"), img.get("style")):
            img.drop_tree()


def _published(page: lxml.html.HtmlElement, fallback: str | None) -> datetime | None:
    """Return the publication time from the page's metadata, with its time of day."""
    for xpath in _PUBLISHED_XPATHS:
        for value in page.xpath(xpath):
            published = parse_published(str(value))
            if published is not None:
                return published
    return parse_published(fallback) if fallback else None


def _first_heading(body: lxml.html.HtmlElement) -> str | None:
    """Return the text of the first heading in the extracted content."""
    for heading in body.iter("h1", "h2"):
        if text := _text(heading.text_content()):
            return text
    return None


def _drop_leading_repeats(body: lxml.html.HtmlElement, title: str, standfirst: str | None) -> None:
    """Remove the headline and standfirst when the body repeats them at its start."""
    repeats = {_key(title)} | ({_key(standfirst)} if standfirst else set())
    for element in list(body):
        text = _key(element.text_content())
        if element.tag == "img" or not text:
            continue
        if text not in repeats:
            break
        element.drop_tree()


def _prose_words(body: lxml.html.HtmlElement) -> int:
    """Count the words in lines long enough to be sentences."""
    lines = (line.split() for line in body.text_content().splitlines())
    return sum(len(words) for words in lines if len(words) >= PROSE_LINE_WORDS)


def _inner_html(body: lxml.html.HtmlElement) -> str:
    """Serialise the children of ``body``."""
    parts = [body.text or ""]
    parts.extend(lxml.html.tostring(child, encoding="unicode") for child in body)
    return "".join(parts).strip()


def _text(value: str | None) -> str | None:
    """Return ``value`` with whitespace collapsed, or None when it is blank."""
    collapsed = " ".join((value or "").split())
    return collapsed or None


def _key(value: str) -> str:
    """Return a comparison key for repeated text."""
    return " ".join(value.split()).casefold()
