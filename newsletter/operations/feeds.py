"""Feeds as configuration: add, list, remove, and fetch them into the store.

``fetch_all`` is what the scheduler's fetch job calls. It fetches up to ``FETCH_WORKERS``
feeds at once, each within one total deadline (``feed_timeout`` seconds from connecting
to the last byte), so one slow or dripping feed holds up one worker for at most that
long and never the others. It is safe to call from any thread: it uses its own sessions
on the runtime's engine and keeps no state between calls.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from newsletter.content.draft import ArticleDraft
from newsletter.content.feeds import read_feed
from newsletter.content.http import Fetched, fetch
from newsletter.content.store import IngestResult, check_topics, store_drafts
from newsletter.content.tagging import Tagging
from newsletter.content.topic_model import load_tagging
from newsletter.content.urls import canonical_url
from newsletter.db import session_scope
from newsletter.errors import FeedNotFound, IngestError
from newsletter.models import Feed
from newsletter.operations.topics import TopicRow, topic_rows

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

MAX_ERROR_LENGTH = 1000
# Feeds fetched at once: fetching is mostly waiting, parsing and storing hold the GIL.
FETCH_WORKERS = 4
# Feeds are fetched side by side but stored one at a time, so the same story arriving
# through two feeds in one round is seen as a duplicate by whichever is stored second.
_STORE_LOCK = threading.Lock()

# The seam tests and dry runs plug into: (url, etag, last_modified, timeout) -> Fetched.
Fetcher = Callable[[str, str | None, str | None, float], Fetched]


def http_fetcher(url: str, etag: str | None, last_modified: str | None, timeout: float) -> Fetched:
    """Fetch over HTTP(S) with httpx: conditional GET, user agent, size limit, total deadline."""
    return fetch(url, etag=etag, last_modified=last_modified, timeout=timeout)


class FetchStatus(StrEnum):
    """How fetching one feed went."""

    FETCHED = "fetched"
    NOT_MODIFIED = "not-modified"
    FAILED = "failed"


@dataclass(frozen=True)
class FeedResult:
    """The outcome of fetching one feed; a failure is data, never an exception."""

    feed_id: int
    url: str
    status: FetchStatus
    added: int = 0
    duplicates: int = 0
    classified: int = 0
    error: str | None = None
    note: str | None = None  # what was left out of a feed that was read (capped, broken)


def _check_url(url: str) -> str:
    url = url.strip()
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise IngestError(url or "(empty)", "a feed URL must start with http:// or https://")
    return url


def add_feed(session: Session, *, url: str, topics: Sequence[str], name: str = "") -> Feed:
    """Register a feed with its topics; its URL must be new and its topics must exist."""
    url = _check_url(url)
    slugs = check_topics(session, topics)
    for feed in session.exec(select(Feed)):
        if feed.url == url or canonical_url(feed.url) == canonical_url(url):
            raise IngestError(url, f"already added as feed {feed.id}")
    feed = Feed(url=url, name=name.strip()[:200], topics=slugs)
    session.add(feed)
    session.flush()
    return feed


def find_feed(session: Session, *, ref: str) -> Feed:
    """The feed with this id or URL."""
    ref = ref.strip()
    feed = session.get(Feed, int(ref)) if ref.isdigit() else None
    if feed is None:
        feed = session.exec(select(Feed).where(Feed.url == ref)).first()
    if feed is None:
        raise FeedNotFound(ref)
    return feed


def list_feeds(session: Session) -> list[Feed]:
    """Every feed, in the order they were added."""
    return list(session.exec(select(Feed).order_by(col(Feed.id))))


def remove_feed(session: Session, *, ref: str) -> Feed:
    """Forget a feed; the articles it brought stay."""
    feed = find_feed(session, ref=ref)
    session.delete(feed)
    return feed


def fetch_feed(
    runtime: Runtime,
    feed_id: int,
    *,
    fetcher: Fetcher = http_fetcher,
    tagging: Tagging | None = None,
) -> FeedResult:
    """Fetch one feed and store its new entries; record success or the error on the feed."""
    tagging = tagging if tagging is not None else load_tagging(runtime.settings)
    with session_scope(runtime.engine) as session:
        feed = session.get(Feed, feed_id)
        if feed is None:
            raise FeedNotFound(str(feed_id))
        url, etag, last_modified = feed.url, feed.etag, feed.last_modified
        topics = list(feed.topics)
    try:
        fetched = fetcher(url, etag, last_modified, runtime.settings.content.feed_timeout)
        if fetched.not_modified:
            _record_success(runtime, feed_id, fetched, added=0, title=None)
            return FeedResult(feed_id, url, FetchStatus.NOT_MODIFIED)
        document = read_feed(fetched.content, source=url, base_url=fetched.url, allow_empty=True)
        result = _store(runtime, document.drafts, topics=topics, source=url, tagging=tagging)
    # One feed's failure, whatever it is, must not stop the others: it becomes data.
    except Exception as exc:  # noqa: BLE001
        return _record_failure(runtime, feed_id, url, exc)
    _record_success(runtime, feed_id, fetched, added=result.added, title=document.title)
    return FeedResult(
        feed_id,
        url,
        FetchStatus.FETCHED,
        added=result.added,
        duplicates=result.duplicates,
        classified=result.classified,
        note=document.note,
    )


def _store(
    runtime: Runtime,
    drafts: list[ArticleDraft],
    *,
    topics: list[str],
    source: str,
    tagging: Tagging,
) -> IngestResult:
    """Store in one transaction; retry once when a concurrent fetch stored the same story."""
    for attempt in (1, 2):
        try:
            with _STORE_LOCK, session_scope(runtime.engine) as session:
                return store_drafts(
                    session,
                    drafts,
                    topics=topics,
                    now=runtime.clock(),
                    source=source,
                    tagging=tagging,
                )
        except IntegrityError:
            if attempt == 2:
                raise
    raise RuntimeError("unreachable")


def fetch_all(
    runtime: Runtime, *, fetcher: Fetcher = http_fetcher, workers: int = FETCH_WORKERS
) -> list[FeedResult]:
    """Fetch every feed, ``workers`` at a time; each one's failure is recorded, not raised.

    Results come back in the order the feeds were added.
    """
    tagging = load_tagging(runtime.settings)
    with session_scope(runtime.engine) as session:
        feed_ids = [feed.id for feed in list_feeds(session) if feed.id is not None]

    def one(feed_id: int) -> FeedResult | None:
        try:
            return fetch_feed(runtime, feed_id, fetcher=fetcher, tagging=tagging)
        except FeedNotFound:
            return None  # removed since the list was read

    if not feed_ids:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(feed_ids)))) as pool:
        outcomes = list(pool.map(one, feed_ids))
    return [result for result in outcomes if result is not None]


def _record_success(
    runtime: Runtime, feed_id: int, fetched: Fetched, *, added: int, title: str | None
) -> None:
    now: datetime = runtime.clock()
    with session_scope(runtime.engine) as session:
        feed = session.get(Feed, feed_id)
        if feed is None:  # removed while we fetched it
            return
        feed.last_success_at = now
        feed.article_count += added
        if not fetched.not_modified:
            # Validators are kept only once the content they describe has been stored.
            feed.etag = fetched.etag[:500] if fetched.etag else None
            feed.last_modified = fetched.last_modified[:100] if fetched.last_modified else None
        if title and not feed.name:
            feed.name = title[:200]
        session.add(feed)


def _record_failure(runtime: Runtime, feed_id: int, url: str, exc: Exception) -> FeedResult:
    reason = exc.reason if isinstance(exc, IngestError) else str(exc) or type(exc).__name__
    reason = " ".join(reason.split())[:MAX_ERROR_LENGTH]
    with session_scope(runtime.engine) as session:
        feed = session.get(Feed, feed_id)
        if feed is not None:
            feed.last_error = reason
            feed.last_error_at = runtime.clock()
            session.add(feed)
    return FeedResult(feed_id, url, FetchStatus.FAILED, error=reason)


# The use cases of the CLI (`newsletter feeds`) and the console: each one transaction.


def register_feed(runtime: Runtime, *, url: str, topics: Sequence[str], name: str = "") -> Feed:
    """Add a feed; its URL must be new and its topics must exist."""
    with session_scope(runtime.engine) as session:
        return add_feed(session, url=url, topics=topics, name=name)


def feeds(runtime: Runtime) -> list[Feed]:
    """Every feed with its state (last success, last error, article count)."""
    with session_scope(runtime.engine) as session:
        return list_feeds(session)


def forget_feed(runtime: Runtime, *, ref: str) -> Feed:
    """Stop fetching a feed (by id or URL); the articles it brought stay."""
    with session_scope(runtime.engine) as session:
        return remove_feed(session, ref=ref)


def fetch_one(runtime: Runtime, *, ref: str) -> FeedResult:
    """Fetch the feed with this id or URL now."""
    with session_scope(runtime.engine) as session:
        feed_id = find_feed(session, ref=ref).id
    if feed_id is None:
        raise FeedNotFound(ref)
    return fetch_feed(runtime, feed_id)


@dataclass(frozen=True)
class FeedsPage:
    """Every feed and every topic a feed may bring articles into."""

    feeds: list[Feed]
    topics: list[TopicRow]


def feeds_page(runtime: Runtime) -> FeedsPage:
    """Every feed in the order they were added, and the topics with their article counts."""
    with session_scope(runtime.engine) as session:
        return FeedsPage(feeds=list_feeds(session), topics=topic_rows(session))
