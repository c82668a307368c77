"""The unit tier's rule, enforced: a test here that opens a database, a network connection or a
process fails with the name of what it tried (move it to tests/integration or tests/e2e)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from typing import Any, NoReturn

import psycopg
import pytest


class TierViolation(AssertionError):
    """A unit test reached for I/O that belongs to the integration or end-to-end tier."""


def _refuse(what: str) -> NoReturn:
    raise TierViolation(f"unit tests are pure: {what} belongs in tests/integration or tests/e2e")


@pytest.fixture(autouse=True)
def _no_io(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Refuse IP sockets, subprocesses, SQLite and PostgreSQL connections for the test's length."""
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
    monkeypatch.setattr(psycopg.Connection, "connect", database)
    yield
