"""What every scenario gets: the campaign's size, its work folder, fresh trials, and the
outside forces a scenario can apply (a held SQLite write lock, a clock that runs ahead)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.chaos.faultsmtp import FaultPlan
from bench.chaos.tally import Observation
from bench.chaos.trial import (
    HarnessError,
    NeedsHook,
    PostgresDatabase,
    Proc,
    Seeds,
    SqliteDatabase,
    Trial,
    seed,
)

_N = TypeVar("_N", int, float)

LIBFAKETIME_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/faketime/libfaketime.so.1"),
)


@dataclass
class Context:
    """The campaign as a scenario sees it."""

    quick: bool
    folder: Path
    seeds: Seeds = field(init=False)
    _postgres_seeds: dict[int, PostgresDatabase] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.seeds = Seeds(self.folder / "seeds")

    def close(self) -> None:
        """Drop the seeded PostgreSQL templates."""
        for database in self._postgres_seeds.values():
            database.drop()
        self._postgres_seeds.clear()

    def size(self, full: _N, quick: _N) -> _N:
        """A count for this mode."""
        return quick if self.quick else full

    def sqlite_trial(self, name: str, count: int, plan: FaultPlan | None = None) -> Trial:
        """A trial on a fresh copy of a seeded SQLite file."""
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        database: SqliteDatabase = self.seeds.sqlite(count, folder / "newsletter.db")
        return Trial(folder, database, plan)

    def postgres_trial(self, name: str, count: int, plan: FaultPlan | None = None) -> Trial:
        """A trial on a new, uniquely named PostgreSQL database: a copy of one seeded through
        the CLI once per campaign (CREATE DATABASE ... TEMPLATE)."""
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        if count not in self._postgres_seeds:
            template = PostgresDatabase()
            try:
                seed(template.url, count, self.folder / "seeds" / f"postgres-{count}")
            except BaseException:
                template.drop()
                raise
            self._postgres_seeds[count] = template
        database = PostgresDatabase(template=self._postgres_seeds[count].name)
        return Trial(folder, database, plan)


# A scenario returns what it observed and a note for the table.
ScenarioResult = tuple[Observation, str]
ScenarioFunction = Callable[[Context], ScenarioResult]


def finish(proc: Proc, timeout: float, violations: list[str]) -> int | None:
    """Wait for a process the scenario expects to end by itself; one still running after
    ``timeout`` is a finding (a hang), is killed, and its exit code is None."""
    code = proc.wait(timeout)
    if code is None:
        violations.append(f"`{proc.label}` still running after {timeout:.0f}s (killed)")
        proc.kill()
    return code


def libfaketime() -> Path:
    """Debian's libfaketime (package `faketime`), or NeedsHook naming what is missing."""
    for path in LIBFAKETIME_PATHS:
        if path.is_file():
            return path
    raise NeedsHook(
        "a clock override for `send`/`runs resume` (the CLI has none; NEWSLETTER_FAKE_NOW "
        "only reaches the scheduler), or Debian's libfaketime: apt-get install faketime"
    )


class SqliteLock:
    """Another process holding SQLite's write lock (BEGIN IMMEDIATE) for ``seconds``."""

    SCRIPT = (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE')\n"
        "print('locked', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
        "c.execute('ROLLBACK')\n"
    )

    def __init__(self, path: Path, seconds: float) -> None:
        self.seconds = seconds
        self.popen = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(path), str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline().strip()  # BEGIN IMMEDIATE waits up to 30 s
        if line != "locked":
            self.popen.kill()
            raise HarnessError(f"could not take the SQLite write lock: {self.popen.stderr}")

    def release(self) -> None:
        """Wait for the holder to roll back and exit."""
        try:
            self.popen.wait(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise HarnessError("the SQLite lock holder did not exit") from None
