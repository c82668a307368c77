"""Driver-level bulk statements for the importer: INSERT ... ON CONFLICT DO NOTHING and IN
look-ups, with values converted once by the columns' own SQLAlchemy bind processors.

Going below SQLAlchemy's per-row parameter processing makes a 100,000-row import several times
faster; the SQL is the common subset of SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.sql.expression import TableClause


def _mark(connection: Connection) -> str:
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def bind(connection: Connection, table: Table, column: str, value: Any) -> Any:
    """``value`` as the driver receives it for ``table.column`` (timestamps, JSON and so on)."""
    processor = table.c[column].type._cached_bind_processor(connection.dialect)  # noqa: SLF001
    return processor(value) if processor is not None else value


def insert_ignore(
    connection: Connection,
    table: TableClause,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    conflict: Sequence[str],
) -> None:
    """Insert driver-ready rows, skipping those that clash on the ``conflict`` columns."""
    if not rows:
        return
    mark = _mark(connection)
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    )
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(sql, list(map(tuple, rows)))
    finally:
        cursor.close()


def select_in(
    connection: Connection,
    table: TableClause,
    columns: Sequence[str],
    key: str,
    values: Sequence[Any],
    *,
    where: str = "",
    where_params: Sequence[Any] = (),
) -> list[tuple[Any, ...]]:
    """Rows of ``table`` whose ``key`` is among ``values`` (plus an optional extra condition)."""
    if not values:
        return []
    mark = _mark(connection)
    sql = (
        f"SELECT {', '.join(columns)} FROM {table.name} "
        f"WHERE {key} IN ({', '.join([mark] * len(values))})"
    )
    if where:
        sql += f" AND {where.replace('?', mark)}"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql, (*values, *where_params))
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()


@lru_cache(maxsize=4096)
def _loads(text: str) -> Any:
    return json.loads(text)


def json_value(value: Any) -> Any:
    """A JSON column's value as read by the driver: text on SQLite, parsed on PostgreSQL.

    Parsed values are cached and shared: callers must not modify them.
    """
    return _loads(value) if isinstance(value, str) else value
