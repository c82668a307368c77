"""One feed can never stall the others: total fetch deadlines, parallel fetching, caps.

Everything runs against a real HTTP server on loopback that drips its answer one byte
at a time; what the server saw (when the client hung up) is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlmodel import Session, col, func, select

from newsletter.content.feeds import MAX_FEED_ENTRIES, read_feed
from newsletter.content.http import fetch
from newsletter.db import session_scope
from newsletter.errors import IngestError
from newsletter.models import Article, Feed
from newsletter.operations.feeds import FetchStatus, add_feed, fetch_all, fetch_feed
from tests.conftest import FIXTURES, NOW, make_runtime, make_settings
from tests.feedserver import Drip, FeedServer, Page
from tests.helpers import seed_topics

WIRE = (FIXTURES / "feeds" / "world-wire.xml").read_bytes()


@pytest.fixture
def server() -> Iterator[FeedServer]:
    served = FeedServer()
    served.start()
    yield served
    served.stop()


def drips_of(server: FeedServer, path: str, count: int = 1) -> list[Drip]:
    """Wait (bounded) until the server has finished ``count`` dripped answers on ``path``."""
    for _ in range(100):
        found = [d for d in server.drips if d.path == path]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"the server never finished dripping {path}")


def big_feed(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Story number {i}</title><link>https://example.org/s/{i}</link>"
        f"<pubDate>Tue, 24 Nov 2026 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} GMT"
        f"</pubDate><description>Text of story {i}.</description></item>"
        for i in range(entries)
    )
    return f'<rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'.encode()


@pytest.mark.parametrize("drip_after", [0, 200], ids=["headers-drip", "body-drips"])
def test_a_dripping_server_is_cut_off_at_the_total_deadline(
    server: FeedServer, drip_after: int
) -> None:
    # 0.05 s a byte never trips a per-read timeout; the whole answer would take minutes.
    server.pages["/drip.rss"] = Page(WIRE, drip=0.05, drip_after=drip_after)
    with pytest.raises(IngestError, match=r"no complete answer within 0.5 s"):
        fetch(server.url("/drip.rss"), timeout=0.5)
    (drip,) = drips_of(server, "/drip.rss")
    assert drip.client_hung_up
    assert drip.sent < len(WIRE)


def test_dripping_feeds_are_fetched_in_parallel_and_never_stop_the_others(
    sqlite_url: str, server: FeedServer
) -> None:
    runtime = make_runtime(make_settings(sqlite_url, feed_timeout=1.0))
    seed_topics(runtime.engine, NOW, "world")
    server.pages["/drip-a.rss"] = Page(WIRE, drip=0.05)
    server.pages["/drip-b.rss"] = Page(WIRE, drip=0.05)
    server.pages["/wire.rss"] = Page(WIRE)
    with session_scope(runtime.engine) as session:
        for path in ("/drip-a.rss", "/drip-b.rss", "/wire.rss"):
            add_feed(session, url=server.url(path), topics=["world"])
    results = fetch_all(runtime, workers=3)
    assert [r.status for r in results] == [
        FetchStatus.FAILED,
        FetchStatus.FAILED,
        FetchStatus.FETCHED,
    ]
    assert results[2].added > 0
    (a,) = drips_of(server, "/drip-a.rss")
    (b,) = drips_of(server, "/drip-b.rss")
    assert a.client_hung_up and b.client_hung_up
    # Both dripping answers were in flight at the same time: fetched side by side.
    assert a.started < b.ended and b.started < a.ended
    with Session(runtime.engine) as session:
        errors = [f.last_error for f in session.exec(select(Feed).order_by(col(Feed.id)))]
    assert errors[0] == errors[1] == "cannot fetch (no complete answer within 1 s)"
    assert errors[2] is None
    runtime.dispose()


def test_a_huge_feed_is_capped_with_a_note(sqlite_url: str, server: FeedServer) -> None:
    runtime = make_runtime(make_settings(sqlite_url))
    seed_topics(runtime.engine, NOW, "world")
    total = MAX_FEED_ENTRIES + 700
    server.pages["/big.rss"] = Page(big_feed(total))
    with session_scope(runtime.engine) as session:
        feed = add_feed(session, url=server.url("/big.rss"), topics=["world"])
        feed_id = feed.id or 0
    result = fetch_feed(runtime, feed_id)
    assert result.status is FetchStatus.FETCHED
    assert result.added == MAX_FEED_ENTRIES
    assert result.note == (
        f"{total} entries, only the newest {MAX_FEED_ENTRIES} read "
        f"(at most {MAX_FEED_ENTRIES} per fetch)"
    )
    with Session(runtime.engine) as session:
        stored = session.exec(select(func.count()).select_from(Article)).one()
        oldest = session.exec(select(func.min(Article.title))).one()
    assert stored == MAX_FEED_ENTRIES
    # The newest entries are the ones kept: story 0 (00:00:00) is the oldest and left out.
    assert oldest != "Story number 0"
    runtime.dispose()


def test_the_cap_keeps_the_newest_entries() -> None:
    document = read_feed(big_feed(MAX_FEED_ENTRIES + 10), source="big")
    titles = {d.title for d in document.drafts}
    assert document.skipped == 10
    assert "Story number 0" not in titles
    assert f"Story number {MAX_FEED_ENTRIES + 9}" in titles
