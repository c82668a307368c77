"""Parse RSS (0.9x, 1.0, 2.0) and Atom feeds into article drafts with feedparser."""

from __future__ import annotations

import calendar
import xml.sax
from datetime import UTC, datetime
from typing import Any

import feedparser

from newsletter.articles import ArticleDraft
from newsletter.errors import IngestError
from newsletter.ingest.urls import absolute_url


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get skips FeedParserDict's deprecated updated/published aliasing (a warning).
        value = dict.get(entry, key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _entry_body(entry: Any) -> str:
    contents = entry.get("content") or []
    html_parts = [c.get("value", "") for c in contents if "html" in c.get("type", "")]
    if html_parts:
        return max(html_parts, key=len)
    if contents:
        return contents[0].get("value", "")
    return str(entry.get("summary", "") or entry.get("description", ""))


def parse_feed(
    data: bytes, *, source: str, base_url: str | None = None, allow_empty: bool = False
) -> list[ArticleDraft]:
    """Parse feed bytes; refuse input that is not a feed or has no usable entries.

    ``allow_empty`` accepts a well-formed feed with no entries yet (a feed we follow);
    a single input given by hand must hold at least one article.
    """
    parsed = feedparser.parse(data, response_headers={"content-location": base_url or ""})
    entries = parsed.get("entries", [])
    if not entries:
        problem = parsed.get("bozo_exception")
        if isinstance(problem, xml.sax.SAXException) or not parsed.get("version"):
            detail = f" ({problem})" if isinstance(problem, xml.sax.SAXException) else ""
            raise IngestError(source, f"not a valid RSS or Atom feed{detail}")
        if allow_empty:
            return []
        raise IngestError(source, "the feed has no entries")
    feed_title = str(parsed.feed.get("title", "")) or source
    feed_link = str(parsed.feed.get("link", "")) or base_url
    drafts = []
    for entry in entries:
        link = entry.get("link")
        url = absolute_url(link, feed_link) if link else None
        title = str(entry.get("title", "")).strip()
        body = _entry_body(entry)
        if not title and not body:
            continue
        summary = entry.get("summary")
        categories = tuple(
            str(tag.get("term", "")).strip() for tag in entry.get("tags", []) if tag.get("term")
        )
        image = None
        for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
            if media.get("url"):
                image = absolute_url(media["url"], url or feed_link)
                break
        drafts.append(
            ArticleDraft(
                title=title,
                body_html=body,
                summary=str(summary) if summary and summary != body else None,
                published_at=_entry_time(entry),
                url=url,
                guid=str(entry.get("id") or "") or None,
                source=feed_title,
                author=entry.get("author") or None,
                image_url=image,
                categories=categories,
            )
        )
    if not drafts:
        raise IngestError(source, "the feed has no usable entries")
    return drafts
