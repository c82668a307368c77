"""Pure counting for the chaos campaign: who got how many copies, which extras are explained.

Inputs are what the fault server saw (every accepted copy, with its connection) and what the
ledger says at the end; the output is one table row. No I/O here, so the rules are unit-tested
(tests/unit/test_chaos_harness.py).

The rules:
- *delivered once*: a subscriber the server accepted exactly one copy for.
- *duplicates*: every copy beyond the first. One is *explained* when a copy of that person's
  was accepted on a connection that was lost before our 250 could be acted on: the server
  dropped it on purpose right after accepting, or the client vanished (SIGKILL, SIGTERM) within
  ``loss_window`` seconds of the acceptance (issue 10 asks for a record within 100 ms of the
  250). No sender can avoid those. The rest are *unexplained*.
- *lost*: an expected subscriber (active, with news) with no accepted copy whose ledger rows
  are not open (queued, deferred or sending: a later pass would still send them). A person
  with no ledger row at all is lost too.
- *pending*: an expected subscriber with no copy yet but an open ledger row.
- *violations*: copies handed over more than ``grace`` seconds after the person unsubscribed,
  plus whatever rule the scenario checked itself (a signal that did not stop cleanly).
"""

from __future__ import annotations

import enum
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# Ledger statuses a later `runs resume` would still act on.
OPEN_STATUSES = frozenset({"queued", "deferred", "sending"})
LOSS_WINDOW_SECONDS = 0.15  # issue 10: record within 100 ms of the 250, plus scheduling slack
UNSUBSCRIBE_GRACE_SECONDS = 1.0  # issue 10: honoured before the next message, about 1 s later


@dataclass(frozen=True)
class Copy:
    """One message the fault server accepted (monotonic times of the harness process)."""

    recipient: str
    connection: int
    handed_at: float  # the DATA command arrived: the message was handed over
    accepted_at: float  # the server decided to accept it (the 250 was due)
    dropped_before_reply: bool = False  # the server closed the connection instead of the 250


@dataclass(frozen=True)
class Observation:
    """Everything one scenario measured, ready to be counted."""

    subscribers: Collection[str]
    copies: Sequence[Copy]
    ledger: Mapping[str, Collection[str]]  # address -> statuses of its delivery rows
    lost_connections: Mapping[int, float] = field(default_factory=dict)  # id -> when, no QUIT
    unsubscribed_at: Mapping[str, float] = field(default_factory=dict)
    violations: Sequence[str] = ()  # rules the scenario checked itself, one line each


class Verdict(enum.StrEnum):
    """How a scenario ended."""

    PASS = "pass"
    FAIL = "FAIL"
    NEEDS_HOOK = "needs hook"
    SKIPPED = "skipped"
    ERROR = "ERROR"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    scenario: str
    database: str
    subscribers: int = 0
    once: int = 0
    dup_explained: int = 0
    dup_unexplained: int = 0
    lost: int = 0
    pending: int = 0
    violations: int = 0
    seconds: float = 0.0
    verdict: Verdict = Verdict.PASS
    note: str = ""


def explained_copies(
    copies: Iterable[Copy], lost_connections: Mapping[int, float], window: float
) -> Counter[str]:
    """Per recipient, the accepted copies whose 250 the sender may never have acted on."""
    explained: Counter[str] = Counter()
    for copy in copies:
        lost_at = lost_connections.get(copy.connection)
        vanished = lost_at is not None and 0.0 <= lost_at - copy.accepted_at <= window
        if copy.dropped_before_reply or vanished:
            explained[copy.recipient] += 1
    return explained


def late_copies(
    copies: Iterable[Copy], unsubscribed_at: Mapping[str, float], grace: float
) -> list[Copy]:
    """Copies handed over more than ``grace`` seconds after their recipient unsubscribed."""
    late = []
    for copy in copies:
        left = unsubscribed_at.get(copy.recipient)
        if left is not None and copy.handed_at > left + grace:
            late.append(copy)
    return late


def tally(
    scenario: str,
    database: str,
    observation: Observation,
    *,
    seconds: float = 0.0,
    note: str = "",
    window: float = LOSS_WINDOW_SECONDS,
    grace: float = UNSUBSCRIBE_GRACE_SECONDS,
) -> Row:
    """Count one scenario's observation into a table row with its verdict."""
    people = set(observation.subscribers)
    received: Counter[str] = Counter(c.recipient for c in observation.copies)
    explained = explained_copies(observation.copies, observation.lost_connections, window)
    once = sum(1 for person in people if received[person] == 1)
    dup_explained = dup_unexplained = 0
    for person, count in received.items():
        extra = count - 1
        if extra <= 0:
            continue
        covered = min(extra, explained[person])
        dup_explained += covered
        dup_unexplained += extra - covered
    expected = people - set(observation.unsubscribed_at)
    lost = pending = 0
    for person in expected:
        if received[person]:
            continue
        if OPEN_STATUSES & set(observation.ledger.get(person, ())):
            pending += 1
        else:
            lost += 1
    late = late_copies(observation.copies, observation.unsubscribed_at, grace)
    violations = len(late) + len(observation.violations)
    notes = [note] if note else []
    if late:
        worst = max(c.handed_at - observation.unsubscribed_at[c.recipient] for c in late)
        notes.append(f"{len(late)} sent >{grace:g}s after unsubscribing (up to {worst:.1f}s)")
    notes.extend(observation.violations)
    failed = dup_unexplained or lost or violations
    return Row(
        scenario=scenario,
        database=database,
        subscribers=len(people),
        once=once,
        dup_explained=dup_explained,
        dup_unexplained=dup_unexplained,
        lost=lost,
        pending=pending,
        violations=violations,
        seconds=seconds,
        verdict=Verdict.FAIL if failed else Verdict.PASS,
        note="; ".join(notes),
    )


def ledger_by_address(rows: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
    """Group (address, status) ledger rows by address."""
    grouped: dict[str, set[str]] = defaultdict(set)
    for address, status in rows:
        grouped[address].add(status)
    return dict(grouped)


HEADERS = (
    "scenario",
    "db",
    "subs",
    "once",
    "dup expl",
    "dup unexpl",
    "lost",
    "pending",
    "viol",
    "secs",
    "result",
)


def format_table(rows: Sequence[Row]) -> str:
    """The campaign's table (plain text, one row per scenario, notes below)."""
    cells = [
        (
            r.scenario,
            r.database,
            str(r.subscribers),
            str(r.once),
            str(r.dup_explained),
            str(r.dup_unexplained),
            str(r.lost),
            str(r.pending),
            str(r.violations),
            f"{r.seconds:.0f}",
            str(r.verdict),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(HEADERS)]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.ljust(w) if i in (0, 1, 10) else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(HEADERS), line(["-" * w for w in widths])]
    out.extend(line(c) for c in cells)
    notes = [f"  {r.scenario}: {r.note}" for r in rows if r.note]
    if notes:
        out.append("")
        out.append("notes:")
        out.extend(notes)
    return "\n".join(out)


def exit_code(rows: Sequence[Row]) -> int:
    """1 when any scenario failed (unexplained duplicates, lost messages or violations),
    2 when none failed but the harness itself could not finish one, else 0."""
    verdicts = {r.verdict for r in rows}
    if Verdict.FAIL in verdicts:
        return 1
    if Verdict.ERROR in verdicts:
        return 2
    return 0
