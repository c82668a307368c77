"""Read one ingest input (a feed, a JSON file, an article file or a URL) into drafts."""

from __future__ import annotations

from pathlib import Path

from newsletter.content.articlefile import ARTICLE_SUFFIXES, Overrides, parse_article_file
from newsletter.content.draft import ArticleDraft
from newsletter.content.feeds import parse_feed
from newsletter.content.http import MAX_INPUT_BYTES, USER_AGENT, fetch
from newsletter.content.jsonfile import parse_json_articles
from newsletter.errors import IngestError

__all__ = ["MAX_INPUT_BYTES", "USER_AGENT", "load_drafts", "read_file"]

FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".feed"}
# Control characters other than tab, newline, form feed and carriage return betray binary data.
_BINARY_BYTES = bytes(range(0, 9)) + b"\x0b" + bytes(range(0x0E, 0x20))


def read_file(path: Path) -> bytes:
    """Read a local input, refusing missing, huge, empty and binary files."""
    source = str(path)
    if not path.exists():
        raise IngestError(source, "no such file")
    if not path.is_file():
        raise IngestError(source, "not a file")
    if path.stat().st_size > MAX_INPUT_BYTES:
        raise IngestError(source, "larger than 5 MB")
    data = path.read_bytes()
    if not data.strip():
        raise IngestError(source, "empty file")
    if looks_binary(data):
        raise IngestError(source, "binary file, not text")
    return data


def looks_binary(data: bytes) -> bool:
    """Whether the start of ``data`` holds NUL or many control bytes (UTF-16 aside)."""
    head = data[:8192]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in head:
        return True
    controls = sum(head.count(bytes([b])) for b in _BINARY_BYTES)
    return controls > max(8, len(head) // 100)


def looks_like_feed(data: bytes) -> bool:
    """Whether the bytes start like an RSS, RDF or Atom document."""
    head = data[:2048].lower()
    return b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head


def load_drafts(target: str, *, overrides: Overrides | None = None) -> list[ArticleDraft]:
    """Drafts from a URL or a path; the format is chosen by suffix, then by content."""
    overrides = overrides or Overrides()
    if target.startswith(("http://", "https://")):
        fetched = fetch(target)
        if looks_like_feed(fetched.content):
            return parse_feed(fetched.content, source=target, base_url=fetched.url)
        if "html" in (fetched.content_type or "") or b"<html" in fetched.content[:4096].lower():
            page = Overrides(url=overrides.url or fetched.url, published_at=overrides.published_at)
            return [
                parse_article_file(fetched.content, source=target, suffix=".html", overrides=page)
            ]
        raise IngestError(target, "neither an RSS or Atom feed nor an HTML page")
    path = Path(target)
    data = read_file(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return parse_json_articles(data, source=target)
    if suffix in ARTICLE_SUFFIXES:
        return [parse_article_file(data, source=target, suffix=suffix, overrides=overrides)]
    if suffix in FEED_SUFFIXES or looks_like_feed(data):
        return parse_feed(data, source=target)
    raise IngestError(target, f"unsupported input type {suffix or '(no suffix)'}")
