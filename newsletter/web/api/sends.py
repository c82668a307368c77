"""API: preview, test send, send now, scheduled one-off sends, and runs with their progress,
pause, resume, retry and cancel. Every action calls the same functions as the console and CLI."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from newsletter.ledger.runstate import RunSummary
from newsletter.models import RunStatus
from newsletter.operations import runs
from newsletter.schedule.sends import SendView, cancel_at, schedule_send_at, scheduled_sends
from newsletter.web.api.deps import Caller, api_runtime, api_state
from newsletter.web.api.problems import PROBLEM_RESPONSES, ApiProblem
from newsletter.web.deps import in_background

router = APIRouter(tags=["sends"], responses=PROBLEM_RESPONSES)
OPEN_STATUSES = ("queued", "sending", "deferred")


class PreviewOut(BaseModel):
    """The digest a subscriber (or the whole list) would get now."""

    subject: str
    html: str
    text: str
    article_count: int


class TestIn(BaseModel):
    """Where a test digest goes."""

    to: str = Field(max_length=320)


class TestOut(BaseModel):
    """The Message-ID of a sent test."""

    message_id: str


class RunOut(BaseModel):
    """A run with its counts and progress."""

    id: int
    list: str
    kind: str
    status: str
    period: str | None
    created_at: datetime
    finished_at: datetime | None
    pause_reason: str | None
    counts: dict[str, int]
    pending: int
    total: int
    done: bool


class RunDetailOut(RunOut):
    """A run with its most frequent errors and latest failures."""

    errors: list[tuple[str, int]]
    recent_failures: list[tuple[str, str, str]]


class SendNowOut(BaseModel):
    """The run a send-now started."""

    run_id: int
    queued: int


class ScheduleIn(BaseModel):
    """A one-off send at a local time."""

    list: str
    at: str = Field(description='local time, "2026-12-01 08:00"')
    timezone: str = "UTC"


class ScheduledOut(BaseModel):
    """A scheduled one-off send."""

    id: int
    list: str
    at: datetime
    local: str
    timezone: str
    status: str
    run_id: int | None


class ActionOut(BaseModel):
    """What a run action did."""

    run_id: int
    changed: int


def _run_out(summary: RunSummary) -> RunOut:
    pending = sum(summary.counts.get(name, 0) for name in OPEN_STATUSES)
    return RunOut(
        id=summary.id,
        list=summary.list_slug,
        kind=summary.kind,
        status=summary.status,
        period=summary.period,
        created_at=summary.created_at,
        finished_at=summary.finished_at,
        pause_reason=summary.pause_reason,
        counts=summary.counts,
        pending=pending,
        total=sum(summary.counts.values()),
        done=summary.status in ("done", "cancelled"),
    )


def _scheduled(view: SendView) -> ScheduledOut:
    return ScheduledOut(
        id=view.id,
        list=view.list_slug,
        at=view.at,
        local=view.local,
        timezone=view.timezone,
        status=view.status,
        run_id=view.run_id,
    )


@router.get("/lists/{slug}/preview", response_model=PreviewOut)
def preview(request: Request, slug: str, owner: Caller, email: str | None = None) -> PreviewOut:
    """Render the list's digest now, for one subscriber or for the whole list."""
    found = runs.build_preview(api_runtime(request), slug=slug, email=email)
    return PreviewOut(
        subject=found.rendered.subject,
        html=found.html,
        text=found.text,
        article_count=found.article_count,
    )


@router.post("/lists/{slug}/test", response_model=TestOut)
async def test_send(request: Request, slug: str, body: TestIn, owner: Caller) -> TestOut:
    """Send the list's current digest to one address."""
    return TestOut(message_id=await runs.send_test(api_runtime(request), slug=slug, to=body.to))


@router.post("/lists/{slug}/send", response_model=SendNowOut, status_code=202)
async def send_now(request: Request, slug: str, owner: Caller) -> SendNowOut:
    """Plan a run of the list now and send it in the background; poll ``/runs/{id}``."""
    rt = api_runtime(request)
    plan = await asyncio.to_thread(runs.plan_list, rt, slug=slug)
    if plan.queued:
        in_background(
            api_state(request).web, runs.resume_run(rt, run_id=plan.run_id), f"run {plan.run_id}"
        )
    return SendNowOut(run_id=plan.run_id, queued=plan.queued)


@router.get("/schedule", response_model=list[ScheduledOut])
def scheduled(request: Request, owner: Caller, all: bool = False) -> list[ScheduledOut]:
    """Scheduled one-off sends, soonest first (pending only unless ``all``)."""
    views = scheduled_sends(api_runtime(request), include_finished=all)
    return [_scheduled(v) for v in views]


@router.post("/schedule", response_model=ScheduledOut, status_code=201)
def schedule(request: Request, body: ScheduleIn, owner: Caller) -> ScheduledOut:
    """Schedule a one-off send of a list at a local time."""
    rt = api_runtime(request)
    view = schedule_send_at(rt, slug=body.list, at=body.at, timezone=body.timezone, now=rt.clock())
    return _scheduled(view)


@router.delete("/schedule/{send_id}", response_model=ActionOut)
def unschedule(request: Request, send_id: int, owner: Caller) -> ActionOut:
    """Cancel a pending scheduled send."""
    rt = api_runtime(request)
    cancel_at(rt, send_id=send_id, now=rt.clock())
    return ActionOut(run_id=0, changed=1)


@router.get("/runs", response_model=list[RunOut])
def get_runs(
    request: Request,
    owner: Caller,
    status: RunStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[RunOut]:
    """The latest runs with their counts, newest first."""
    return [_run_out(s) for s in runs.list_runs(api_runtime(request), limit=limit, status=status)]


@router.get("/runs/{run_id}", response_model=RunDetailOut)
def get_run(request: Request, run_id: int, owner: Caller) -> RunDetailOut:
    """One run: status, progress, frequent errors and latest failures."""
    detail = runs.run_detail(api_runtime(request), run_id=run_id)
    return RunDetailOut(
        **_run_out(detail.summary).model_dump(),
        errors=detail.errors,
        recent_failures=detail.recent_failures,
    )


@router.post("/runs/{run_id}/{action}", response_model=ActionOut)
def run_action(request: Request, run_id: int, action: str, owner: Caller) -> ActionOut:
    """``pause``, ``resume``, ``retry`` (the failed rows) or ``cancel`` a run."""
    rt = api_runtime(request)
    web = api_state(request).web
    changed = 1
    if action == "pause":
        runs.pause_run(rt, run_id=run_id, reason=f"paused over the API by {owner.email}")
    elif action == "resume":
        runs.reopen_run(rt, run_id=run_id)
        in_background(web, runs.resume_run(rt, run_id=run_id), f"run {run_id}")
    elif action == "retry":
        changed = runs.retry_failed(rt, run_id=run_id)
        if changed:
            in_background(web, runs.resume_run(rt, run_id=run_id), f"run {run_id}")
    elif action == "cancel":
        changed = runs.cancel_run(rt, run_id=run_id)
    else:
        raise ApiProblem(404, f"runs cannot {action!r} (pause, resume, retry or cancel)")
    return ActionOut(run_id=run_id, changed=changed)
