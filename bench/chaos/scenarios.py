"""The campaign's scenarios about load and faults (issue 10); signals are in ``signals.py``.

Each scenario seeds a fresh database, drives the real CLI against the fault server, runs its
resume steps (``Trial.settle``) and returns what it observed. Sizes are small and every wait is
bounded, so the whole campaign stays well under ten minutes on two cores.
"""

from __future__ import annotations

import re
import time

import httpx

from bench.chaos.context import Context, ScenarioResult, SqliteLock, finish, libfaketime
from bench.chaos.faultsmtp import FaultPlan
from bench.chaos.trial import (
    LIST,
    SECRET,
    HarnessError,
    PostgresDatabase,
    Proc,
    SqliteDatabase,
    address,
    wait_until,
)
from newsletter.db import SQLITE_BUSY_TIMEOUT_MS
from newsletter.devtools.capture import free_port
from subscribers.tokens import Purpose, make_token

SEND = ("send", "--list", LIST)
AFTER_LOCK_SECONDS = 20.0  # how long a send may go on after the ledger lock was taken
JOIN_DELAY = 2.0  # seconds per reply while later processes start up


def _summary(output: str) -> str:
    """The `run N: ...` lines a send printed, shortened."""
    lines = [ln.strip() for ln in output.splitlines() if ln.startswith("run ")]
    return " / ".join(lines)[:200]


def _sent_by(*procs: Proc) -> str:
    """How many messages each process said it sent (its last `run N: X sent` line)."""
    counts = []
    for proc in procs:
        found = re.findall(r"^run \d+: (\d+) sent", proc.output(), re.MULTILINE)
        counts.append(found[-1] if found else "?")
    return "/".join(counts)


def slow_relay(ctx: Context) -> ScenarioResult:
    """A relay that takes 100 ms per message and a lease shorter than the claimed queue takes
    to drain: rows wait in the sender's queue past their lease."""
    count, batch, lease = ctx.size(600, 150), ctx.size(200, 50), ctx.size(2, 1)
    violations: list[str] = []
    with ctx.sqlite_trial("slow-relay", count, FaultPlan(delay=0.1)) as trial:
        trial.settings.update(
            NEWSLETTER_SEND_LEASE_SECONDS=str(lease),
            NEWSLETTER_SEND_BATCH_SIZE=str(batch),
            NEWSLETTER_SMTP_POOL_SIZE="4",
        )
        send = trial.spawn(*SEND)
        finish(send, 120, violations)
        trial.settle()
        note = f"0.1 s per message, 4 connections, batch {batch}, lease {lease} s"
        return trial.observe(violations=violations), note


def rate_limited(ctx: Context) -> ScenarioResult:
    """NEWSLETTER_SMTP_RATE_PER_SECOND below what the claimed queue needs within its lease."""
    count, batch, rate, lease = ctx.size(600, 150), ctx.size(200, 50), ctx.size(40, 30), 2
    violations: list[str] = []
    with ctx.sqlite_trial("rate-limited", count) as trial:
        trial.settings.update(
            NEWSLETTER_SMTP_RATE_PER_SECOND=str(rate),
            NEWSLETTER_SEND_LEASE_SECONDS=str(lease),
            NEWSLETTER_SEND_BATCH_SIZE=str(batch),
        )
        send = trial.spawn(*SEND)
        finish(send, 120, violations)
        trial.settle()
        note = f"{rate} messages/s, batch {batch}, lease {lease} s"
        return trial.observe(violations=violations), note


