"""One scenario's world: a fresh database seeded through the CLI, the fault server, the
``newsletter`` processes the scenario starts, and what the ledger says at the end.

Everything the product does is done by the real CLI in subprocesses with ``NEWSLETTER_*``
variables; the harness only reads the database (to learn run ids and ledger states) and, for
the scenarios that need it, holds a SQLite lock or skews a clock from outside.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from bench.chaos.faultsmtp import ChaosServer, FaultPlan
from bench.chaos.tally import OPEN_STATUSES, Observation, ledger_by_address

NEWSLETTER = Path(sys.executable).with_name("newsletter")
SECRET = "chaos-campaign-secret-key-0123456789"
LIST = "daily"
POSTGRES_ADMIN_URL = os.environ.get(
    "CHAOS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SETTLE_WAIT_CAP = 8.0  # seconds a final resume step waits for leases or retries to fall due


class HarnessError(Exception):
    """The harness could not carry out a step (not a finding about the product)."""


class NeedsHook(Exception):
    """The scenario needs something the product or the machine does not offer yet."""


class Skipped(Exception):
    """The scenario cannot run here (no PostgreSQL, say)."""


class Database(Protocol):
    """A database the scenario's processes share."""

    url: str

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query."""
        ...

    def drop(self) -> None:
        """Remove the database."""
        ...


class SqliteDatabase:
    """A SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on a short-lived connection."""
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            return list(connection.execute(sql.replace("%s", "?"), tuple(params)))
        finally:
            connection.close()

    def drop(self) -> None:
        """Nothing to do: the work folder goes away."""


class PostgresDatabase:
    """A uniquely named database on the PostgreSQL server (empty, or a copy of ``template``),
    dropped at the end."""

    def __init__(self, template: str | None = None) -> None:
        import psycopg

        self.name = f"chaos_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        try:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'CREATE DATABASE "{self.name}"{copy}')
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
            raise Skipped(f"no PostgreSQL at {POSTGRES_ADMIN_URL}: {first}") from None
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        self.url = f"{base}/{self.name}"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read query on a short-lived connection."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            return list(conn.execute(sql, tuple(params)).fetchall())  # type: ignore[arg-type]

    def drop(self) -> None:
        """Drop the database, closing whatever connections are left."""
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def base_environment(database_url: str, smtp_url: str = "smtp://127.0.0.1:9") -> dict[str, str]:
    """This process's environment without any NEWSLETTER_* setting, plus the campaign's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        NEWSLETTER_DATABASE_URL=database_url,
        NEWSLETTER_SECRET_KEY=SECRET,
        NEWSLETTER_SMTP_URL=smtp_url,
        NEWSLETTER_SMTP_TIMEOUT="10",
        # Deferred messages fall due again within a second or two, so a scenario can finish
        # its retries in bounded time.
        NEWSLETTER_RETRY_BASE_SECONDS="1",
    )
    return env


