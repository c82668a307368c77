"""The article shape shared by the plain-text, HTML and Markdown article parsers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime


class ArticleParseError(ValueError):
    """An article file could not be turned into a ``ParsedArticle``."""


class NoArticleFound(ArticleParseError):
    """The input holds no article: no headline, or no story text."""


@dataclass(frozen=True)
class ParsedArticle:
    """One article read from a file; ``body_html`` is not yet sanitised."""

    title: str
    body_html: str
    standfirst: str | None = None
    author: str | None = None
    published_at: datetime | None = None  # timezone-aware, UTC
    canonical_url: str | None = None
    image_url: str | None = None
    topics: tuple[str, ...] = ()  # only Markdown front matter supplies these
    site_name: str | None = None  # the publication's name, as the page gives it
    language: str | None = None  # as the page declares it (``<html lang>``)


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_DAY_MONTH_YEAR = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\b")
_MONTH_DAY_YEAR = re.compile(r"\b([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")


def to_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_published(value: str) -> datetime | None:
    """Return the first date in ``value`` (ISO 8601 or '12 March 2024' style) in UTC."""
    iso = _ISO_DATE.search(value)
    if iso:
        try:
            return to_utc(datetime.fromisoformat(iso.group(0)))
        except ValueError:
            pass
    for pattern, order in ((_DAY_MONTH_YEAR, (0, 1, 2)), (_MONTH_DAY_YEAR, (1, 0, 2))):
        for match in pattern.finditer(value):
            day, month_name, year = (match.group(i + 1) for i in order)
            month = _MONTHS.get(month_name.lower())
            if month is None:
                continue
            try:
                return datetime(int(year), month, int(day), tzinfo=UTC)
            except ValueError:
                continue
    return None
