"""Webhook endpoints: add one (with its own signing secret), list, pause and remove them."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, col, delete, select

from newsletter.db import session_scope
from newsletter.errors import NewsletterError
from newsletter.models import WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookStatus

if TYPE_CHECKING:
    from newsletter.runtime import Runtime


class WebhookError(NewsletterError, ValueError):
    """A webhook endpoint that cannot be added or changed; the message says why."""


class EventKind(StrEnum):
    """What a webhook can announce."""

    CONFIRMED = "subscriber.confirmed"
    UNSUBSCRIBED = "subscriber.unsubscribed"
    BOUNCED = "delivery.bounced"
    COMPLAINED = "delivery.complained"
    RUN_FINISHED = "run.finished"


@dataclass(frozen=True)
class EndpointRow:
    """An endpoint with its queue counts."""

    id: int
    url: str
    events: tuple[str, ...]
    active: bool
    created_at: datetime
    counts: dict[str, int]


def check_events(events: Sequence[str]) -> list[str]:
    """The event kinds named (all when empty), or WebhookError naming the choices."""
    chosen = [e.strip() for e in events if e.strip()]
    known = {kind.value for kind in EventKind}
    for event in chosen:
        if event not in known:
            raise WebhookError(f"unknown event {event!r} (choose from {', '.join(sorted(known))})")
    return sorted(set(chosen)) or sorted(known)


def check_url(url: str) -> str:
    """An http(s) URL with a host."""
    cleaned = url.strip()
    parts = urlsplit(cleaned)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(cleaned) > 2000:
        raise WebhookError(f"a webhook URL must be http(s)://host/..., not {url!r}")
    return cleaned


def add_endpoint(
    session: Session, *, url: str, events: Sequence[str], now: datetime
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown to the admin once)."""
    secret = "whsec_" + secrets.token_urlsafe(24)
    endpoint = WebhookEndpoint(
        url=check_url(url), secret=secret, events=check_events(events), created_at=now
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def set_active(session: Session, *, endpoint_id: int, active: bool) -> WebhookEndpoint:
    """Pause or resume an endpoint (paused ones get no new events)."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookError(f"unknown webhook #{endpoint_id}")
    endpoint.active = active
    session.flush()
    return endpoint


def remove_endpoint(session: Session, *, endpoint_id: int) -> str:
    """Remove an endpoint and its queue; returns its URL."""
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookError(f"unknown webhook #{endpoint_id}")
    session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id))
    session.delete(endpoint)
    session.flush()
    return endpoint.url


def list_endpoints(session: Session) -> list[EndpointRow]:
    """Every endpoint with how many deliveries are pending, delivered and failed."""
    counts: dict[int, dict[str, int]] = {}
    for endpoint_id, status, count in session.exec(
        select(WebhookDelivery.endpoint_id, WebhookDelivery.status, func.count()).group_by(
            col(WebhookDelivery.endpoint_id), col(WebhookDelivery.status)
        )
    ):
        counts.setdefault(endpoint_id, {})[status] = int(count)
    return [
        EndpointRow(
            id=e.id or 0,
            url=e.url,
            events=tuple(e.events),
            active=e.active,
            created_at=e.created_at,
            counts={s.value: counts.get(e.id or 0, {}).get(s.value, 0) for s in WebhookStatus},
        )
        for e in session.exec(select(WebhookEndpoint).order_by(col(WebhookEndpoint.id)))
    ]


@dataclass(frozen=True)
class QueueRow:
    """One queued or finished webhook delivery, as the console lists it."""

    id: int
    endpoint_url: str
    event: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: datetime
    delivered_at: datetime | None


def recent_deliveries(session: Session, *, limit: int = 100) -> list[QueueRow]:
    """The newest webhook deliveries with their endpoint and event."""
    rows = session.exec(
        select(WebhookDelivery, WebhookEndpoint.url, WebhookEvent.kind)
        .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
        .join(WebhookEvent, col(WebhookEvent.id) == col(WebhookDelivery.event_id))
        .order_by(col(WebhookDelivery.id).desc())
        .limit(limit)
    )
    return [
        QueueRow(
            id=d.id or 0,
            endpoint_url=url,
            event=kind,
            status=d.status,
            attempts=d.attempts,
            last_status=d.last_status,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at,
            delivered_at=d.delivered_at,
        )
        for d, url, kind in rows
    ]


# The use cases of the CLI (`newsletter webhooks`): each one transaction.


def register(runtime: Runtime, *, url: str, events: Sequence[str]) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once)."""
    with session_scope(runtime.engine) as session:
        return add_endpoint(session, url=url, events=events, now=runtime.clock())


def endpoints(runtime: Runtime) -> list[EndpointRow]:
    """Every endpoint with its queue counts."""
    with session_scope(runtime.engine) as session:
        return list_endpoints(session)


def unregister(runtime: Runtime, *, endpoint_id: int) -> str:
    """Remove an endpoint and its queue; returns its URL."""
    with session_scope(runtime.engine) as session:
        return remove_endpoint(session, endpoint_id=endpoint_id)


def set_endpoint_active(runtime: Runtime, *, endpoint_id: int, active: bool) -> WebhookEndpoint:
    """Pause or resume an endpoint."""
    with session_scope(runtime.engine) as session:
        return set_active(session, endpoint_id=endpoint_id, active=active)


@dataclass(frozen=True)
class WebhooksPage:
    """Every endpoint with its queue counts, and the newest deliveries."""

    endpoints: list[EndpointRow]
    queue: list[QueueRow]


def webhooks_overview(runtime: Runtime, *, limit: int = 100) -> WebhooksPage:
    """What the console's webhooks page shows."""
    with session_scope(runtime.engine) as session:
        return WebhooksPage(list_endpoints(session), recent_deliveries(session, limit=limit))
