"""Parse RSS (0.9x, 1.0, 2.0) and Atom feeds into article drafts with feedparser.

A feed that is not well-formed XML (cut off, broken markup) is accepted only for the
entries feedparser recovered whole: each needs a title and a link or some text, and an
entry the document was cut inside is dropped. A feed with more than ``MAX_FEED_ENTRIES``
entries is read for its newest ones only, and says so (``FeedDocument.skipped``).
"""

from __future__ import annotations

import calendar
import re
import xml.sax
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser

from newsletter.content.draft import ArticleDraft
from newsletter.content.urls import absolute_url, site_name, web_url
from newsletter.errors import IngestError

# A real feed carries tens of entries; storing one entry costs a de-duplication lookup,
# so a feed of 20,000 (a hostile or broken one) is read for its newest entries only.
MAX_FEED_ENTRIES = 500

_ENTRY_CLOSE = re.compile(rb"</(?:[\w-]+:)?(?:item|entry)\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class FeedDocument:
    """A parsed feed: its name, its drafts (newest first when capped), and what was left out."""

    title: str
    drafts: list[ArticleDraft]
    total: int  # entries in the document
    skipped: int = 0  # entries left out because the feed had more than MAX_FEED_ENTRIES
    incomplete: int = 0  # entries left out because a broken document lost part of them

    @property
    def note(self) -> str | None:
        """One line on what was left out, or None when every entry was read."""
        parts = []
        if self.skipped:
            parts.append(
                f"{self.total} entries, only the newest {len(self.drafts)} read "
                f"(at most {MAX_FEED_ENTRIES} per fetch)"
            )
        if self.incomplete:
            parts.append(f"not well-formed: {self.incomplete} incomplete entries dropped")
        return "; ".join(parts) or None


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
    """Parse feed bytes into drafts; see ``read_feed``."""
    return read_feed(data, source=source, base_url=base_url, allow_empty=allow_empty).drafts


def read_feed(
    data: bytes, *, source: str, base_url: str | None = None, allow_empty: bool = False
) -> FeedDocument:
    """Parse feed bytes; refuse input that is not a feed or has no usable entries.

    ``allow_empty`` accepts a well-formed feed with no entries yet (a feed we follow);
    a single input given by hand must hold at least one article.
    """
    parsed = feedparser.parse(data, response_headers={"content-location": base_url or ""})
    entries = list(parsed.get("entries", []))
    problem = parsed.get("bozo_exception")
    broken = isinstance(problem, xml.sax.SAXException)
    detail = f" ({' '.join(str(problem).split())})" if broken else ""
    if not entries:
        if broken or not parsed.get("version"):
            raise IngestError(source, f"not a valid RSS or Atom feed{detail}")
        if allow_empty:
            return FeedDocument(title=_feed_title(parsed, base_url), drafts=[], total=0)
        raise IngestError(source, "the feed has no entries")
    total = len(entries)
    incomplete = 0
    if broken:
        # Entries after the last closing tag were cut off with the document.
        closed = len(_ENTRY_CLOSE.findall(data))
        incomplete = max(0, total - closed)
        entries = entries[: total - incomplete]
    drafts = []
    feed_link = str(parsed.feed.get("link", "")) or base_url
    title = _feed_title(parsed, base_url)
    language = str(parsed.feed.get("language", "")) or None
    for entry in entries:
        draft = _draft(entry, feed_link=feed_link, feed_title=title, language=language)
        complete = draft is not None and (
            not broken or bool(draft.title and (draft.url or draft.body_html.strip()))
        )
        if draft is None or not complete:
            incomplete += 1
        else:
            drafts.append(draft)
    if not drafts:
        if broken:
            raise IngestError(source, f"not a well-formed feed and no entry is complete{detail}")
        raise IngestError(source, "the feed has no usable entries")
    skipped = 0
    if len(drafts) > MAX_FEED_ENTRIES:
        # Python's sort is stable: undated entries keep their order, after the dated ones.
        drafts.sort(key=lambda d: d.published_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        skipped = len(drafts) - MAX_FEED_ENTRIES
        drafts = drafts[:MAX_FEED_ENTRIES]
    return FeedDocument(
        title=title, drafts=drafts, total=total, skipped=skipped, incomplete=incomplete
    )


def _feed_title(parsed: Any, base_url: str | None) -> str:
    """The feed's own title, else the name of the site it belongs to."""
    title = " ".join(str(parsed.feed.get("title", "")).split())
    return title or site_name(str(parsed.feed.get("link", ""))) or site_name(base_url)


def _draft(
    entry: Any, *, feed_link: str | None, feed_title: str, language: str | None
) -> ArticleDraft | None:
    """One entry as a draft; None when it has neither a title nor any text."""
    link = entry.get("link")
    url = web_url(absolute_url(link, feed_link)) if link else None
    title = str(entry.get("title", "")).strip()
    body = _entry_body(entry)
    if not title and not body.strip():
        return None
    summary = entry.get("summary")
    categories = tuple(
        str(tag.get("term", "")).strip() for tag in entry.get("tags", []) if tag.get("term")
    )
    image = None
    for media in entry.get("media_content", []) + entry.get("media_thumbnail", []):
        if media.get("url"):
            image = web_url(absolute_url(media["url"], url or feed_link))
            if image:
                break
    return ArticleDraft(
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
        language=language,
    )
