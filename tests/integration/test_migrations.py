"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import newsletter.models  # noqa: F401  (fills the metadata)
from newsletter.db import make_engine, upgrade


def drift(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            return list(compare_metadata(context, SQLModel.metadata))
    finally:
        engine.dispose()


def test_schema_matches_models(database_url: str) -> None:
    assert drift(database_url) == []


def test_upgrade_is_idempotent(sqlite_url: str) -> None:
    upgrade(sqlite_url)  # already at head: nothing to do, no error
    assert drift(sqlite_url) == []
