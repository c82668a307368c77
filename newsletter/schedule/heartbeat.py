"""Daemon heartbeats in the database: who is alive, and when the last dispatch ran."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from newsletter.db import affected
from newsletter.schedule.models import Heartbeat, HeartbeatState

STALE_AFTER = timedelta(seconds=90)


@dataclass(frozen=True)
class DaemonState:
    """One daemon as the heartbeat table shows it."""

    worker: str
    state: str
    started_at: datetime
    beat_at: datetime
    alive: bool
    last_dispatch_at: datetime | None


def beat(
    session: Session,
    *,
    worker: str,
    hostname: str,
    pid: int,
    started_at: datetime,
    now: datetime,
    state: HeartbeatState = HeartbeatState.RUNNING,
    dispatched_at: datetime | None = None,
) -> None:
    """Insert or refresh this daemon's heartbeat row."""
    row = session.get(Heartbeat, worker)
    if row is None:
        row = Heartbeat(
            worker=worker, hostname=hostname, pid=pid, started_at=started_at, beat_at=now
        )
        session.add(row)
    row.beat_at = now
    row.state = state
    if dispatched_at is not None:
        row.last_dispatch_at = dispatched_at
    session.flush()


def last_dispatch(session: Session) -> datetime | None:
    """When any daemon last finished a dispatch pass (in its own clock)."""
    return session.exec(select(func.max(Heartbeat.last_dispatch_at))).one()


def prune(session: Session, *, now: datetime, keep: timedelta = timedelta(days=7)) -> int:
    """Forget daemons silent for longer than ``keep``."""
    result = session.execute(delete(Heartbeat).where(col(Heartbeat.beat_at) < now - keep))
    return affected(result)


def daemons(
    session: Session, *, now: datetime, stale_after: timedelta = STALE_AFTER
) -> list[DaemonState]:
    """Every known daemon, newest heartbeat first, with whether it looks alive."""
    rows = session.exec(select(Heartbeat).order_by(col(Heartbeat.beat_at).desc())).all()
    return [
        DaemonState(
            worker=row.worker,
            state=row.state,
            started_at=row.started_at,
            beat_at=row.beat_at,
            alive=row.state == HeartbeatState.RUNNING and now - row.beat_at <= stale_after,
            last_dispatch_at=row.last_dispatch_at,
        )
        for row in rows
    ]
