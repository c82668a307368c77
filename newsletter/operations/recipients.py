"""A run's recipients for the console and the API: filtered by status and address, paged,
each with its last error and the archived issue it received; a run's progress; the audience a
send would reach."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.digest.links import archive_url
from newsletter.errors import NewsletterError
from newsletter.ledger.planning import audience_size
from newsletter.ledger.record import run_counts
from newsletter.models import Delivery, DeliveryStatus, Run
from subscribers.models import MailingList

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


@dataclass(frozen=True)
class Recipient:
    """One delivery of a run."""

    id: int
    email: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    archive_url: str | None


@dataclass(frozen=True)
class RecipientPage:
    """One page of a run's recipients and how many match."""

    rows: tuple[Recipient, ...]
    total: int


def check_delivery_status(value: str) -> DeliveryStatus:
    """The delivery status named ``value``, or NewsletterError naming the choices."""
    try:
        return DeliveryStatus(value.strip().lower())
    except ValueError:
        names = ", ".join(s.value for s in DeliveryStatus)
        raise NewsletterError(f"status must be one of {names}, not {value!r}") from None


def run_recipients(
    session: Session,
    *,
    run_id: int,
    status: str = "",
    search: str = "",
    limit: int = 100,
    offset: int = 0,
    base_url: str = "",
    secret: bytes = b"",
) -> RecipientPage:
    """The run's deliveries by id, optionally of one status and containing ``search``."""
    conditions: list[ColumnElement[bool]] = [col(Delivery.run_id) == run_id]
    if status:
        conditions.append(col(Delivery.status) == check_delivery_status(status))
    if search.strip():
        text = search.strip().lower().replace("^", "^^").replace("%", "^%").replace("_", "^_")
        conditions.append(func.lower(col(Delivery.email)).like(f"%{text}%", escape="^"))
    total = session.execute(
        select(func.count()).select_from(Delivery).where(*conditions)
    ).scalar_one()
    rows = session.exec(
        select(Delivery).where(*conditions).order_by(col(Delivery.id)).limit(limit).offset(offset)
    )
    return RecipientPage(
        rows=tuple(
            Recipient(
                id=d.id or 0,
                email=d.email,
                status=d.status,
                attempts=d.attempts,
                last_error=d.last_error,
                sent_at=d.sent_at,
                archive_url=(
                    archive_url(base_url=base_url, secret=secret, digest_id=d.digest_id)
                    if d.digest_id is not None and d.status == DeliveryStatus.SENT
                    else None
                ),
            )
            for d in rows
        ),
        total=int(total),
    )


# The use cases of the console's run pages: each one transaction.


@dataclass(frozen=True)
class RunProgress:
    """A run and its rows per status (every status present)."""

    run: Run
    counts: dict[str, int]


def run_progress(runtime: Runtime, *, run_id: int) -> RunProgress | None:
    """The run with its counts, or None when there is no such run."""
    with session_scope(runtime.engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        return RunProgress(run, run_counts(session, run_id=run_id))


@dataclass(frozen=True)
class RunPage:
    """A run with its counts, its list and one page of its recipients."""

    progress: RunProgress
    mailing_list: MailingList | None
    recipients: RecipientPage


def run_page(
    runtime: Runtime, *, run_id: int, status: str, search: str, limit: int, offset: int
) -> RunPage | None:
    """One run with its list and a page of recipients (NewsletterError for a bad status);
    None when there is no such run."""
    with session_scope(runtime.engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        progress = RunProgress(run, run_counts(session, run_id=run_id))
        found = run_recipients(
            session,
            run_id=run_id,
            status=status,
            search=search,
            limit=limit,
            offset=offset,
            secret=runtime.settings.links.secret,
        )
        return RunPage(progress, session.get(MailingList, run.list_id), found)


def audience_count(runtime: Runtime, *, list_id: int) -> int:
    """How many people a send of the list now would reach (one count, nothing loaded)."""
    with session_scope(runtime.engine) as session:
        return audience_size(session, list_id=list_id)
