"""Start the editor-scheduled one-off sends whose time has come, each exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from newsletter.db import affected
from newsletter.digest.selector import Limits
from newsletter.ledger.planning import plan_run
from newsletter.models import RunKind
from newsletter.schedule.models import ScheduledSend, SendStatus
from newsletter.schedule.report import DispatchReport, RunRecord
from subscribers.models import MailingList


def dispatch_one_off(
    session: Session,
    *,
    now: datetime,
    limits: Limits,
    lookback: timedelta,
    max_lateness: timedelta,
    report: DispatchReport,
    lists: dict[int, MailingList],
) -> None:
    """Start the editor-scheduled sends whose time has come (each once, whole list)."""
    due = session.exec(
        select(ScheduledSend)
        .where(ScheduledSend.status == SendStatus.PENDING, col(ScheduledSend.at) <= now)
        .order_by(col(ScheduledSend.at), col(ScheduledSend.id))
    ).all()
    session.commit()
    for send in due:
        send_id = send.id or 0
        mailing_list = lists.get(send.list_id)
        try:
            late = now - send.at
            if mailing_list is None or late > max_lateness:
                note = f"missed: {late.total_seconds() / 3600:.1f} h late"
                if _finish_send(session, send_id, SendStatus.MISSED, now, None, note):
                    report.sends_missed.append(send_id)
                session.commit()
                continue
            plan = plan_run(
                session,
                mailing_list=mailing_list,
                now=now,
                limits=limits,
                lookback=lookback,
                kind=RunKind.SCHEDULED,
                period=f"send:{send_id}",
            )
            if not _finish_send(session, send_id, SendStatus.DONE, now, plan.run_id, None):
                session.rollback()  # cancelled meanwhile
                continue
            session.commit()
        except IntegrityError:
            session.rollback()
            report.conflicts += 1
            continue
        report.runs.append(
            RunRecord(
                plan.run_id,
                mailing_list.slug,
                f"send:{send_id}",
                "one-off",
                plan.queued,
                plan.skipped,
                send.at,
            )
        )


def _finish_send(
    session: Session,
    send_id: int,
    status: SendStatus,
    now: datetime,
    run_id: int | None,
    note: str | None,
) -> bool:
    result = session.execute(
        update(ScheduledSend)
        .where(col(ScheduledSend.id) == send_id, col(ScheduledSend.status) == SendStatus.PENDING)
        .values(status=status, run_id=run_id, note=note, done_at=now)
        .execution_options(synchronize_session=False)
    )
    return affected(result) > 0
