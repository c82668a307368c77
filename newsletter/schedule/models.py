"""Tables of the scheduler: editor-scheduled one-off sends and daemon heartbeats."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

import newsletter.models  # noqa: F401  (lists and runs must be on the metadata first)
from subscribers.dbtypes import UTCDateTime, status_type, utcnow


class SendStatus(StrEnum):
    """Where an editor-scheduled send stands."""

    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"


class HeartbeatState(StrEnum):
    """What a scheduler daemon last said of itself."""

    RUNNING = "running"
    STOPPED = "stopped"


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class ScheduledSend(SQLModel, table=True):
    """A one-off send of a list at a moment the editor chose; survives restarts."""

    __tablename__ = "scheduled_sends"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="lists.id", index=True, ondelete="CASCADE")
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    timezone: str = Field(default="UTC", max_length=64)
    status: SendStatus = Field(
        default=SendStatus.PENDING, sa_type=status_type(SendStatus), index=True
    )
    run_id: int | None = Field(default=None, foreign_key="runs.id", ondelete="SET NULL")
    note: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    done_at: datetime | None = _ts()


class Heartbeat(SQLModel, table=True):
    """One running scheduler daemon, refreshed every few seconds while it is alive."""

    __tablename__ = "scheduler_heartbeats"

    worker: str = Field(sa_column=Column(String(100), primary_key=True))
    hostname: str = Field(default="", max_length=255)
    pid: int = 0
    state: HeartbeatState = Field(
        default=HeartbeatState.RUNNING, sa_type=status_type(HeartbeatState)
    )
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    beat_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    last_dispatch_at: datetime | None = _ts()
