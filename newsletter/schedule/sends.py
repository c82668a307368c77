"""Editor-scheduled one-off sends: add, list and cancel (the dispatcher starts them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.errors import NewsletterError
from newsletter.schedule.models import ScheduledSend, SendStatus
from newsletter.schedule.periods import local_to_utc, zone
from subscribers.errors import SubscriberError
from subscribers.models import MailingList
from subscribers.preferences import check_timezone
from subscribers.service import all_lists, get_list

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


class ScheduleError(NewsletterError, ValueError):
    """A scheduled send that cannot be added or changed; the message says why."""


@dataclass(frozen=True)
class SendView:
    """A scheduled send as the CLI shows it."""

    id: int
    list_slug: str
    at: datetime
    local: str
    timezone: str
    status: str
    run_id: int | None
    note: str | None


def parse_local(text: str, timezone: str) -> datetime:
    """The UTC instant of a local ``YYYY-MM-DD HH:MM`` in ``timezone`` (gap: first valid after)."""
    try:
        name = check_timezone(timezone)
    except SubscriberError as exc:
        raise ScheduleError(str(exc)) from None
    for pattern in LOCAL_FORMATS:
        try:
            local = datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
        return local_to_utc(local.date(), local.time(), zone(name))
    raise ScheduleError(f'--at must look like "2026-12-01 08:00" (local time), not {text!r}')


def add_send(
    session: Session, *, slug: str, at: str, timezone: str, now: datetime
) -> ScheduledSend:
    """Schedule a one-off send of list ``slug`` at local time ``at`` in ``timezone``."""
    try:
        mailing_list = get_list(session, slug=slug)
    except SubscriberError as exc:
        raise ScheduleError(str(exc)) from None
    instant = parse_local(at, timezone)
    if instant <= now:
        raise ScheduleError(f"{at} in {timezone} is in the past")
    send = ScheduledSend(
        list_id=mailing_list.id or 0,
        at=instant,
        timezone=timezone.strip(),
        status=SendStatus.PENDING,
        created_at=now,
    )
    session.add(send)
    session.flush()
    return send


def list_sends(session: Session, *, include_finished: bool = False) -> list[SendView]:
    """Scheduled sends, soonest first; pending ones only unless ``include_finished``."""
    query = (
        select(ScheduledSend, MailingList.slug)
        .join(MailingList, col(MailingList.id) == col(ScheduledSend.list_id))
        .order_by(col(ScheduledSend.at), col(ScheduledSend.id))
    )
    if not include_finished:
        query = query.where(ScheduledSend.status == SendStatus.PENDING)
    views = []
    for send, slug in session.exec(query):
        local = send.at.astimezone(zone(send.timezone)).strftime("%Y-%m-%d %H:%M %Z")
        views.append(
            SendView(
                send.id or 0,
                slug,
                send.at,
                local,
                send.timezone,
                send.status,
                send.run_id,
                send.note,
            )
        )
    return views


def cancel_send(session: Session, *, send_id: int, now: datetime) -> ScheduledSend:
    """Cancel a pending scheduled send."""
    send = session.get(ScheduledSend, send_id)
    if send is None:
        raise ScheduleError(f"no scheduled send {send_id}")
    if send.status != SendStatus.PENDING:
        raise ScheduleError(f"scheduled send {send_id} is already {send.status}")
    send.status = SendStatus.CANCELLED
    send.done_at = now
    session.flush()
    return send


# The use cases of the CLI (`newsletter schedule add|ls|cancel`): each one transaction, on the
# scheduler's clock (which a test or a demo may set).


def schedule_send(runtime: Runtime, *, slug: str, at: str, timezone: str) -> ScheduledSend:
    """Schedule a one-off send of a list at a local time."""
    with session_scope(runtime.engine) as session:
        return add_send(session, slug=slug, at=at, timezone=timezone, now=_now(runtime))


def scheduled_sends(runtime: Runtime, *, include_finished: bool = False) -> list[SendView]:
    """The one-off sends, pending first."""
    with session_scope(runtime.engine) as session:
        return list_sends(session, include_finished=include_finished)


def cancel(runtime: Runtime, *, send_id: int) -> ScheduledSend:
    """Cancel a pending one-off send."""
    with session_scope(runtime.engine) as session:
        return cancel_send(session, send_id=send_id, now=_now(runtime))


def _now(runtime: Runtime) -> datetime:
    from newsletter.schedule.clock import make_clock

    return make_clock(runtime.settings)()


# The console and the API read time from the web app's clock: they pass ``now``.


@dataclass(frozen=True)
class SchedulePage:
    """Every scheduled send (pending first by time, then the finished ones) and every list."""

    sends: list[SendView]
    lists: list[MailingList]


def schedule_overview(runtime: Runtime) -> SchedulePage:
    """What the console's schedule page shows."""
    with session_scope(runtime.engine) as session:
        return SchedulePage(list_sends(session, include_finished=True), all_lists(session))


def schedule_send_at(
    runtime: Runtime, *, slug: str, at: str, timezone: str, now: datetime
) -> SendView:
    """Schedule a one-off send of a list at a local time; the send as listed."""
    with session_scope(runtime.engine) as session:
        send = add_send(session, slug=slug, at=at, timezone=timezone, now=now)
        send_id = send.id
        return next(view for view in list_sends(session) if view.id == send_id)


def cancel_at(runtime: Runtime, *, send_id: int, now: datetime) -> ScheduledSend:
    """Cancel a pending one-off send at ``now``."""
    with session_scope(runtime.engine) as session:
        return cancel_send(session, send_id=send_id, now=now)
