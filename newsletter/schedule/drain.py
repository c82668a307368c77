"""Drain due delivery rows through the delivery engine, and stop claiming on request."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from newsletter.delivery.ledger import DeliveryResult
from newsletter.delivery.mailer import Mailer
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind, RunStatus
from newsletter.runs import make_sender
from newsletter.runtime import Runtime
from newsletter.sending import RunSender, SendReport
from newsletter.sendstate import Job


class StoppableSender(RunSender):
    """A RunSender that claims no new batch once ``stopping()`` is true."""

    def __init__(self, *args: object, stopping: Callable[[], bool], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stopping = stopping

    def _claim_jobs(self, run_id: int) -> tuple[str, list[Job], list[DeliveryResult]]:
        if self.stopping():
            return "stopping", [], []
        return super()._claim_jobs(run_id)


def sendable_runs(session: Session, *, now: datetime) -> list[int]:
    """Runs that are sending and have rows due now (queued, retry due, or lease expired)."""
    due = or_(
        and_(
            col(Delivery.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.DEFERRED]),
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= now),
        ),
        and_(col(Delivery.status) == DeliveryStatus.SENDING, col(Delivery.lease_until) < now),
    )
    rows = session.exec(
        select(Run.id)
        .where(
            Run.status == RunStatus.SENDING,
            Run.kind != RunKind.TEST,
            select(Delivery.id).where(col(Delivery.run_id) == col(Run.id), due).exists(),
        )
        .order_by(col(Run.id))
    )
    return [run_id for run_id in rows if run_id is not None]


def hand_back(session: Session, *, worker: str) -> int:
    """Return the rows this worker still holds to the queue, for any worker to claim."""
    result = session.execute(
        update(Delivery)
        .where(col(Delivery.status) == DeliveryStatus.SENDING, col(Delivery.claimed_by) == worker)
        .values(status=DeliveryStatus.QUEUED, lease_until=None, claimed_by=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def drain_runs(
    runtime: Runtime,
    run_ids: list[int],
    *,
    worker: str,
    stopping: Callable[[], bool],
    mailer: Mailer | None = None,
) -> list[SendReport]:
    """Send every due row of these runs with one mailer; stop between batches on request."""
    active = mailer if mailer is not None else runtime.mailer()
    policy = runtime.send_policy()
    speed = runtime.settings.clock_speed
    if speed != 1.0:
        # a fast fake clock would expire leases of rows still in flight: keep them real-length
        policy = replace(policy, lease=policy.lease * speed)
    reports = []
    signer = None
    try:
        sender, signer = make_sender(
            runtime,
            active,
            sender_class=StoppableSender,
            policy=policy,
            worker=worker,
            stopping=stopping,
        )
        check = getattr(active, "check", None)
        if check is not None:
            await check()
        for run_id in run_ids:
            if stopping():
                break
            reports.append(await sender.send_run(run_id))
    finally:
        await active.close()
        if signer is not None:
            signer.close()
    return reports
