"""Run management on the database: list, inspect, pause, resume, cancel, re-queue failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from newsletter.db import affected
from newsletter.errors import RunNotFound, RunStateError
from newsletter.ledger.record import counts_by_run
from newsletter.models import OPEN_STATES, Delivery, DeliveryStatus, Run, RunKind, RunStatus
from subscribers.models import MailingList


@dataclass(frozen=True)
class RunSummary:
    """One line of ``runs ls``."""

    id: int
    list_slug: str
    kind: str
    status: str
    period: str | None
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    pause_reason: str | None


@dataclass(frozen=True)
class RunDetail:
    """``runs show``: the summary, the most frequent errors and the last failures."""

    summary: RunSummary
    errors: list[tuple[str, int]]
    recent_failures: list[tuple[str, str, str]]  # email, status, error


def _run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise RunNotFound(run_id)
    return run


def _summaries(session: Session, found: Sequence[tuple[Run, str | None]]) -> list[RunSummary]:
    """Runs with their list's slug, and their rows per status counted in one query."""
    counts = counts_by_run(session, [run.id or 0 for run, _ in found])
    return [
        RunSummary(
            id=run.id or 0,
            list_slug=slug or "?",
            kind=run.kind,
            status=run.status,
            period=run.period,
            created_at=run.created_at,
            finished_at=run.finished_at,
            counts=counts[run.id or 0],
            pause_reason=run.pause_reason,
        )
        for run, slug in found
    ]


def _summary(session: Session, run: Run) -> RunSummary:
    mailing_list = session.get(MailingList, run.list_id)
    return _summaries(session, [(run, mailing_list.slug if mailing_list else None)])[0]


def recent_runs(
    session: Session,
    *,
    limit: int = 20,
    status: RunStatus | None = None,
    with_tests: bool = True,
) -> list[RunSummary]:
    """The latest runs, newest first, with their list's slug and rows per status (two queries,
    whatever the limit)."""
    query = (
        select(Run, MailingList.slug)
        .join(MailingList, col(MailingList.id) == col(Run.list_id), isouter=True)
        .order_by(col(Run.id).desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(Run.status == status)
    if not with_tests:
        query = query.where(Run.kind != RunKind.TEST)
    return _summaries(session, session.exec(query).all())


def run_detail(session: Session, *, run_id: int, recent: int = 10) -> RunDetail:
    """One run with its counts, why it paused, and what went wrong most."""
    run = _run(session, run_id)
    errors = session.exec(
        select(Delivery.last_error, func.count())
        .where(
            Delivery.run_id == run_id,
            col(Delivery.last_error).is_not(None),
            col(Delivery.status).in_(
                [DeliveryStatus.FAILED, DeliveryStatus.BOUNCED, DeliveryStatus.DEFERRED]
            ),
        )
        .group_by(col(Delivery.last_error))
        .order_by(func.count().desc())
        .limit(5)
    ).all()
    failures = session.exec(
        select(Delivery.email, Delivery.status, Delivery.last_error)
        .where(
            Delivery.run_id == run_id,
            col(Delivery.status).in_([DeliveryStatus.FAILED, DeliveryStatus.BOUNCED]),
        )
        .order_by(col(Delivery.id).desc())
        .limit(recent)
    ).all()
    return RunDetail(
        summary=_summary(session, run),
        errors=[(error or "", count) for error, count in errors],
        recent_failures=[(email, status, error or "") for email, status, error in failures],
    )


def pause_run(session: Session, *, run_id: int, reason: str = "paused by an operator") -> Run:
    """Stop handing out rows; senders finish the messages in flight and stop."""
    run = _run(session, run_id)
    if run.status != RunStatus.SENDING:
        raise RunStateError(f"run {run_id} is {run.status}; only a sending run can be paused")
    run.status = RunStatus.PAUSED
    run.pause_reason = reason
    return run


def _refuse_cancelled(run: Run) -> None:
    if run.status == RunStatus.CANCELLED:
        raise RunStateError(f"run {run.id} was cancelled; it cannot be resumed")


def _reopen(run: Run) -> None:
    """The one way a run becomes sendable again; a cancelled run never does."""
    _refuse_cancelled(run)
    run.status = RunStatus.SENDING
    run.pause_reason = None
    run.finished_at = None


def unpause_run(session: Session, *, run_id: int, only_paused: bool = False) -> Run:
    """Make a paused run sendable again (sending is the caller's next step). A sending or done
    run is left as it is, or refused with ``only_paused``; a cancelled one is refused."""
    run = _run(session, run_id)
    _refuse_cancelled(run)
    if run.status == RunStatus.PAUSED:
        _reopen(run)
    elif only_paused:
        raise RunStateError(f"run {run_id} is {run.status}, only a paused run can be resumed")
    return run


def cancel_run(session: Session, *, run_id: int, now: datetime) -> int:
    """Cancel a run: every row not sent yet is cancelled. Returns how many."""
    run = _run(session, run_id)
    if run.status in (RunStatus.DONE, RunStatus.CANCELLED):
        raise RunStateError(f"run {run_id} is already {run.status}")
    run.status = RunStatus.CANCELLED
    run.finished_at = now
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.run_id) == run_id, col(Delivery.status).in_(OPEN_STATES))
        .values(status=DeliveryStatus.CANCELLED, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


def retry_failed(session: Session, *, run_id: int) -> int:
    """Queue the run's failed rows again (not bounced ones) and reopen it. Returns how many."""
    run = _run(session, run_id)
    _refuse_cancelled(run)
    if run.kind not in (RunKind.MANUAL, RunKind.SCHEDULED):
        raise RunStateError(f"run {run_id} is a {run.kind} run; only digest runs are retried")
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.run_id) == run_id, col(Delivery.status) == DeliveryStatus.FAILED)
        .values(
            status=DeliveryStatus.QUEUED,
            attempts=0,
            first_attempt_at=None,
            next_attempt_at=None,
            lease_until=None,
            claimed_by=None,
        )
        .execution_options(synchronize_session=False)
    )
    count = affected(result)
    if count:
        _reopen(run)
    return count
