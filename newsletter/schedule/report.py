"""What a dispatch pass reports: the runs it wrote and the conflicts it backed out of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from newsletter.schedule.periods import Verdict


@dataclass(frozen=True)
class RunRecord:
    """One run the dispatcher wrote (a digest run, or a finished run of skipped periods)."""

    run_id: int
    list_slug: str
    period: str
    verdict: str
    queued: int
    skipped: int
    due_at: datetime
    reason: str | None = None


@dataclass
class DispatchReport:
    """What one dispatch pass did."""

    runs: list[RunRecord] = field(default_factory=list)
    conflicts: int = 0
    sends_missed: list[int] = field(default_factory=list)

    @property
    def created(self) -> list[RunRecord]:
        """Runs that have something to send (or to skip for lack of news)."""
        return [r for r in self.runs if r.verdict in (Verdict.SEND, "one-off")]
