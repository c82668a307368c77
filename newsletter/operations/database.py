"""The database as an operator maintains it: migrate the schema (Alembic), and copy a live SQLite
file with the sqlite3 backup API (safe while others write)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from newsletter.config import Settings
from newsletter.db import upgrade
from newsletter.errors import ConfigError

PG_DUMP_HINT = (
    "NEWSLETTER_DATABASE_URL is PostgreSQL: back it up with pg_dump, e.g. "
    "pg_dump --format=custom --file=newsletter.dump 'postgresql://USER@HOST/DB'"
)


@dataclass(frozen=True)
class BackupResult:
    """A finished backup: where it is, how large, and that it passed an integrity check."""

    path: Path
    pages: int
    bytes: int


def sqlite_path(database_url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL; PostgreSQL and in-memory URLs get one clear error."""
    if database_url.startswith("postgresql"):
        raise ConfigError(PG_DUMP_HINT)
    path = unquote(database_url.removeprefix("sqlite:///").split("?")[0])
    if not database_url.startswith("sqlite:///") or not path or ":memory:" in path:
        raise ConfigError("NEWSLETTER_DATABASE_URL: only a SQLite file can be backed up this way")
    return Path(path)


def backup_sqlite(source: Path, target: Path) -> BackupResult:
    """Copy ``source`` to ``target`` consistently while other processes keep writing.

    The backup API copies every page within one read transaction (``pages=-1``): in WAL mode
    writers go on meanwhile and the copy is the database as of one instant. It goes to a
    ``.partial`` file first, is integrity-checked, then renamed: nothing half-written remains.
    """
    if not source.is_file():
        raise ConfigError(f"NEWSLETTER_DATABASE_URL: no such database file: {source}")
    if target.exists():
        raise ConfigError(f"{target} already exists: choose a new file name")
    if not target.parent.is_dir():
        raise ConfigError(f"no such folder: {target.parent}")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=-1)
                dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                pages = dst.execute("PRAGMA page_count").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if check != "ok":
            raise ConfigError(f"the copy failed its integrity check: {check}")
        partial.replace(target)
    except sqlite3.Error as exc:
        raise ConfigError(f"backup of {source} failed: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=target, pages=int(pages), bytes=target.stat().st_size)


def migrate(settings: Settings, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision`` (Alembic)."""
    upgrade(settings.database_url, revision)


def backup(settings: Settings, target: Path) -> BackupResult:
    """Copy the SQLite database consistently while it is in use."""
    return backup_sqlite(sqlite_path(settings.database_url), target)
