"""The editor's voice per issue: set the next issue's note and lead story, hand them to a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from newsletter.errors import NewsletterError
from newsletter.models import Article, IssueNote, Run, RunKind
from newsletter.publish.notes import check_note
from subscribers.models import MailingList

#: Runs that publish an issue (tests, confirmations and welcomes do not).
ISSUE_KINDS = (RunKind.MANUAL, RunKind.SCHEDULED)


class EditorialError(NewsletterError, ValueError):
    """An editor's input that cannot be used (one line, shown as is)."""


@dataclass(frozen=True)
class NextIssue:
    """What the list's next issue will carry."""

    note_markdown: str
    lead_article_id: int | None
    lead_title: str


def pending_note(session: Session, *, list_id: int) -> IssueNote | None:
    """The note waiting for the list's next issue, if any."""
    return session.exec(
        select(IssueNote).where(IssueNote.list_id == list_id, col(IssueNote.run_id).is_(None))
    ).first()


def set_next_issue(
    session: Session,
    *,
    mailing_list: MailingList,
    now: datetime,
    note: str | None = None,
    lead_article_id: int | None = None,
    clear_lead: bool = False,
) -> NextIssue:
    """Set (or with ``""`` remove) the next issue's note and lead story; only given parts change."""
    list_id = mailing_list.id or 0
    current = pending_note(session, list_id=list_id)
    if current is None:
        current = IssueNote(list_id=list_id, updated_at=now)
    if note is not None:
        try:
            current.note_markdown = check_note(note)
        except ValueError as exc:
            raise EditorialError(str(exc)) from exc
    if clear_lead:
        current.lead_article_id = None
    elif lead_article_id is not None:
        article = session.get(Article, lead_article_id)
        if article is None or article.excluded:
            raise EditorialError(f"no article {lead_article_id} to lead with")
        current.lead_article_id = lead_article_id
    current.updated_at = now
    if current.note_markdown or current.lead_article_id is not None:
        session.add(current)
    elif current.id is not None:
        session.delete(current)
    session.flush()
    return next_issue(session, list_id=list_id)


def next_issue(session: Session, *, list_id: int) -> NextIssue:
    """The pending note and lead story of a list (empty when none is set)."""
    current = pending_note(session, list_id=list_id)
    if current is None:
        return NextIssue(note_markdown="", lead_article_id=None, lead_title="")
    lead = session.get(Article, current.lead_article_id) if current.lead_article_id else None
    return NextIssue(
        note_markdown=current.note_markdown,
        lead_article_id=current.lead_article_id,
        lead_title=lead.title if lead is not None else "",
    )


def note_for_run(session: Session, run: Run) -> IssueNote | None:
    """The note of ``run``: its own, else the pending one, which an issue run takes for good.

    Other runs (test sends, dry runs) show the pending note without taking it; the taking is
    one conditional UPDATE, so two processes rendering digests of one run agree on the note.
    """
    if run.id is None:
        return None
    own = session.exec(select(IssueNote).where(IssueNote.run_id == run.id)).first()
    if own is not None:
        return own
    if run.kind not in ISSUE_KINDS:
        return pending_note(session, list_id=run.list_id)
    session.exec(
        update(IssueNote)
        .where(col(IssueNote.list_id) == run.list_id, col(IssueNote.run_id).is_(None))
        .values(run_id=run.id)
    )
    # populate_existing refreshes only the note (expire_all would also expire the caller's
    # objects, which the send engine keeps using after this session ends)
    return session.exec(
        select(IssueNote)
        .where(IssueNote.run_id == run.id)
        .execution_options(populate_existing=True)
    ).first()
