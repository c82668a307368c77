"""What the engine reads and writes: its one narrow interface to the ledger (as listmonk's
``DataSource`` is to its manager). Each call is one transaction; the engine runs them on its
sender's own database thread. Claiming also builds the claimed rows' messages, because the
message kind reads the database to build them (digests, notes, who left since the claim).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from jinja2 import Environment
from sqlalchemy import Engine
from sqlmodel import Session

from newsletter.db import session_scope
from newsletter.delivery.mailer import Envelope
from newsletter.ledger.record import (
    ClaimedDelivery,
    DeliveryResult,
    audience_version,
    claim_batch,
    reap_expired,
    record_results,
    release_claims,
    renew_leases,
    run_counts,
)
from newsletter.models import OPEN_STATES, DeliveryStatus, Run, RunStatus
from newsletter.sending.kinds import MessageKind, kind_for
from newsletter.sending.state import Job, SendPolicy
from subscribers.service import mark_bounced

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


class Stages:
    """Wall-clock seconds spent per stage (threads overlap, so they do not add up)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


class RunLedger:
    """One sender's reads and writes of the runs and rows it sends."""

    def __init__(
        self,
        engine: Engine,
        env: Environment,
        policy: SendPolicy,
        *,
        clock: Clock,
        worker: str,
        on_flush: Callable[[Session], None] | None = None,
    ) -> None:
        self.engine = engine
        self.env = env
        self.policy = policy
        self.clock = clock
        self.worker = worker
        self.on_flush = on_flush
        self.stages = Stages()
        self.claims = 0
        self.after_id: int | None = 0  # the claim cursor, per run

    def open(self, run_id: int) -> tuple[RunStatus, MessageKind | None, datetime | None]:
        """Hand back dead workers' rows; the run's status, message kind and planning time."""
        with session_scope(self.engine) as session:
            reap_expired(session)
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, None, None
            status = RunStatus(run.status)
            if status != RunStatus.SENDING:
                return status, None, None
            return status, kind_for(session, run, self.policy, self.env), run.created_at

    def claim_jobs(
        self, run_id: int, kind: MessageKind
    ) -> tuple[RunStatus, list[ClaimedDelivery], list[Job], list[DeliveryResult], float]:
        """Claim a batch and build its messages (rows that cannot be built fail, rows of
        people who left are skipped)."""
        started = time.perf_counter()
        monotonic = time.monotonic()
        now = self.clock()
        self.claims += 1
        claim = f"{self.worker}#{self.claims}"
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, [], [], [], monotonic
            status = RunStatus(run.status)
            if status != RunStatus.SENDING:
                return status, [], [], [], monotonic
            lease, limit = self.policy.lease, self.policy.claim_limit
            claimed, _ = claim_batch(
                session,
                run_id=run_id,
                claim=claim,
                now=now,
                limit=limit,
                lease=lease,
                after_id=self.after_id,
            )
            if not claimed and self.after_id is not None:
                # Rows behind the cursor: handed back by the reaper or another worker.
                self.after_id = None
                claimed, _ = claim_batch(
                    session, run_id=run_id, claim=claim, now=now, limit=limit, lease=lease
                )
            if claimed:
                self.after_id = claimed[-1].id
            self.stages.add("claim", started)
            if not claimed:
                return status, [], [], [], monotonic
            started = time.perf_counter()
            kind.prepare(session, claimed, now)
            stopped = kind.stopped(session, claimed)
            self.stages.add("render+inline", started)
        started = time.perf_counter()
        jobs: list[Job] = []
        broken: list[DeliveryResult] = []
        for row in claimed:
            if row.id in stopped:
                broken.append(DeliveryResult(row.id, DeliveryStatus.SKIPPED, error=stopped[row.id]))
                continue
            try:
                built = kind.build(row)
            except (ValueError, LookupError, UnicodeError) as exc:  # one bad row never aborts
                error = f"message could not be built: {exc}"
                broken.append(DeliveryResult(row.id, DeliveryStatus.FAILED, error=error))
                continue
            envelope = Envelope(sender=built.sender, recipient=row.email, data=built.data)
            jobs.append(Job(row, envelope, built.message_id))
        self.stages.add("personalise", started)
        return status, claimed, jobs, broken, monotonic

    def record(
        self,
        run_id: int,
        kind: MessageKind,
        planned_at: datetime,
        results: list[DeliveryResult],
        claimed: dict[int, ClaimedDelivery],
        pause_reason: str | None,
    ) -> tuple[RunStatus, int]:
        started = time.perf_counter()
        now = self.clock()
        with session_scope(self.engine) as session:
            recorded = record_results(
                session,
                results,
                claimed,
                now=now,
                digest_articles=kind.articles(),
                planned_at=planned_at if kind.records_history else None,
            )
            stale = set(recorded.stale)
            for result in results:
                row = claimed.get(result.delivery_id)
                if (
                    result.status == DeliveryStatus.BOUNCED
                    and row is not None
                    and row.subscriber_id
                    and row.id not in stale
                ):
                    mark_bounced(session, subscriber_id=row.subscriber_id, now=now)
            if self.on_flush is not None:
                self.on_flush(session)
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, len(stale)
            if pause_reason and run.status == RunStatus.SENDING:
                run.status = RunStatus.PAUSED
                run.pause_reason = pause_reason
            status = RunStatus(run.status)
        if stale:
            log.warning(
                "run %s: %d result(s) not written, this sender no longer held their lease: %s",
                run_id,
                len(stale),
                ", ".join(map(str, sorted(stale)[:20])),
            )
        self.stages.add("record", started)
        return status, len(stale)

    def watch(
        self,
        run_id: int,
        kind: MessageKind,
        seen_version: int | None,
        held: list[ClaimedDelivery],
        renew: list[str],
    ) -> tuple[RunStatus, int, dict[int, str], set[int], float]:
        """One look at the database: run status, audience changes among held rows, and lease
        renewal for the claims still in use (returns the ids still ours)."""
        monotonic = time.monotonic()
        kept: set[int] = set()
        with session_scope(self.engine) as session:
            if renew:
                _, kept = renew_leases(session, claims=renew, lease=self.policy.lease)
            run = session.get(Run, run_id)
            status = RunStatus(run.status) if run is not None else RunStatus.CANCELLED
            version = audience_version(session)
            stopped = kind.stopped(session, held) if held and version != seen_version else {}
        return status, version, stopped, kept, monotonic

    def release(self, keep: list[int]) -> int:
        with session_scope(self.engine) as session:
            return release_claims(session, worker=self.worker, keep=keep)

    def finish_if_done(self, run_id: int) -> tuple[RunStatus, dict[str, int], str | None]:
        with session_scope(self.engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                return RunStatus.CANCELLED, {}, None
            counts = run_counts(session, run_id=run_id)
            open_rows = sum(counts[str(status)] for status in OPEN_STATES)
            if run.status == RunStatus.SENDING and open_rows == 0:
                run.status = RunStatus.DONE
                run.finished_at = self.clock()
            return RunStatus(run.status), counts, run.pause_reason

    def reap(self) -> int:
        """Hand back the rows of claims whose lease ran out (dead or stuck senders)."""
        with session_scope(self.engine) as session:
            return reap_expired(session)
