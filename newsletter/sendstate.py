"""What a sending pass works with: its policy, its report, its jobs and its shared state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from newsletter.delivery.ledger import ClaimedDelivery, DeliveryResult
from newsletter.delivery.mailer import Envelope, SendOutcome
from newsletter.delivery.replies import ReplyKind
from newsletter.models import DeliveryStatus, RunStatus


@dataclass(frozen=True)
class SendPolicy:
    """How the sender behaves; built from the settings by the entry point."""

    base_url: str
    secret: bytes
    bounce_domain: str | None = None
    bounce_local_part: str = "bounces"
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
    templates_built: int = 0
    status: str = RunStatus.SENDING
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
        self.senders_done = False
        self.wake = asyncio.Event()
        self.unsent: list[Job] = []
        self.pending: list[DeliveryResult] = []
        self.claimed: dict[int, ClaimedDelivery] = {}
        self.failures = 0
        self.policy_failures = 0
        self.pause_reason: str | None = None
        self._reason_written = False

    def add_results(
        self, results: list[DeliveryResult], claimed: dict[int, ClaimedDelivery]
    ) -> None:
        self.pending.extend(results)
        self.claimed.update(claimed)
        for result in results:
            if result.status == DeliveryStatus.SKIPPED:
                self.report.skipped += 1
            else:
                self.report.failed += 1

    def outcome(self, job: Job, outcome: SendOutcome, result: DeliveryResult) -> None:
        """Count one outcome and decide whether the run must pause."""
        report = self.report
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
