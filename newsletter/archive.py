"""The archive of a list: the digests it sent, each with its public view-in-browser URL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from newsletter.links import archive_url
from newsletter.models import DIGEST_KINDS, Delivery, DeliveryStatus, Digest, Run
from subscribers.service import get_list

MAX_ISSUES = 200


@dataclass(frozen=True)
class Issue:
    """One archived digest."""

    digest_id: int
    run_id: int
    created_at: datetime
    url: str


def list_issues(
    session: Session, *, slug: str, base_url: str, secret: bytes, limit: int = 50
) -> list[Issue]:
    """The list's digests that reached someone, newest first."""
    mailing_list = get_list(session, slug=slug)
    delivered = select(Delivery.id).where(
        col(Delivery.digest_id) == col(Digest.id), col(Delivery.status) == DeliveryStatus.SENT
    )
    query = (
        select(Digest.id, Digest.run_id, Digest.created_at)
        .join(Run, col(Run.id) == col(Digest.run_id))
        .where(
            col(Run.list_id) == mailing_list.id,
            col(Run.kind).in_(DIGEST_KINDS),
            delivered.exists(),
        )
        .order_by(col(Digest.id).desc())
        .limit(max(1, min(limit, MAX_ISSUES)))
    )
    return [
        Issue(
            digest_id=digest_id or 0,
            run_id=run_id,
            created_at=created_at,
            url=archive_url(base_url=base_url, secret=secret, digest_id=digest_id or 0),
        )
        for digest_id, run_id, created_at in session.exec(query)
    ]
