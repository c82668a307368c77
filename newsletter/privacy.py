"""Erasure across both packages: the delivery ledger's copies first, then the person."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from newsletter.models import Delivery
from subscribers.erasure import Erasure, erase_subscriber
from subscribers.service import find_subscriber

ERASED_ADDRESS = "erased@invalid"


def erase_person(session: Session, *, email: str, secret: bytes, now: datetime) -> Erasure:
    """Blank the address in the delivery ledger, then erase the subscriber (hash kept)."""
    subscriber = find_subscriber(session, email=email)
    session.exec(
        update(Delivery)
        .where(col(Delivery.subscriber_id) == subscriber.id)
        .values(email=ERASED_ADDRESS, last_error=None)
    )
    return erase_subscriber(session, subscriber=subscriber, secret=secret, now=now)
