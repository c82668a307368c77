"""The benchmark's database: a temporary SQLite file or PostgreSQL database, topics, articles
and N subscribers written in bulk straight through the driver (the ORM would take minutes)."""

from __future__ import annotations

import contextlib
import itertools
import json
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, make_url, text

from newsletter.content.draft import ArticleDraft
from newsletter.content.store import store_drafts
from newsletter.db import session_scope
from newsletter.errors import ConfigError
from newsletter.models import Topic
from subscribers import service

BENCH_NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
_ROWS = 10_000


@contextlib.contextmanager
def bench_database(database_url: str | None, workdir: Path | None) -> Iterator[str]:
    """A fresh database URL, dropped afterwards: SQLite in a temporary folder, or a new
    database on the PostgreSQL server that ``database_url`` names."""
    if database_url is None:
        with tempfile.TemporaryDirectory(prefix="newsletter-bench-", dir=workdir) as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    try:
        url = make_url(database_url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy's ArgumentError and friends
        raise ConfigError(f"--database-url: not a database URL ({exc})") from None
    if not url.drivername.startswith("postgresql"):
        raise ConfigError("--database-url: only postgresql:// URLs (SQLite is the default)")
    import psycopg

    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"newsletter_bench_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"--database-url: cannot create a database there ({first})") from None
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _combinations(topics: list[str]) -> list[list[str]]:
    return [
        list(combo)
        for size in range(1, len(topics) + 1)
        for combo in itertools.combinations(topics, size)
    ]


def seed_content(engine: Engine, *, topics: int, articles: int) -> list[str]:
    """Topics, one list covering them all, and ``articles`` stored articles."""
    slugs = [f"topic{i}" for i in range(topics)]
    with session_scope(engine) as session:
        for slug in slugs:
            session.add(Topic(slug=slug, name=slug.title(), created_at=BENCH_NOW))
    with session_scope(engine) as session:
        service.create_list(
            session,
            slug="bench",
            name="Bench Daily",
            from_name="Bench Newsroom",
            from_address="digest@bench.example.org",
            topics=slugs,
        )
        drafts = [
            ArticleDraft(
                title=f"Story {i}: what happened in {slugs[i % topics]} today",
                body_html=f"<p>Body of story {i}. " + "Lorem ipsum dolor sit amet. " * 20 + "</p>",
                published_at=BENCH_NOW - timedelta(minutes=10 * (i + 1)),
                url=f"https://news.example.org/story-{i}",
                summary=f"Summary of story {i}. " + "A short teaser sentence. " * 6,
                topics=tuple({slugs[i % topics], slugs[(i * 7 + 3) % topics]}),
            )
            for i in range(articles)
        ]
        store_drafts(session, drafts, topics=[], now=BENCH_NOW, source="bench")
    return slugs


def seed_subscribers(engine: Engine, *, count: int, slugs: list[str]) -> None:
    """``count`` active subscribers spread over every topic combination."""
    combos = [json.dumps(c) for c in _combinations(slugs)]
    stamp = BENCH_NOW.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as connection:
        list_id = connection.execute(text("SELECT id FROM lists WHERE slug = 'bench'")).scalar_one()
        raw = connection.connection.driver_connection
        if raw is None:
            raise RuntimeError("no driver connection")
        cursor = raw.cursor()
        for start in range(0, count, _ROWS):
            ids = range(start + 1, min(count, start + _ROWS) + 1)
            people = [(i, f"reader{i}@example.com", f"Reader {i}", stamp, stamp) for i in ids]
            subs = [(i, i, list_id, combos[i % len(combos)], stamp) for i in ids]
            if postgres:
                _copy(cursor, "subscribers (id, email, name, created_at, updated_at)", people)
                _copy(
                    cursor, "subscriptions (id, subscriber_id, list_id, topics, created_at)", subs
                )
                continue
            cursor.executemany(
                "INSERT INTO subscribers (id, email, name, status, timezone, attributes, "
                "soft_bounces, created_at, updated_at) VALUES (?, ?, ?, 'active', 'UTC', '{}', "
                "0, ?, ?)",
                people,
            )
            cursor.executemany(
                "INSERT INTO subscriptions (id, subscriber_id, list_id, status, topics, cadence, "
                "weekday, send_hour, created_at) VALUES (?, ?, ?, 'active', ?, 'daily', 0, 8, ?)",
                subs,
            )
        if postgres:
            for table in ("subscribers", "subscriptions"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    if postgres:
        # Without statistics (autovacuum has not run yet after a bulk load) PostgreSQL plans
        # each audience chunk as a scan of the whole table: measured, planning 1,000,000
        # subscribers had not finished after 7 minutes. A database in service has them.
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("ANALYZE subscribers, subscriptions")
            )


def _copy(cursor: object, target: str, rows: Sequence[tuple[object, ...]]) -> None:
    """COPY rows into ``table (columns)``; the other columns get their fixed bench values."""
    table, columns = target.split(" ", 1)
    fixed = {
        "subscribers": "status, timezone, attributes, soft_bounces",
        "subscriptions": "status, cadence, weekday, send_hour",
    }[table]
    values = {
        "subscribers": ("active", "UTC", "{}", 0),
        "subscriptions": ("active", "daily", 0, 8),
    }[table]
    statement = f"COPY {table} ({columns.strip('()')}, {fixed}) FROM STDIN"
    with cursor.copy(statement) as copy:  # type: ignore[attr-defined]
        for row in rows:
            copy.write_row((*row, *values))
