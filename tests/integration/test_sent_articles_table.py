"""sent_articles has no foreign keys (cheap inserts), so its triggers must do what ON DELETE did;
and migration 0020 must carry the history of an older database over, row for row."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, text

from newsletter.db import alembic_config, make_engine, session_scope, upgrade
from tests.helpers import add_articles, seed_list, subscribe

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _history(engine: Engine) -> list[tuple[int, int, int | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT subscriber_id, article_id, delivery_id FROM sent_articles "
                "ORDER BY subscriber_id, article_id"
            )
        )
        return [(row[0], row[1], row[2]) for row in rows]


def _seed(engine: Engine) -> tuple[list[int], list[int], int]:
    """Two subscribers, two articles, one run with a delivery each, and all four pairs sent."""
    seed_list(engine, NOW, ["world"])
    subscribe(engine, NOW, "ann@example.org", ["world"])
    subscribe(engine, NOW, "bob@example.org", ["world"])
    articles = add_articles(engine, NOW, [["world"], ["world"]])
    with session_scope(engine) as session:
        people = list(session.execute(text("SELECT id FROM subscribers ORDER BY id")).scalars())
        list_id = session.execute(text("SELECT id FROM lists")).scalar_one()
        session.execute(
            text(
                "INSERT INTO runs (list_id, kind, status, period, created_at) "
                "VALUES (:l, 'manual', 'done', 'p', :t)"
            ),
            {"l": list_id, "t": NOW},
        )
        run_id = session.execute(text("SELECT id FROM runs")).scalar_one()
        for person in people:
            session.execute(
                text(
                    "INSERT INTO deliveries (run_id, subscriber_id, email, status, attempts, "
                    "created_at) VALUES (:r, :s, :e, 'sent', 1, :t)"
                ),
                {"r": run_id, "s": person, "e": f"{person}@example.org", "t": NOW},
            )
        deliveries = {
            row[0]: row[1]
            for row in session.execute(text("SELECT subscriber_id, id FROM deliveries"))
        }
        for person in people:
            for article in articles:
                session.execute(
                    text(
                        "INSERT INTO sent_articles (subscriber_id, article_id, delivery_id, "
                        "sent_at) VALUES (:s, :a, :d, :t)"
                    ),
                    {"s": person, "a": article, "d": deliveries[person], "t": NOW},
                )
    return people, articles, deliveries[people[0]]


def test_deletes_cascade_through_triggers(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        people, articles, first_delivery = _seed(engine)
        assert len(_history(engine)) == 4
        with session_scope(engine) as session:
            session.execute(text("DELETE FROM deliveries WHERE id = :d"), {"d": first_delivery})
        assert [row[2] for row in _history(engine) if row[0] == people[0]] == [None, None]
        with session_scope(engine) as session:
            session.execute(
                text("DELETE FROM subscriptions WHERE subscriber_id = :s"), {"s": people[0]}
            )
            session.execute(text("DELETE FROM subscribers WHERE id = :s"), {"s": people[0]})
        assert {row[0] for row in _history(engine)} == {people[1]}
        with session_scope(engine) as session:
            session.execute(
                text("DELETE FROM article_topics WHERE article_id = :a"), {"a": articles[0]}
            )
            session.execute(text("DELETE FROM articles WHERE id = :a"), {"a": articles[0]})
        assert [row[1] for row in _history(engine)] == [articles[1]]
    finally:
        engine.dispose()


def test_upgrade_keeps_the_history_of_an_older_database(
    tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    path = tmp_path / "old.db"
    shutil.copy(migrated_sqlite_template, path)
    url = f"sqlite:///{path}"
    command.downgrade(alembic_config(url), "0019")
    engine = make_engine(url)
    try:
        _seed(engine)
        before = _history(engine)
        assert len(before) == 4
        upgrade(url)
        assert _history(engine) == before
        with session_scope(engine) as session:  # the pair is the key: a repeat is refused
            duplicate = session.execute(
                text(
                    "INSERT OR IGNORE INTO sent_articles (subscriber_id, article_id, sent_at) "
                    "VALUES (:s, :a, :t)"
                ),
                {"s": before[0][0], "a": before[0][1], "t": NOW},
            )
            assert duplicate.rowcount == 0
    finally:
        engine.dispose()
