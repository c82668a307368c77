"""API: a list's subscribers (admins only): list them, add with or without double opt-in,
change preferences, unsubscribe, erase and import a CSV."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from newsletter.db import session_scope
from newsletter.operations.confirmations import send_confirmations
from newsletter.operations.privacy import erase_person
from newsletter.web.api.deps import Admin, api_runtime, api_state
from newsletter.web.api.problems import PROBLEM_RESPONSES, ApiProblem
from newsletter.web.deps import in_background
from subscribers import service
from subscribers.importer import import_csv
from subscribers.models import Subscriber, Subscription, UnsubscribeSource
from subscribers.queries import Member, count_members, list_members

router = APIRouter(tags=["audience"], responses=PROBLEM_RESPONSES)
MAX_IMPORT_BYTES = 50 * 1024 * 1024


class MemberOut(BaseModel):
    """One subscriber on one list."""

    email: str
    name: str
    status: str
    subscriber_status: str
    topics: list[str]
    cadence: str
    weekday: int
    send_hour: int
    timezone: str


class MembersPage(BaseModel):
    """One page of a list's members."""

    items: list[MemberOut]
    total: int
    page: int
    per_page: int


class SubscriberIn(BaseModel):
    """A person to add to a list; ``double_opt_in`` false means they already agreed."""

    email: str = Field(max_length=320)
    name: str = Field(default="", max_length=200)
    topics: list[str] | None = None
    cadence: str | None = None
    weekday: int | None = None
    send_hour: int | None = None
    timezone: str | None = None
    double_opt_in: bool = True


class PreferencesIn(BaseModel):
    """Preferences to change; fields left out stay as they are."""

    name: str | None = Field(default=None, max_length=200)
    topics: list[str] | None = None
    cadence: str | None = None
    weekday: int | None = None
    send_hour: int | None = None
    timezone: str | None = None


class Changed(BaseModel):
    """How many rows an action changed."""

    changed: int


class ImportOut(BaseModel):
    """What a CSV import did, row by row."""

    rows: int
    added: int
    updated: int
    unchanged: int
    rejected: int
    suppressed: int
    confirmations_queued: int


def _member_out(member: Member) -> MemberOut:
    return MemberOut(**member.__dict__ | {"topics": list(member.topics)})


def _member(subscription: Subscription, person: Subscriber) -> MemberOut:
    return MemberOut(
        email=person.email,
        name=person.name,
        status=subscription.status,
        subscriber_status=person.status,
        topics=list(subscription.topics),
        cadence=subscription.cadence,
        weekday=subscription.weekday,
        send_hour=subscription.send_hour,
        timezone=subscription.timezone or person.timezone,
    )


