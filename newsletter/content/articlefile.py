"""Read one article file (plain text, HTML or Markdown) into a draft, with overrides."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, replace
from datetime import datetime

from newsletter.content.draft import ArticleDraft
from newsletter.content.htmlarticle import parse_html_article
from newsletter.content.markdownarticle import parse_markdown_article
from newsletter.content.parsed import ArticleParseError, ParsedArticle
from newsletter.content.textarticle import parse_text_article
from newsletter.content.urls import canonical_url, site_name
from newsletter.errors import IngestError

TEXT_SUFFIXES = {".txt", ".text"}
HTML_SUFFIXES = {".html", ".htm"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
ARTICLE_SUFFIXES = TEXT_SUFFIXES | HTML_SUFFIXES | MARKDOWN_SUFFIXES

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9._:-]+)""", re.I)


@dataclass(frozen=True)
class Overrides:
    """What the user said on the command line; wins over what the file says."""

    url: str | None = None
    published_at: datetime | None = None


def decode_text(data: bytes, *, source: str, html: bool = False) -> str:
    """Decode bytes: a BOM, then a declared charset (HTML), then strict UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        return _decode(data[len(codecs.BOM_UTF8) :], "utf-8", source)
    for bom, encoding in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return _decode(data[len(bom) :], encoding, source)
    if html:
        head = data[:4096]
        declared = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
        if declared:
            return _decode(data, declared.group(1).decode("ascii"), source)
    return _decode(data, "utf-8", source)


def _decode(data: bytes, encoding: str, source: str) -> str:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise IngestError(source, f"unknown text encoding {encoding!r}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise IngestError(
            source, f"undecodable text: not valid {encoding} at byte {exc.start}"
        ) from None


def parse_article_file(
    data: bytes, *, source: str, suffix: str, overrides: Overrides | None = None
) -> ArticleDraft:
    """Return the draft of one article file; parser failures become ``IngestError``."""
    overrides = overrides or Overrides()
    suffix = suffix.lower()
    try:
        if suffix in HTML_SUFFIXES:
            parsed = parse_html_article(decode_text(data, source=source, html=True), overrides.url)
        elif suffix in MARKDOWN_SUFFIXES:
            parsed = parse_markdown_article(decode_text(data, source=source))
        elif suffix in TEXT_SUFFIXES:
            parsed = parse_text_article(decode_text(data, source=source))
        else:
            raise IngestError(source, f"unsupported article type {suffix or '(no suffix)'}")
    except ArticleParseError as exc:
        raise IngestError(source, str(exc) or "no article found") from exc
    return _draft(parsed, source=source, overrides=overrides)


def _draft(parsed: ParsedArticle, *, source: str, overrides: Overrides) -> ArticleDraft:
    """Turn a parsed article into a draft; the standfirst becomes the summary."""
    url = overrides.url or parsed.canonical_url
    draft = ArticleDraft(
        title=parsed.title,
        body_html=parsed.body_html,
        published_at=parsed.published_at,
        url=url,
        guid=canonical_url(url) if url else None,
        summary=parsed.standfirst,
        source=_source(parsed.site_name, url),
        author=parsed.author,
        image_url=parsed.image_url,
        topics=parsed.topics,
        language=parsed.language,
    )
    if overrides.published_at is not None:
        draft = replace(draft, published_at=overrides.published_at)
    return draft


def _source(declared: str | None, url: str | None) -> str:
    """The publication's name as the page gives it, else the site's host name."""
    # Without og:site_name, extractors fall back to a host ("Example.org:443"): ours is cleaner.
    if declared and not (" " not in declared and "." in declared):
        return declared
    return site_name(url)
