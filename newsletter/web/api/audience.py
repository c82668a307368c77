"""API: a list's subscribers (admins only): list them, add with or without double opt-in,
change preferences, unsubscribe, erase and import a CSV."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from newsletter.operations import privacy
from newsletter.operations import subscriptions as members
from newsletter.operations.confirmations import send_confirmations
from newsletter.operations.lists import find_list
from newsletter.web.api.deps import Admin, api_runtime, api_state
from newsletter.web.api.problems import PROBLEM_RESPONSES, ApiProblem
from newsletter.web.deps import in_background
from subscribers.queries import Member

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


def _member(found: members.Membership) -> MemberOut:
    subscription, person = found.subscription, found.subscriber
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
    found = members.paged_members(
        api_runtime(request),
        slug=slug,
        status=status,
        topic=topic,
        search=q,
        limit=per_page,
        offset=(page - 1) * per_page,
    )
    items = [_member_out(m) for m in found.rows]
    return MembersPage(items=items, total=found.total, page=page, per_page=per_page)


@router.post("/lists/{slug}/subscribers", response_model=MemberOut, status_code=201)
async def add_member(request: Request, slug: str, body: SubscriberIn, owner: Admin) -> MemberOut:
    """Add a person: pending with a confirmation email under double opt-in, else active."""
    rt = api_runtime(request)
    added = members.add_member(
        rt,
        slug=slug,
        email=body.email,
        name=body.name,
        topics=body.topics,
        cadence=body.cadence,
        weekday=body.weekday,
        send_hour=body.send_hour,
        timezone=body.timezone,
        confirmed=not body.double_opt_in,
    )
    out = _member(added)
    pending = added.subscription.id if added.subscription.status == "pending" else None
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
    changed = members.change_member(
        api_runtime(request),
        slug=slug,
        email=email,
        topics=body.topics,
        cadence=body.cadence,
        weekday=body.weekday,
        send_hour=body.send_hour,
        timezone=body.timezone,
        name=body.name,
    )
    return _member(changed)


@router.post("/lists/{slug}/subscribers/{email}/unsubscribe", response_model=Changed)
def unsubscribe_member(request: Request, slug: str, email: str, owner: Admin) -> Changed:
    """Unsubscribe a person from the list (recorded as the admin's doing)."""
    _, ended = members.unsubscribe(api_runtime(request), email=email, slug=slug)
    return Changed(changed=ended)


@router.delete("/subscribers/{email}", response_model=Changed)
def erase(request: Request, email: str, owner: Admin) -> Changed:
    """Erase a person everywhere (a salted hash stays on the suppression list)."""
    privacy.erase(api_runtime(request), email=email)
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
    ml = find_list(rt, slug=slug)
    with tempfile.TemporaryDirectory(prefix="newsletter-api-import-") as folder:
        path = Path(folder) / "upload.csv"
        size = 0
        with path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_IMPORT_BYTES:
                    raise ApiProblem(413, "import at most 50 MB at a time")
                handle.write(chunk)
        report = await asyncio.to_thread(
            members.import_file, rt, slug=ml.slug, path=path, confirmed=confirmed, rejects=None
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
