"""The unit tier's rule, enforced: a test here (or a fixture it sets up, of any scope) that opens a
database, an IP socket or a process fails with the name of what it tried; such a test belongs in
tests/integration or tests/e2e."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Generator
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest

_TIER = Path(__file__).resolve().parent


class TierViolation(AssertionError):
    """A unit test reached for I/O that belongs to the integration or end-to-end tier."""


def _refuse(what: str) -> NoReturn:
    raise TierViolation(f"unit tests are pure: {what} belongs in tests/integration or tests/e2e")


def _guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse IP sockets, subprocesses, SQLite and PostgreSQL connections."""
    real_connect = socket.socket.connect
    real_bind = socket.socket.bind

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"a network connection to {address!r}")
        real_connect(self, address)

    def bind(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse(f"a listening socket on {address!r}")
        real_bind(self, address)

    def popen(self: object, args: Any, *rest: Any, **kwargs: Any) -> NoReturn:
        _refuse(f"a subprocess ({args!r})")

    def database(*args: Any, **kwargs: Any) -> NoReturn:
        _refuse("a database connection")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr(sqlite3, "connect", database)
    monkeypatch.setattr(sqlite3.dbapi2, "connect", database)  # what SQLAlchemy's pysqlite calls
    monkeypatch.setattr(psycopg, "connect", database)
    monkeypatch.setattr(psycopg.Connection, "connect", database)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _guard(monkeypatch)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _guard(monkeypatch)
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    # The last test's teardown also finalises session fixtures that other tiers set up (the
    # PostgreSQL template database, for one): guard it only while the unit tier goes on.
    if nextitem is None or _TIER not in nextitem.path.parents:
        return (yield)
    with pytest.MonkeyPatch.context() as monkeypatch:
        _guard(monkeypatch)
        return (yield)