@router.get("/lists/{slug}/subscribers", response_model=MembersPage)
def get_members(
    request: Request,
    slug: str,
    owner: Admin,
    status: str | None = None,
    topic: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MembersPage:
    """Members of a list, filtered by status, topic and text, by address."""
    with session_scope(api_runtime(request).engine) as session:
        ml = service.get_list(session, slug=slug)
        filters = {"status": status, "topic": topic, "search": q}
        total = count_members(session, mailing_list=ml, **filters)
        items = [
            _member_out(m)
            for m in list_members(
                session, mailing_list=ml, **filters, limit=per_page, offset=(page - 1) * per_page
            )
        ]
    return MembersPage(items=items, total=total, page=page, per_page=per_page)


@router.post("/lists/{slug}/subscribers", response_model=MemberOut, status_code=201)
async def add_member(request: Request, slug: str, body: SubscriberIn, owner: Admin) -> MemberOut:
    """Add a person: pending with a confirmation email under double opt-in, else active."""
    rt = api_runtime(request)
    with session_scope(rt.engine) as session:
        ml = service.get_list(session, slug=slug)
        subscription = service.add_subscriber(
            session,
            mailing_list=ml,
            email=body.email,
            now=rt.clock(),
            name=body.name,
            topics=body.topics,
            cadence=body.cadence,
            weekday=body.weekday,
            send_hour=body.send_hour,
            timezone=body.timezone,
            confirmed=not body.double_opt_in,
            by_admin=True,
            secret=rt.settings.links.secret,
        )
        person = service.subscription_person(session, subscription=subscription)
        out = _member(subscription, person)
        pending = subscription.id if subscription.status == "pending" else None
    if pending is not None:
        in_background(
            api_state(request).web,
            send_confirmations(rt, subscription_ids=[pending]),
            "confirmation after an API sign-up",
        )
    return out


@router.patch("/lists/{slug}/subscribers/{email}", response_model=MemberOut)
def update_member(
    request: Request, slug: str, email: str, body: PreferencesIn, owner: Admin
) -> MemberOut:
    """Change a subscription's preferences (and the person's name)."""
    rt = api_runtime(request)
    with session_scope(rt.engine) as session:
        subscription = service.get_subscription(session, email=email, slug=slug)
        service.update_preferences(
            session,
            subscription=subscription,
            now=rt.clock(),
            topics=body.topics,
            cadence=body.cadence,
            weekday=body.weekday,
            send_hour=body.send_hour,
            timezone=body.timezone,
            name=body.name,
        )
        person = service.subscription_person(session, subscription=subscription)
        return _member(subscription, person)


@router.post("/lists/{slug}/subscribers/{email}/unsubscribe", response_model=Changed)
def unsubscribe_member(request: Request, slug: str, email: str, owner: Admin) -> Changed:
    """Unsubscribe a person from the list (recorded as the admin's doing)."""
    rt = api_runtime(request)
    with session_scope(rt.engine) as session:
        ml = service.get_list(session, slug=slug)
        person = service.find_subscriber(session, email=email)
        ended = service.unsubscribe(
            session,
            subscriber_id=person.id or 0,
            list_id=ml.id,
            source=UnsubscribeSource.ADMIN,
            now=rt.clock(),
        )
    return Changed(changed=ended)


@router.delete("/subscribers/{email}", response_model=Changed)
def erase(request: Request, email: str, owner: Admin) -> Changed:
    """Erase a person everywhere (a salted hash stays on the suppression list)."""
    rt = api_runtime(request)
    with session_scope(rt.engine) as session:
        erase_person(session, email=email, secret=rt.settings.links.secret, now=rt.clock())
    return Changed(changed=1)


@router.post(
    "/lists/{slug}/subscribers/import",
    response_model=ImportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_members(
    request: Request,
    slug: str,
    owner: Admin,
    confirmed: bool = False,
) -> ImportOut:
    """Import a CSV request body (``Content-Type: text/csv``) into the list."""
    rt = api_runtime(request)
    if not request.headers.get("content-type", "").startswith("text/csv"):
        raise ApiProblem(415, "send the CSV as the body with Content-Type: text/csv")
    with session_scope(rt.engine) as session:
        ml = service.get_list(session, slug=slug)
    with tempfile.TemporaryDirectory(prefix="newsletter-api-import-") as folder:
        path = Path(folder) / "upload.csv"
        size = 0
        with path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_IMPORT_BYTES:
                    raise ApiProblem(413, "import at most 50 MB at a time")
                handle.write(chunk)
        with session_scope(rt.engine) as session:
            report = await asyncio.to_thread(
                import_csv,
                session,
                path=path,
                mailing_list=ml,
                now=rt.clock(),
                confirmed=confirmed,
                secret=rt.settings.links.secret,
            )
    if report.pending_subscription_ids:
        in_background(
            api_state(request).web,
            send_confirmations(rt, subscription_ids=report.pending_subscription_ids),
            "confirmations after an API import",
        )
    return ImportOut(
        rows=report.rows,
        added=report.added,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=report.rejected,
        suppressed=report.suppressed,
        confirmations_queued=len(report.pending_subscription_ids),
    )
