"""Admin use cases on the audience shared by the console, the HTTP API and the CLI: bulk actions
on subscribers, and the suppression list (search, add, list, remove)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from newsletter.db import session_scope
from newsletter.operations.privacy import erase_person
from subscribers import service
from subscribers.errors import SubscriberError
from subscribers.models import (
    MailingList,
    Suppression,
    SuppressionKind,
    SuppressionReason,
    UnsubscribeSource,
)
from subscribers.suppression import add_suppression, list_suppressions, remove_suppression

if TYPE_CHECKING:
    from newsletter.runtime import Runtime

MAX_BULK = 1000


class BulkAction(StrEnum):
    """What a bulk action does to each chosen subscriber."""

    UNSUBSCRIBE = "unsubscribe"
    SUPPRESS = "suppress"
    ERASE = "erase"


@dataclass(frozen=True)
class BulkResult:
    """How many people a bulk action changed, and the addresses it could not act on, with why."""

    action: BulkAction
    changed: int
    failed: tuple[tuple[str, str], ...]


def check_bulk_action(value: str) -> BulkAction:
    """The action named ``value``, or a SubscriberError naming the choices."""
    try:
        return BulkAction(value.strip().lower())
    except ValueError:
        names = ", ".join(action.value for action in BulkAction)
        raise SubscriberError(f"bulk action must be one of {names}, not {value!r}") from None


def bulk_action(
    session: Session,
    *,
    mailing_list: MailingList,
    emails: Sequence[str],
    action: str,
    now: datetime,
    secret: bytes,
    actor: str,
) -> BulkResult:
    """Unsubscribe from the list, suppress or erase each address (at most 1,000 at a time).

    Every refusal (unknown address, bad address) happens before that person's rows change, so a
    failed address leaves nothing half-done and the others still go ahead.
    """
    chosen = check_bulk_action(action)
    unique = list(dict.fromkeys(email.strip() for email in emails if email.strip()))
    if not unique:
        raise SubscriberError("choose at least one subscriber")
    if len(unique) > MAX_BULK:
        raise SubscriberError(f"at most {MAX_BULK} subscribers at a time")
    changed = 0
    failed: list[tuple[str, str]] = []
    for email in unique:
        try:
            if chosen is BulkAction.UNSUBSCRIBE:
                person = service.find_subscriber(session, email=email)
                changed += service.unsubscribe(
                    session,
                    subscriber_id=person.id or 0,
                    list_id=mailing_list.id,
                    source=UnsubscribeSource.ADMIN,
                    now=now,
                )
            elif chosen is BulkAction.SUPPRESS:
                add_suppression(
                    session,
                    value=email,
                    now=now,
                    reason=SuppressionReason.MANUAL,
                    note=f"by {actor}",
                )
                changed += 1
            else:
                erase_person(session, email=email, secret=secret, now=now)
                changed += 1
        except SubscriberError as exc:
            failed.append((email, str(exc)))
    return BulkResult(action=chosen, changed=changed, failed=tuple(failed))


def search_suppressions(
    session: Session, *, text: str = "", reason: str = "", limit: int = 200
) -> tuple[list[Suppression], int]:
    """Suppression entries containing ``text`` (and of one reason), newest first, with the
    total that match."""
    conditions: list[ColumnElement[bool]] = []
    if text.strip():
        pattern = "%" + text.strip().lower().replace("^", "^^").replace("%", "^%") + "%"
        conditions.append(
            func.lower(col(Suppression.value)).like(pattern.replace("_", "^_"), escape="^")
        )
    if reason:
        try:
            conditions.append(col(Suppression.reason) == SuppressionReason(reason))
        except ValueError:
            names = ", ".join(r.value for r in SuppressionReason)
            raise SubscriberError(f"reason must be one of {names}, not {reason!r}") from None
    total = session.execute(
        select(func.count()).select_from(Suppression).where(*conditions)
    ).scalar_one()
    rows = session.exec(
        select(Suppression)
        .where(*conditions)
        .order_by(col(Suppression.created_at).desc(), col(Suppression.id).desc())
        .limit(limit)
    )
    return list(rows), int(total)


# The use cases of the CLI (`newsletter suppressions`), the console and the API: each one
# transaction.


def bulk(
    runtime: Runtime,
    *,
    mailing_list: MailingList,
    emails: Sequence[str],
    action: str,
    actor: str,
) -> BulkResult:
    """Unsubscribe, suppress or erase these members of a list (SubscriberError when refused)."""
    with session_scope(runtime.engine) as session:
        return bulk_action(
            session,
            mailing_list=mailing_list,
            emails=emails,
            action=action,
            now=runtime.clock(),
            secret=runtime.settings.links.secret,
            actor=actor,
        )


def search(runtime: Runtime, *, text: str, reason: str) -> tuple[list[Suppression], int]:
    """The newest suppressions matching ``text`` and ``reason`` (200 at most), and how many
    match."""
    with session_scope(runtime.engine) as session:
        return search_suppressions(session, text=text, reason=reason)


def suppress(
    runtime: Runtime,
    *,
    value: str,
    domain: bool = False,
    note: str = "",
    reason: SuppressionReason = SuppressionReason.MANUAL,
) -> Suppression:
    """Never mail this address (or any address at this domain)."""
    with session_scope(runtime.engine) as session:
        return add_suppression(
            session, value=value, domain=domain, reason=reason, note=note, now=runtime.clock()
        )


def suppressions(runtime: Runtime, *, kind: SuppressionKind | None = None) -> list[Suppression]:
    """Every suppression entry (optionally of one kind), newest first."""
    with session_scope(runtime.engine) as session:
        return list_suppressions(session, kind=kind)


def unsuppress(
    runtime: Runtime, *, value: str, domain: bool = False, with_hash: bool = True
) -> None:
    """Allow mail to this address or domain again (with ``with_hash``, an erased address by its
    hash too; the console removes only the entry it shows)."""
    with session_scope(runtime.engine) as session:
        remove_suppression(
            session,
            value=value,
            domain=domain,
            secret=runtime.settings.links.secret if with_hash else None,
        )
