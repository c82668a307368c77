"""Engines, sessions and schema migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event, inspect
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalise_url(url: str) -> str:
    """Return the SQLAlchemy URL, choosing psycopg 3 for PostgreSQL."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and foreign keys on every connect."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **kwargs)
    return engine


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (0 when the driver cannot tell)."""
    return int(result.rowcount or 0) if isinstance(result, CursorResult) else 0


def describe_db_error(exc: BaseException) -> str:
    """One line naming why the database failed ("database is locked", "disk full", ...)."""
    original = getattr(exc, "orig", None) or exc
    text = " ".join(str(original).split()) or type(original).__name__
    low = text.lower()
    if "database is locked" in low or "database table is locked" in low:
        return "database is locked"
    if "disk is full" in low or "no space left" in low or "disk full" in low:
        return "disk full"
    if "readonly" in low or "read-only" in low:
        return "database is read-only"
    if type(original).__module__.startswith("psycopg") and (
        "connection" in low or "terminat" in low or "server closed" in low
    ):
        return f"lost connection to PostgreSQL ({text[:200]})"
    return text[:300]


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(url: str) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config  # alembic costs ~0.2 s to import; only migrations need it

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``."""
    from alembic import command

    try:
        command.upgrade(alembic_config(url), revision)
    except OperationalError as exc:
        raise ConfigError(f"NEWSLETTER_DATABASE_URL: cannot open database ({exc.orig})") from None


def check_schema(engine: Engine) -> None:
    """Refuse to work on a database that has not been migrated."""
    try:
        tables = set(inspect(engine).get_table_names())
    except OperationalError as exc:
        raise ConfigError(f"NEWSLETTER_DATABASE_URL: cannot open database ({exc.orig})") from None
    if "alembic_version" not in tables:
        raise ConfigError("the database has no schema yet: run `newsletter db upgrade`")
