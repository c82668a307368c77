"""Read one ingest input (a feed, a JSON file, an article file or a URL) into drafts."""

from __future__ import annotations

from pathlib import Path

import httpx

from newsletter.articles import ArticleDraft
from newsletter.errors import IngestError
from newsletter.ingest.feeds import parse_feed
from newsletter.ingest.jsonfile import parse_json_articles

MAX_INPUT_BYTES = 5 * 1024 * 1024
USER_AGENT = "newsletter/0.1 (+https://github.com/newsletter; digest engine)"
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".feed"}


def fetch_url(url: str, *, timeout: float = 20.0) -> bytes:
    """Download ``url`` with a timeout, a user agent and a size limit."""
    try:
        with (
            httpx.Client(
                timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT}
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise IngestError(url, f"HTTP {response.status_code}")
            chunks = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_INPUT_BYTES:
                    raise IngestError(url, "larger than 5 MB")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise IngestError(url, f"cannot fetch ({exc})") from None


def read_file(path: Path) -> bytes:
    """Read a local input, refusing missing, huge and binary files."""
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
    if b"\x00" in data[:8192]:
        raise IngestError(source, "binary file, not text")
    return data


def looks_like_feed(data: bytes) -> bool:
    """Whether the bytes start like an RSS, RDF or Atom document."""
    head = data[:2048].lower()
    return b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head


def load_drafts(target: str) -> list[ArticleDraft]:
    """Drafts from a URL or a path; the format is chosen by suffix, then by content."""
    if target.startswith(("http://", "https://")):
        data = fetch_url(target)
        if looks_like_feed(data):
            return parse_feed(data, source=target, base_url=target)
        raise IngestError(target, "not an RSS or Atom feed")
    path = Path(target)
    data = read_file(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return parse_json_articles(data, source=target)
    if suffix in FEED_SUFFIXES or looks_like_feed(data):
        return parse_feed(data, source=target)
    raise IngestError(target, f"unsupported input type {suffix or '(no suffix)'}")