class Proc:
    """A newsletter process this harness started, with its output in files."""

    def __init__(self, args: Sequence[str], env: dict[str, str], logs: Path, label: str) -> None:
        self.label = label
        self.out_path = logs / f"{label}.out"
        self.err_path = logs / f"{label}.err"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.popen = subprocess.Popen(
                [str(NEWSLETTER), *args], env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL
            )
        self.started = time.monotonic()

    def running(self) -> bool:
        """Whether it has not exited yet."""
        return self.popen.poll() is None

    def signal(self, signum: int) -> float:
        """Send a signal; returns when (monotonic)."""
        self.popen.send_signal(signum)
        return time.monotonic()

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after ``timeout`` seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL this process (only this one) if it still runs."""
        if self.running():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=10)

    def output(self) -> str:
        """What it printed on stdout."""
        return self.out_path.read_text(errors="replace")

    def error_line(self) -> str:
        """The last non-empty line it printed on stderr (traceback or one-line error)."""
        lines = [ln.strip() for ln in self.err_path.read_text(errors="replace").splitlines()]
        lines = [ln for ln in lines if ln]
        return lines[-1][:160] if lines else ""


def seed(database_url: str, count: int, folder: Path) -> None:
    """A migrated database with one topic, one list and ``count`` active subscribers who all
    have news (three recent articles), made with the CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    env = base_environment(database_url)
    people = folder / "people.csv"
    people.write_text(
        "email,name\n" + "".join(f"{address(i)},Reader {i}\n" for i in range(count)),
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    articles = [
        {
            "title": f"Chaos story {i}",
            "url": f"https://news.example.org/chaos-{i}",
            "published_at": (now - timedelta(hours=1 + i)).isoformat(),
            "summary": f"What happened in story {i}.",
            "body_text": f"The body of chaos story number {i}, long enough to be a story.",
            "topics": ["tech"],
        }
        for i in range(3)
    ]
    (folder / "articles.json").write_text(json.dumps(articles), encoding="utf-8")
    steps = [
        ["db", "upgrade"],
        ["topics", "add", "tech"],
        ["lists", "create", LIST, "--name", "Chaos Daily", "--from-address",
         "digest@news.example.org", "--from-name", "Chaos Desk", "-t", "tech",
         "--no-double-opt-in"],
        ["subscribers", "import", str(people), "--list", LIST, "--confirmed"],
        ["ingest", str(folder / "articles.json")],
    ]  # fmt: skip
    # The commands run one after the other in one process: five interpreter start-ups cost
    # 10-40 s on a loaded two-core machine, and seeding is not what is being measured.
    log = folder / "seed.log"
    with log.open("wb") as out:
        try:
            done = subprocess.run(
                [sys.executable, "-c", SEED_SCRIPT, json.dumps(steps)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=180,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise HarnessError("seeding did not finish in 180 s") from None
    if done.returncode != 0:
        last = log.read_text(errors="replace").strip().splitlines()[-1:]
        raise HarnessError(f"seeding failed: {' '.join(last)}")


SEED_SCRIPT = """
import json, sys
from newsletter.cli.app import app
for step in json.loads(sys.argv[1]):
    print("$ newsletter", " ".join(step), flush=True)
    app(step, standalone_mode=False)
"""


def address(index: int) -> str:
    """The address of the index-th seeded subscriber."""
    return f"reader{index:05d}@example.com"


class Seeds:
    """Seeded SQLite files by subscriber count, made once per campaign and copied per trial."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: dict[int, Path] = {}

    def sqlite(self, count: int, target: Path) -> SqliteDatabase:
        """A fresh copy of the seeded file for ``count`` subscribers at ``target``."""
        if count not in self._made:
            path = self.folder / f"seed-{count}" / "newsletter.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            seed(f"sqlite:///{path}", count, path.parent)
            self._made[count] = path
        shutil.copyfile(self._made[count], target)
        return SqliteDatabase(target)


class Trial:
    """A scenario's database, fault server and processes."""

    def __init__(self, folder: Path, database: Database, plan: FaultPlan | None = None) -> None:
        self.folder = folder
        self.database = database
        self.server = ChaosServer(plan)
        self.server.start()
        self.processes: list[Proc] = []
        self.settings: dict[str, str] = {}

    def __enter__(self) -> Trial:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- processes ----------------------------------------------------------------------

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a newsletter process of this trial."""
        env = base_environment(self.database.url, self.server.url)
        env.update(self.settings)
        env.update(extra)
        return env

    def spawn(self, *args: str, env: dict[str, str] | None = None) -> Proc:
        """Start a newsletter command in the background."""
        label = f"{len(self.processes):02d}-{args[0]}"
        proc = Proc(args, env or self.env(), self.folder, label)
        self.processes.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 120.0) -> Proc:
        """Run a newsletter command to its end (its exit code is the caller's business)."""
        proc = self.spawn(*args)
        if proc.wait(timeout) is None:
            proc.kill()
            raise HarnessError(f"`newsletter {' '.join(args)}` did not finish in {timeout:.0f}s")
        return proc

    @contextmanager
    def brake(self, delay: float) -> Iterator[None]:
        """Slow every reply down while the block runs, so processes that start later join a
        send that is still going on a loaded machine. Connections are not dropped meanwhile:
        a reconnect would look like a new process to ``join``."""
        plan = self.server.handler.plan
        self.server.handler.plan = replace(plan, delay=max(plan.delay, delay), drop=frozenset())
        try:
            yield
        finally:
            self.server.handler.plan = plan

    def join(self, procs: Sequence[Proc], connections: int, timeout: float = 60.0) -> bool:
        """Spawned ``procs`` (just now): wait until ``connections`` connections opened since
        then carried a message, i.e. the new processes are sending."""
        since = min(p.started for p in procs)
        handler = self.server.handler
        return wait_until(
            lambda: handler.busy_connections_since(since) >= connections,
            timeout,
            interval=0.05,
            stop=lambda: not any(p.running() for p in procs),
        )

    def wait_accepted(self, count: int, timeout: float, proc: Proc | None = None) -> bool:
        """Wait until the server accepted ``count`` copies (False: timeout or ``proc`` ended)."""
        return wait_until(
            lambda: self.server.handler.accepted() >= count,
            timeout,
            stop=(lambda: not proc.running()) if proc is not None else None,
        )

    # -- the ledger -----------------------------------------------------------------------

    def subscribers(self) -> list[tuple[int, str]]:
        """(id, address) of every subscriber, in id order."""
        rows = self.database.rows("SELECT id, email FROM subscribers ORDER BY id")
        return [(int(i), str(e)) for i, e in rows]

    def list_id(self) -> int:
        """The id of the campaign's list."""
        return int(self.database.rows("SELECT id FROM lists WHERE slug = %s", [LIST])[0][0])

    def digest_runs(self) -> list[int]:
        """Ids of the list's digest runs, oldest first."""
        rows = self.database.rows(
            "SELECT id FROM runs WHERE kind IN ('manual', 'scheduled') ORDER BY id"
        )
        return [int(r[0]) for r in rows]

    def wait_for_run(self, timeout: float, after: int = 0) -> int:
        """The id of the first digest run newer than ``after``, once it exists."""
        found: list[int] = []

        def appeared() -> bool:
            found[:] = [r for r in self.digest_runs() if r > after]
            return bool(found)

        if not wait_until(appeared, timeout, interval=0.05):
            raise HarnessError(f"no run was planned within {timeout:.0f}s")
        return found[0]

    def leased(self) -> int:
        """Rows still claimed (status sending)."""
        return int(
            self.database.rows("SELECT count(*) FROM deliveries WHERE status = 'sending'")[0][0]
        )

    def open_rows(self) -> list[tuple[int, str, datetime | None]]:
        """(run, status, when it falls due) of every digest row a later pass would act on."""
        rows = self.database.rows(
            "SELECT d.run_id, d.status, d.next_attempt_at, d.lease_until FROM deliveries d "
            "JOIN runs r ON r.id = d.run_id WHERE r.kind IN ('manual', 'scheduled') "
            "AND d.status IN ('queued', 'deferred', 'sending') AND r.status != 'cancelled'"
        )
        out = []
        for run_id, status, next_attempt, lease in rows:
            due = _utc(lease) if status == "sending" else _utc(next_attempt)
            out.append((int(run_id), str(status), due))
        return out

    def settle(self, rounds: int = 3) -> int:
        """The scenario's resume steps: wait (a bounded time) for leases and retries to fall
        due and run ``runs resume`` on every run with open rows. Returns how many passes ran."""
        passes = 0
        for _ in range(rounds):
            rows = self.open_rows()
            if not rows:
                break
            now = datetime.now(UTC)
            waits = [max(0.0, (due - now).total_seconds()) if due else 0.0 for _, _, due in rows]
            time.sleep(min(max(waits), SETTLE_WAIT_CAP) + 0.3)
            for run_id in sorted({run for run, _, _ in rows}):
                self.run("runs", "resume", str(run_id))
                passes += 1
        return passes

    def observe(
        self,
        *,
        unsubscribed_at: dict[str, float] | None = None,
        violations: Sequence[str] = (),
    ) -> Observation:
        """Everything the server saw and the ledger says, for ``tally``."""
        copies, lost = self.server.handler.snapshot()
        rows = self.database.rows(
            "SELECT d.email, d.status FROM deliveries d JOIN runs r ON r.id = d.run_id "
            "WHERE r.kind IN ('manual', 'scheduled')"
        )
        return Observation(
            subscribers=[email for _, email in self.subscribers()],
            copies=copies,
            ledger=ledger_by_address((str(e), str(s)) for e, s in rows),
            lost_connections=lost,
            unsubscribed_at=unsubscribed_at or {},
            violations=tuple(violations),
        )

    def close(self) -> None:
        """Kill what is still running (only our own processes), stop the server, drop the db."""
        for proc in self.processes:
            proc.kill()
        self.server.stop()
        self.database.drop()


def _utc(value: object) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    *,
    interval: float = 0.01,
    stop: Callable[[], bool] | None = None,
) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes or ``stop`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if stop is not None and stop():
            return condition()
        time.sleep(interval)
    return condition()


__all__ = [
    "OPEN_STATUSES",
    "HarnessError",
    "NeedsHook",
    "Proc",
    "Seeds",
    "Skipped",
    "Trial",
]
