"""Drain due delivery rows through the one send engine, and stop claiming on request."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from newsletter.delivery.mailer import Mailer
from newsletter.ledger.record import db_now, due_rows
from newsletter.models import Delivery, Run, RunKind, RunStatus
from newsletter.operations.runs import make_sender
from newsletter.runtime import Runtime
from newsletter.sending.engine import SendReport, StopRequest

# Runs sent only by the command that made them: a test goes out once, a dry run writes files.
_NOT_DRAINED = (RunKind.TEST, RunKind.DRY_RUN)


def sendable_runs(session: Session, *, now: datetime) -> list[int]:
    """Runs that are sending and have rows due now (queued, retry due, or lease expired)."""
    due = due_rows(now, db_now(session))
    rows = session.exec(
        select(Run.id)
        .where(
            Run.status == RunStatus.SENDING,
            col(Run.kind).not_in(_NOT_DRAINED),
            select(Delivery.id).where(col(Delivery.run_id) == col(Run.id), due).exists(),
        )
        .order_by(col(Run.id))
    )
    return [run_id for run_id in rows if run_id is not None]


async def drain_runs(
    runtime: Runtime,
    run_ids: list[int],
    *,
    worker: str,
    stopping: StopRequest,
    mailer: Mailer | None = None,
) -> list[SendReport]:
    """Send every due row of these runs with one mailer; stop on request."""
    active = mailer if mailer is not None else runtime.mailer()
    # Leases run on the database's clock, so a fast fake clock (NEWSLETTER_CLOCK_SPEED) cannot
    # expire the leases of rows still in flight.
    policy = runtime.send_policy()
    reports = []
    signer = None
    try:
        sender, signer = make_sender(
            runtime, active, policy=policy, worker=worker, stopping=stopping
        )
        await active.check()
        for run_id in run_ids:
            if stopping():
                break
            reports.append(await sender.send_run(run_id))
    finally:
        await active.close()
        if signer is not None:
            signer.close()
    return reports
