"""The campaign's signal scenarios (issue 10): SIGKILL three times with `runs resume`, and a
clean stop on SIGTERM and on SIGINT.

A clean stop (issue 10, "Clean stops"): the process stops claiming, finishes or hands back what
is in flight within a bounded time, leaves no row claimed, and exits 0 (130 for Ctrl-C).
Anything else is counted as a violation with the reason in the note.
"""

from __future__ import annotations

import signal
import time

from bench.chaos.context import Context, ScenarioResult, finish
from bench.chaos.faultsmtp import FaultPlan
from bench.chaos.scenarios import SEND

LEASE_SECONDS = 3
STOP_BOUND_SECONDS = 10.0  # a stop must be over by then
IN_FLIGHT_SECONDS = 2.0  # messages handed over later than this after the signal were new work


def sigkill_three_times(ctx: Context) -> ScenarioResult:
    """SIGKILL the sender at about 15%, 40% and 65% of the way, each time `runs resume` after
    the dead process's lease ran out, then let the last one finish."""
    count = ctx.size(600, 150)
    violations: list[str] = []
    notes: list[str] = []
    with ctx.sqlite_trial("sigkill-x3", count, FaultPlan(delay=0.02)) as trial:
        trial.settings.update(
            NEWSLETTER_SEND_LEASE_SECONDS=str(LEASE_SECONDS),
            NEWSLETTER_SEND_BATCH_SIZE="20",
            NEWSLETTER_SMTP_POOL_SIZE="4",
        )
        proc = trial.spawn(*SEND)
        run_id = trial.wait_for_run(60)
        for share in (0.15, 0.40, 0.65):
            trial.wait_accepted(int(count * share), 60, proc)
            if not proc.running():
                notes.append(f"`{proc.label}` ended before the kill at {share:.0%}")
            proc.kill()
            notes.append(f"killed at {trial.server.handler.accepted()} accepted")
            time.sleep(LEASE_SECONDS + 0.5)
            proc = trial.spawn("runs", "resume", str(run_id))
        finish(proc, 120, violations)
        trial.settle()
        note = f"lease {LEASE_SECONDS} s, batch 20; " + ", ".join(notes)
        return trial.observe(violations=violations), note


def _clean_stop(ctx: Context, name: str, signum: int, expected_exit: int) -> ScenarioResult:
    count = ctx.size(400, 150)
    violations: list[str] = []
    with ctx.sqlite_trial(name, count, FaultPlan(delay=0.02)) as trial:
        trial.settings.update(
            NEWSLETTER_SEND_LEASE_SECONDS=str(LEASE_SECONDS),
            NEWSLETTER_SEND_BATCH_SIZE="20",
            NEWSLETTER_SMTP_POOL_SIZE="4",
        )
        send = trial.spawn(*SEND)
        trial.wait_accepted(int(count * 0.3), 60, send)
        signalled_at = send.signal(signum)
        code = send.wait(STOP_BOUND_SECONDS)
        took = time.monotonic() - signalled_at
        if code is None:
            violations.append(f"still running {STOP_BOUND_SECONDS:.0f}s after the signal")
            code = finish(send, 5, violations)
        leased = trial.leased()
        copies, _ = trial.server.handler.snapshot()
        late = sum(1 for c in copies if c.handed_at > signalled_at + IN_FLIGHT_SECONDS)
        if code != expected_exit:
            violations.append(f"exit {code}, expected {expected_exit}")
        if leased:
            violations.append(f"{leased} rows left claimed (wait for their lease)")
        if late:
            violations.append(f"{late} messages handed over >{IN_FLIGHT_SECONDS:g}s after it")
        trial.settle()
        note = f"stopped after {took:.1f}s"
        return trial.observe(violations=violations), note


def sigterm(ctx: Context) -> ScenarioResult:
    """SIGTERM during `send`: a clean stop with exit 0."""
    return _clean_stop(ctx, "sigterm", signal.SIGTERM, 0)


def sigint(ctx: Context) -> ScenarioResult:
    """SIGINT (Ctrl-C) during `send`: a clean stop with exit 130."""
    return _clean_stop(ctx, "sigint", signal.SIGINT, 130)
