"""Read a JSON file of articles: a list, or an object with an ``articles`` list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from newsletter.content.draft import ArticleDraft
from newsletter.content.urls import site_name
from newsletter.errors import IngestError


def _parse_time(value: Any, source: str, index: int) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise IngestError(source, f"article {index}: published_at must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise IngestError(source, f"article {index}: bad published_at {value!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _strings(value: Any, source: str, index: int, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise IngestError(source, f"article {index}: {name} must be a list of strings")
    return tuple(value)


def parse_json_articles(data: bytes, *, source: str) -> list[ArticleDraft]:
    """Parse and validate every article first, so a bad file stores nothing."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IngestError(source, f"not valid JSON ({exc})") from None
    except RecursionError:  # json recurses per nesting level: [[[[...]]]] a hundred thousand deep
        raise IngestError(source, "not an article file: nested too deeply") from None
    items = document.get("articles") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise IngestError(source, 'expected a list of articles or {"articles": [...]}')
    drafts = []
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise IngestError(source, f"article {index}: expected an object")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip():
            raise IngestError(source, f"article {index}: missing title")
        body = item.get("body_html") or item.get("body") or item.get("content") or ""
        text = item.get("body_text")
        if not body and isinstance(text, str):
            body = "".join(f"<p>{part}</p>" for part in text.split("\n\n") if part.strip())
        if not isinstance(body, str):
            raise IngestError(source, f"article {index}: body must be a string")
        url = item.get("url")
        if url is not None and not isinstance(url, str):
            raise IngestError(source, f"article {index}: url must be a string")
        drafts.append(
            ArticleDraft(
                title=title.strip(),
                body_html=body,
                summary=item.get("summary") if isinstance(item.get("summary"), str) else None,
                published_at=_parse_time(item.get("published_at"), source, index),
                url=url,
                guid=str(item["guid"]) if item.get("guid") else None,
                # The file's path is no name for a source: the site's name stands in.
                source=str(item.get("source") or site_name(url)),
                author=item.get("author") if isinstance(item.get("author"), str) else None,
                image_url=item.get("image_url") if isinstance(item.get("image_url"), str) else None,
                topics=_strings(item.get("topics"), source, index, "topics"),
                categories=_strings(item.get("categories"), source, index, "categories"),
            )
        )
    return drafts
