"""Time ingest on hostile inputs: a dripping server, a 160 KB "Mr. " item, a 20,000-item feed.

Usage: python bench/ingest_hostile.py [--deadline SECONDS]

Everything runs on this machine: a dripping HTTP server on loopback, a temporary SQLite
database migrated to head, and the real fetch, parse, clean and store code. Prints one
line per case with the time it took; also the CPU time of ingesting one article page
(plain text and HTML) after start-up.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from newsletter.content.articlefile import parse_article_file  # noqa: E402
from newsletter.content.feeds import read_feed  # noqa: E402
from newsletter.content.http import fetch  # noqa: E402
from newsletter.content.store import clean_draft, store_drafts  # noqa: E402
from newsletter.content.summary import summarise  # noqa: E402
from newsletter.db import make_engine, session_scope, upgrade  # noqa: E402
from newsletter.errors import IngestError  # noqa: E402
from newsletter.models import Topic  # noqa: E402

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "articles"


def drip_server() -> tuple[int, threading.Event]:
    """A loopback server that answers every connection one byte every 50 ms, for minutes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"<rss>" * 20000

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            for index in range(len(response)):
                if stop.is_set():
                    return
                try:
                    connection.sendall(response[index : index + 1])
                except OSError:
                    return
                time.sleep(0.05)

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1]), stop


def big_feed(entries: int) -> bytes:
    items = "".join(
        f"<item><title>Story number {i} of the day</title><link>https://example.org/s/{i}</link>"
        f"<pubDate>Tue, 24 Nov 2026 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d} GMT"
        f"</pubDate><description>Text of story {i}, which says something new.</description></item>"
        for i in range(entries)
    )
    return f'<rss version="2.0"><channel><title>Big</title>{items}</channel></rss>'.encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=2.0)
    args = parser.parse_args()

    port, stop = drip_server()
    start = time.monotonic()
    try:
        fetch(f"http://127.0.0.1:{port}/feed", timeout=args.deadline)
        outcome = "answered (unexpected)"
    except IngestError as exc:
        outcome = exc.reason
    stop.set()
    print(f"dripping server, deadline {args.deadline:g} s: {outcome} after "
          f"{time.monotonic() - start:.2f} s")  # fmt: skip

    text = "Mr. " * 40_000
    cpu = time.process_time()
    summarise(text)
    print(f"summary of {len(text) // 1000} KB of 'Mr. ': {time.process_time() - cpu:.3f} s CPU")

    data = big_feed(20_000)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            session.add(Topic(slug="world", name="World"))
        wall, cpu = time.monotonic(), time.process_time()
        document = read_feed(data, source="big")
        parsed_wall, parsed_cpu = time.monotonic() - wall, time.process_time() - cpu
        with session_scope(engine) as session:
            result = store_drafts(
                session, document.drafts, topics=["world"], now=time_now(), source="big"
            )
        print(
            f"feed of 20,000 items ({len(data) // 1000} KB): {result.added} stored; "
            f"parse {parsed_wall:.2f} s wall ({parsed_cpu:.2f} s CPU), total "
            f"{time.monotonic() - wall:.2f} s wall ({time.process_time() - cpu:.2f} s CPU); "
            f"note: {document.note}"
        )
        engine.dispose()

    for name in ("cycle-lanes.txt", "harbour-wind-farm.html"):
        raw = (FIXTURES / name).read_bytes()
        suffix = Path(name).suffix
        clean_draft(parse_article_file(raw, source=name, suffix=suffix), now=time_now())
        cpu = time.process_time()
        for _ in range(20):
            clean_draft(parse_article_file(raw, source=name, suffix=suffix), now=time_now())
        per_page = (time.process_time() - cpu) / 20 * 1000
        print(f"ingest of one page ({name}, parse and clean) after start-up: {per_page:.1f} ms CPU")
    return 0


def time_now() -> datetime:
    """The current time, as ingest's clock gives it."""
    return datetime.now(UTC)


if __name__ == "__main__":
    raise SystemExit(main())