def ledger_write_failure(ctx: Context) -> ScenarioResult:
    """Another process holds SQLite's write lock longer than the busy timeout mid-send: the
    send must stop and say why, and nothing it sent may go out again."""
    count, hold = ctx.size(600, 150), SQLITE_BUSY_TIMEOUT_MS / 1000 + 2
    violations: list[str] = []
    with ctx.sqlite_trial("ledger-write-failure", count, FaultPlan(delay=0.05)) as trial:
        assert isinstance(trial.database, SqliteDatabase)
        trial.settings.update(NEWSLETTER_SEND_LEASE_SECONDS="3", NEWSLETTER_SMTP_POOL_SIZE="4")
        send = trial.spawn(*SEND)
        trial.wait_accepted(count // 5, 60, send)
        if not send.running():
            raise HarnessError("the send ended before the lock could be taken")
        lock = SqliteLock(trial.database.path, hold)
        # Bounded: an engine that goes on sending without a ledger re-sends for ever.
        code = finish(send, hold + AFTER_LOCK_SECONDS, violations)
        lock.release()
        stderr = send.err_path.read_text(errors="replace")
        if code == 0:
            violations.append("send exited 0 although its ledger could not be written")
        if "Traceback" in stderr:
            violations.append("a traceback instead of one line naming the cause")
        trial.settle()
        ended = f"exit {code}: {send.error_line()[:90]}" if code is not None else "killed"
        note = f"write lock held {hold:.0f}s; send {ended}"
        return trial.observe(violations=violations), note


def unsubscribe_storm(ctx: Context) -> ScenarioResult:
    """One-click unsubscribes POSTed to a running web app while the send runs: nobody may get
    a message handed over more than a second after they unsubscribed."""
    count = ctx.size(600, 150)
    violations: list[str] = []
    web_port = free_port()
    base = f"http://127.0.0.1:{web_port}"
    plan = FaultPlan(delay=ctx.size(0.05, 0.1))
    with ctx.sqlite_trial("unsubscribe-storm", count, plan) as trial:
        trial.settings.update(NEWSLETTER_BASE_URL=base, NEWSLETTER_SMTP_POOL_SIZE="4")
        web = trial.spawn("web", "--host", "127.0.0.1", "--port", str(web_port))
        with httpx.Client(timeout=10) as client:

            def up() -> bool:
                try:
                    return client.get(f"{base}/l/{LIST}").status_code == 200
                except httpx.TransportError:
                    return False

            if not wait_until(up, 60, interval=0.2, stop=lambda: not web.running()):
                raise HarnessError(f"the web app did not come up: {web.error_line()}")
            people = trial.subscribers()
            list_id = trial.list_id()
            storm = [
                (i, e) for n, (i, e) in enumerate(people) if n >= len(people) // 2 and n % 3 == 0
            ]
            send = trial.spawn(*SEND)
            trial.wait_accepted(max(1, count // 20), 60, send)
            unsubscribed: dict[str, float] = {}
            for subscriber_id, email in storm:
                token = make_token(SECRET.encode(), Purpose.UNSUBSCRIBE, subscriber_id, list_id)
                reply = client.post(
                    f"{base}/u/{token}", data={"List-Unsubscribe": "One-Click"}, timeout=30
                )
                if reply.status_code != 200:
                    raise HarnessError(f"one-click unsubscribe answered {reply.status_code}")
                unsubscribed[email] = time.monotonic()
        finish(send, 120, violations)
        web.kill()
        trial.settle()
        note = f"{len(storm)} one-click unsubscribes POSTed during the send"
        return trial.observe(unsubscribed_at=unsubscribed, violations=violations), note


def second_send_with_retries_pending(ctx: Context) -> ScenarioResult:
    """Every tenth person is greylisted during a first send; the list is sent again while their
    retries are pending, then the first run's retries go out."""
    count = ctx.size(600, 150)
    greylisted = frozenset(address(i) for i in range(0, count, 10))
    violations: list[str] = []
    with ctx.sqlite_trial("second-send", count, FaultPlan(greylist=greylisted)) as trial:
        first = trial.run(*SEND)
        trial.server.handler.plan = FaultPlan()  # the greylisting ends
        second = trial.run(*SEND)
        for proc in (first, second):
            if proc.wait(0) != 0:
                violations.append(f"`{proc.label}` exited {proc.wait(0)}: {proc.error_line()}")
        trial.settle()
        note = f"{len(greylisted)} greylisted; 2nd send: {_summary(second.output())[:90]}"
        return trial.observe(violations=violations), note


def skewed_clocks(ctx: Context) -> ScenarioResult:
    """Two processes send one run; the second's clock runs ten minutes ahead (libfaketime),
    more than the default five-minute lease.

    On PostgreSQL: processes with different clocks are processes on different hosts, and only
    a database server has a clock of its own (SQLite's `now` is the calling process's clock,
    which libfaketime skews too)."""
    library = libfaketime()
    count, skew, delay = ctx.size(600, 150), 600, ctx.size(0.05, 0.1)
    violations: list[str] = []
    with ctx.postgres_trial("skewed-clocks", count, FaultPlan(delay=delay)) as trial:
        batch = str(ctx.size(100, 20))
        trial.settings.update(NEWSLETTER_SEND_BATCH_SIZE=batch, NEWSLETTER_SMTP_POOL_SIZE="4")
        first = trial.spawn(*SEND)
        run_id = trial.wait_for_run(60)
        trial.wait_accepted(5, 60, first)
        ahead = trial.env(
            LD_PRELOAD=str(library), FAKETIME=f"+{skew}", FAKETIME_DONT_FAKE_MONOTONIC="1"
        )
        with trial.brake(JOIN_DELAY):
            second = trial.spawn("runs", "resume", str(run_id), env=ahead)
            trial.join([second], connections=1)
        finish(first, 120, violations)
        finish(second, 120, violations)
        trial.settle()
        note = (
            f"2nd process {skew} s ahead (libfaketime), lease 300 s (default); "
            f"sent: {_sent_by(first, second)}"
        )
        return trial.observe(violations=violations), note


def three_senders_postgres(ctx: Context) -> ScenarioResult:
    """Three processes share one run on PostgreSQL while the server is slow for some people,
    greylists others once, and drops the connection after accepting for a few."""
    count = ctx.size(600, 150)
    plan = FaultPlan(
        delay=ctx.size(0.04, 0.1),
        slow=frozenset(address(i) for i in range(11, count, 25)),
        slow_delay=0.5,
        greylist=frozenset(address(i) for i in range(3, count, 10)),
        greylist_attempts=1,
        drop=frozenset(address(i) for i in range(7, count, 20)),
    )
    violations: list[str] = []
    with ctx.postgres_trial("three-senders-pg", count, plan) as trial:
        assert isinstance(trial.database, PostgresDatabase)
        batch = str(ctx.size(50, 10))
        trial.settings.update(NEWSLETTER_SEND_BATCH_SIZE=batch, NEWSLETTER_SMTP_POOL_SIZE="3")
        first = trial.spawn(*SEND)
        run_id = trial.wait_for_run(60)
        trial.wait_accepted(5, 60, first)
        with trial.brake(JOIN_DELAY):
            others = [trial.spawn("runs", "resume", str(run_id)) for _ in range(2)]
            trial.join(others, connections=4)  # 3 per process: more than 3 means both joined
        for proc in (first, *others):
            finish(proc, 120, violations)
        trial.settle(rounds=4)
        copies, _ = trial.server.handler.snapshot()
        dropped = sum(1 for c in copies if c.dropped_before_reply)
        note = (
            f"{len(plan.slow)} slow, {len(plan.greylist)} greylisted once, {dropped} dropped "
            f"after accepting; sent by the 3 processes: {_sent_by(first, *others)}"
        )
        return trial.observe(violations=violations), note
