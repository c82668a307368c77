"""What a sending pass works with: its policy, its report, its jobs and its shared state."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from newsletter.delivery.mailer import Envelope, SendOutcome
from newsletter.delivery.replies import ReplyKind
from newsletter.ledger.record import ClaimedDelivery, DeliveryResult
from newsletter.models import DeliveryStatus, RunStatus

LEASE_RUNNING_OUT = "lease too close to its end"


@dataclass(frozen=True)
class SendPolicy:
    """How the engine behaves; built from the settings by the runtime."""

    base_url: str
    secret: bytes
    bounce_domain: str | None = None
    bounce_local_part: str = "bounces"
    confirmation_ttl: timedelta = timedelta(hours=72)
    batch_size: int = 500
    lease: timedelta = timedelta(minutes=5)
    retry_base_seconds: float = 60.0
    retry_cap_seconds: float = 6 * 3600.0
    retry_max_age: timedelta = timedelta(hours=96)
    pause_after_failures: int = 50
    pause_after_policy_failures: int = 10
    concurrency: int = 8
    record_every: int = 250
    record_interval: float = 0.1
    reap_interval: float = 60.0
    watch_interval: float = 0.25  # audience changes, run status and stop requests
    send_timeout: float = 30.0  # the longest one SMTP transaction may take
    rate_per_second: float | None = None  # the sum of the servers' limits, if all have one
    stop_grace: float = 10.0  # how long messages in flight may finish after a stop
    record_grace: float = 60.0  # how long a final write of results is retried
    stall_seconds: float = 1.0  # a ledger write slower than this holds the senders back

    @property
    def claim_limit(self) -> int:
        """Rows claimed at once: never more than a quarter of a lease's worth at the rate limit,
        so rows do not wait in the queue for most of their lease (renewal covers the rest)."""
        if self.rate_per_second is None:
            return self.batch_size
        worth = int(self.rate_per_second * self.lease.total_seconds() / 4)
        return max(1, min(self.batch_size, worth))

    @property
    def lease_margin(self) -> float:
        """A message is handed over only while its lease has this much time left."""
        return min(self.lease.total_seconds() / 2, self.send_timeout + 5)


class Signer(Protocol):
    """Signs final message bytes (DKIM), possibly in other processes."""

    async def sign_many(self, messages: list[bytes]) -> list[bytes]:
        """The signed messages, in order."""
        ...


@dataclass
class SendReport:
    """What one pass over a run did."""

    run_id: int
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    bounced: int = 0
    skipped: int = 0  # unsubscribed or suppressed after the run was planned
    handed_back: int = 0  # claimed but not sent: stopped, paused or interrupted
    stale: int = 0  # results not written: this sender had lost the row's lease
    templates_built: int = 0
    status: RunStatus = RunStatus.SENDING
    stopped_by: str | None = None  # "SIGTERM", "SIGINT", ... when a stop was requested
    counts: dict[str, int] = field(default_factory=dict)
    pause_reason: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    """One personalised message waiting for a connection."""

    claimed: ClaimedDelivery
    envelope: Envelope
    message_id: str | None


class PassState:
    """What the pipeline's tasks share during one pass."""

    def __init__(self, report: SendReport, policy: SendPolicy) -> None:
        self.report = report
        self.policy = policy
        self.stop = False
        self.closing = False  # the pass is ending: the recorder leaves the last write to it
        self.recording_since: float | None = None  # monotonic start of the write in progress
        self.wake = asyncio.Event()
        self.held: dict[int, ClaimedDelivery] = {}  # claimed, not handed over, no result yet
        self.in_flight: dict[int, ClaimedDelivery] = {}  # handed to the SMTP server
        self.deadlines: dict[str, float] = {}  # claim token -> monotonic end of safe sending
        self.stopped: dict[int, str] = {}  # held rows that must not go out, with the reason
        self.pending: list[DeliveryResult] = []
        self.claimed: dict[int, ClaimedDelivery] = {}
        self.failures = 0
        self.policy_failures = 0
        self.pause_reason: str | None = None
        self._reason_written = False
        self.failure: BaseException | None = None  # a stage that cannot go on: stop everyone
        self._failure_precise = False

    # -- leases ---------------------------------------------------------------------------

    def hold(self, rows: list[ClaimedDelivery], started: float) -> None:
        """Rows just claimed at monotonic time ``started``."""
        for row in rows:
            self.held[row.id] = row
            self.deadlines[row.claim] = self._deadline(started)

    def renewed(self, claims: list[str], kept: set[int], started: float) -> None:
        """Leases renewed by a statement sent at monotonic time ``started``; held rows not in
        ``kept`` were lost (another sender reclaimed them): they must never be sent by us."""
        for claim in claims:
            self.deadlines[claim] = self._deadline(started)
        for row_id in [i for i, row in self.held.items() if row.claim in claims and i not in kept]:
            del self.held[row_id]

    def _deadline(self, started: float) -> float:
        return started + self.policy.lease.total_seconds() - self.policy.lease_margin

    def live_claims(self) -> list[str]:
        """Claim tokens with rows still held or in flight."""
        rows = [*self.held.values(), *self.in_flight.values()]
        return sorted({row.claim for row in rows})

    def why_not_send(self, job: Job) -> str | None:
        """None when the message may be handed over now; else why not."""
        if self.stop:
            return "stopping"
        if job.claimed.id not in self.held:
            return "lease lost"
        if job.claimed.id in self.stopped:
            return self.stopped[job.claimed.id]
        if time.monotonic() > self.deadlines.get(job.claimed.claim, 0.0):
            return LEASE_RUNNING_OUT
        return None

    def fail(self, failure: BaseException, *, precise: bool = True) -> None:
        """Stop the pass because of ``failure``; a precise failure (the database's own words)
        replaces an imprecise one seen first (leases that ran out without a word why)."""
        if self.failure is None or (precise and not self._failure_precise):
            self.failure, self._failure_precise = failure, precise
        self.stop = True

    def ledger_stalled(self) -> bool:
        """The write in progress has taken longer than ``stall_seconds``: hand nothing more
        over until it lands, so a crash now cannot leave many accepted messages unrecorded."""
        since = self.recording_since
        return since is not None and time.monotonic() - since > self.policy.stall_seconds

    # -- outcomes -------------------------------------------------------------------------

    def add_results(self, results: list[DeliveryResult], rows: dict[int, ClaimedDelivery]) -> None:
        """Rows settled without being sent (skipped, or their message could not be built)."""
        self.pending.extend(results)
        self.claimed.update(rows)
        for result in results:
            self.held.pop(result.delivery_id, None)
            if result.status == DeliveryStatus.SKIPPED:
                self.report.skipped += 1
            else:
                self.report.failed += 1

    def handing_over(self, job: Job) -> None:
        """The message goes to the SMTP server now."""
        row = self.held.pop(job.claimed.id, job.claimed)
        self.in_flight[row.id] = row

    def outcome(self, job: Job, outcome: SendOutcome, result: DeliveryResult) -> None:
        """Count one outcome and decide whether the run must pause."""
        report = self.report
        self.in_flight.pop(job.claimed.id, None)
        self.pending.append(result)
        self.claimed[job.claimed.id] = job.claimed
        if result.status == DeliveryStatus.SENT:
            report.sent += 1
            self.failures = 0
            self.policy_failures = 0
            return
        if outcome.retry_after is not None:
            # Held back by a sending limit: end this pass, hand the other rows back.
            report.deferred += 1
            self.stop = True
            return
        if result.status == DeliveryStatus.DEFERRED:
            report.deferred += 1
        elif result.status == DeliveryStatus.BOUNCED:
            report.bounced += 1
        else:
            report.failed += 1
        if outcome.kind in (ReplyKind.TEMPORARY, ReplyKind.POLICY, ReplyKind.PERMANENT):
            self.failures += 1
        if outcome.kind is ReplyKind.POLICY:
            self.policy_failures += 1
        if self.pause_reason is None:
            if self.policy_failures >= self.policy.pause_after_policy_failures:
                self.pause_reason = (
                    f"paused after {self.policy_failures} policy refusals (5.7.x) in a row: "
                    f"check the sender's authentication and reputation; last: {outcome.describe}"
                )
            elif self.failures >= self.policy.pause_after_failures:
                self.pause_reason = (
                    f"paused after {self.failures} failures in a row; last: {outcome.describe}"
                )
            if self.pause_reason is not None:
                self.stop = True

    @property
    def pause_pending(self) -> bool:
        """A pause decided but not written yet."""
        return self.pause_reason is not None and not self._reason_written

    def take(self) -> tuple[list[DeliveryResult], dict[int, ClaimedDelivery], str | None]:
        """The results to write now, and a pause reason to write once."""
        results, claimed = self.pending, self.claimed
        self.pending, self.claimed = [], {}
        reason = None
        if self.pause_reason is not None and not self._reason_written:
            reason, self._reason_written = self.pause_reason, True
        return results, claimed, reason

    def give_back(
        self,
        results: list[DeliveryResult],
        claimed: dict[int, ClaimedDelivery],
        reason: str | None,
    ) -> None:
        """What a failed write did not store: keep it for the next try."""
        self.pending[:0] = results
        self.claimed.update(claimed)
        if reason is not None:
            self._reason_written = False
