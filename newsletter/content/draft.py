"""The article as it travels from a parser to the store: a plain value, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ArticleDraft:
    """An article parsed from some input, not yet cleaned or stored."""

    title: str
    body_html: str
    published_at: datetime | None
    url: str | None = None
    guid: str | None = None
    summary: str | None = None
    source: str = ""
    author: str | None = None
    image_url: str | None = None
    topics: tuple[str, ...] = ()
    categories: tuple[str, ...] = field(default=())
    language: str | None = None  # as the input declares it (feed, page); detection wins
