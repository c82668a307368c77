"""Alembic environment: runs the packaged migrations against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool
from sqlmodel import SQLModel

import newsletter.models  # noqa: F401  (fills the metadata)
import newsletter.schedule.models  # noqa: F401  (scheduler tables)
from newsletter.db import _sqlite_pragmas

target_metadata = SQLModel.metadata


def run_migrations() -> None:
    """Run migrations online with one connection."""
    config = context.config
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {},
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    if engine.dialect.name == "sqlite":
        from sqlalchemy import event

        event.listen(engine, "connect", _sqlite_pragmas)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=engine.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
