"""Readiness: the database answers and its schema is at the newest migration."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db import MIGRATIONS


@dataclass(frozen=True)
class Readiness:
    """The outcome of one readiness check; ``problem`` says what is wrong when not ready."""

    ready: bool
    database: bool
    revision: str | None
    expected: tuple[str, ...]
    problem: str | None = None


@cache
def expected_heads() -> tuple[str, ...]:
    """The head revision(s) of the packaged migrations (read once per process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return tuple(sorted(ScriptDirectory.from_config(config).get_heads()))


def check_ready(engine: Engine) -> Readiness:
    """Ask the database for its migration revision and compare it with the packaged heads."""
    heads = expected_heads()
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            try:
                rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
            except SQLAlchemyError:
                return Readiness(False, True, None, heads, "the database has no schema yet")
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return Readiness(False, False, None, heads, f"database unreachable: {first}")
    current = tuple(sorted(row[0] for row in rows))
    revision = ",".join(current) or None
    if current != heads:
        return Readiness(
            False,
            True,
            revision,
            heads,
            f"schema at {revision or 'nothing'}, expected {','.join(heads)}: run "
            "`newsletter db upgrade`",
        )
    return Readiness(True, True, revision, heads)
