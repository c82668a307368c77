"""Drain the webhook queue: POST each due event, signed, and retry failures with back-off.

Rows are claimed with a lease before the HTTP call (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
so two senders never post the same row at once; a crash leaves the lease to expire and the row
is tried again. Every byte of HTTP goes through a ``Poster`` (the seam tests plug in at).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, or_, select, update

from newsletter.db import session_scope
from newsletter.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookStatus
from newsletter.runtime import Runtime
from newsletter.webhooks.events import record_events
from newsletter.webhooks.signing import MAX_ATTEMPTS, SIGNATURE_HEADER, backoff, signature

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
TIMEOUT_SECONDS = 10.0
MAX_ERROR = 500

# (url, body, headers) -> HTTP status; raises httpx.HTTPError when nothing came back
Poster = Callable[[str, bytes, dict[str, str]], int]


def http_poster(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST with httpx: no redirects followed, a 10 s timeout."""
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        return client.post(url, content=body, headers=headers).status_code


@dataclass(frozen=True)
class Job:
    """One claimed delivery, ready to post."""

    id: int
    url: str
    body: bytes
    headers: dict[str, str]
    attempts: int


@dataclass(frozen=True)
class DrainReport:
    """What one pass did."""

    recorded: int
    delivered: int
    retried: int
    failed: int


def _claim(session: Session, *, now: datetime, limit: int) -> list[Job]:
    """Lease up to ``limit`` due rows in one ``UPDATE ... RETURNING`` (the first statement of
    the transaction, so SQLite takes its write lock at once and two senders queue instead of
    failing), then build their signed requests."""
    due = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .where(
            WebhookDelivery.status == WebhookStatus.PENDING,
            col(WebhookDelivery.next_attempt_at) <= now,
            or_(col(WebhookDelivery.lease_until).is_(None), col(WebhookDelivery.lease_until) < now),
            col(WebhookEndpoint.active),
        )
        .order_by(col(WebhookDelivery.id))
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=WebhookDelivery)  # type: ignore[arg-type]
    claimed = session.execute(
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_(due.scalar_subquery()))
        .values(lease_until=now + LEASE)
        .returning(col(WebhookDelivery.id))
    )
    ids = sorted(row[0] for row in claimed)
    if not ids:
        return []
    rows = session.exec(
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
        .where(col(WebhookDelivery.id).in_(ids))
        .order_by(col(WebhookDelivery.id))
    )
    jobs = []
    for delivery, endpoint, event in rows:
        body = json.dumps(
            {
                "id": event.id,
                "type": event.kind,
                "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
                "data": event.payload,
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "newsletter-webhooks/1",
            "Newsletter-Event": event.kind,
            "Newsletter-Delivery": str(delivery.id),
            SIGNATURE_HEADER: signature(endpoint.secret, int(now.timestamp()), body),
        }
        jobs.append(Job(delivery.id or 0, endpoint.url, body, headers, delivery.attempts))
    return jobs


def _record(session: Session, job: Job, *, status: int | None, error: str, now: datetime) -> str:
    delivery = session.get(WebhookDelivery, job.id)
    if delivery is None:
        return "gone"
    delivery.attempts = job.attempts + 1
    delivery.lease_until = None
    delivery.last_status = status
    if status is not None and 200 <= status < 300:
        delivery.status = WebhookStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = None
        return "delivered"
    delivery.last_error = (error or f"HTTP {status}")[:MAX_ERROR]
    if delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = WebhookStatus.FAILED
        return "failed"
    delivery.next_attempt_at = now + backoff(delivery.attempts)
    return "retried"


def deliver_due(runtime: Runtime, *, poster: Poster = http_poster, limit: int = 100) -> DrainReport:
    """Record new events, then post every due delivery once; returns the counts."""
    try:
        with session_scope(runtime.engine) as session:
            recorded = record_events(session, now=runtime.clock())
    except (IntegrityError, OperationalError) as exc:
        # another sender is recording the same facts right now; they are queued by whichever
        # pass wins, and nothing is lost: the next pass sees them as known
        log.info("webhook events recorded by another sender (%s)", type(exc).__name__)
        recorded = 0
    with session_scope(runtime.engine) as session:
        jobs = _claim(session, now=runtime.clock(), limit=limit)
    outcomes = {"delivered": 0, "retried": 0, "failed": 0, "gone": 0}
    for job in jobs:
        status: int | None = None
        error = ""
        try:
            status = poster(job.url, job.body, job.headers)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        with session_scope(runtime.engine) as session:
            outcomes[_record(session, job, status=status, error=error, now=runtime.clock())] += 1
    return DrainReport(recorded, outcomes["delivered"], outcomes["retried"], outcomes["failed"])
