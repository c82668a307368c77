"""The table of the editor's per-issue voice: a note and a lead story, pending or tied to a run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from subscribers.dbtypes import UTCDateTime, utcnow


class IssueNote(SQLModel, table=True):
    """An editor's note and lead story: for the list's next issue (``run_id`` empty) or one run's.

    The first manual or scheduled run whose digests are rendered takes the pending note
    (``newsletter.publish.editorial.note_for_run``), so a note reaches exactly one issue.
    """

    __tablename__ = "issue_notes"

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="lists.id", index=True, ondelete="CASCADE")
    run_id: int | None = Field(
        default=None, foreign_key="runs.id", unique=True, nullable=True, ondelete="CASCADE"
    )
    note_markdown: str = Field(default="", sa_column=Column(Text, nullable=False))
    lead_article_id: int | None = Field(
        default=None, foreign_key="articles.id", nullable=True, ondelete="SET NULL"
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
