"""A run's recipients for the console and the API: filtered by status and address, paged,
each with its last error and the archived issue it received."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func
from sqlmodel import Session, col, select

from newsletter.digest.links import archive_url
from newsletter.errors import NewsletterError
from newsletter.models import Delivery, DeliveryStatus


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
