"""Preview, test sends, manual sends in the background, runs with retry, pause and resume."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from newsletter.db import session_scope
from newsletter.errors import NewsletterError
from newsletter.ledger.planning import iter_audience
from newsletter.ledger.record import run_counts
from newsletter.ledger.runstate import recent_runs
from newsletter.models import DeliveryStatus, Run, RunStatus
from newsletter.operations import runs
from newsletter.operations.recipients import run_recipients
from newsletter.web.deps import (
    Account,
    PageError,
    form_with_csrf,
    in_background,
    list_or_404,
    redirect_to,
    render,
    require_editor,
    runtime,
    state,
)
from subscribers.errors import SubscriberError
from subscribers.models import MailingList
from subscribers.service import all_lists

router = APIRouter(prefix="/admin")
log = logging.getLogger(__name__)
OPEN_STATUSES = ("queued", "sending", "deferred")
RECIPIENTS_PER_PAGE = 100


@router.get("/preview")
def preview_page(
    request: Request,
    account: Account = Depends(require_editor),
    list: str = "",
    email: str = "",
    view: str = "desktop",
) -> Response:
    """Choose a list (and optionally a subscriber); show the digest at desktop or phone width."""
    rt = runtime(request)
    with session_scope(rt.engine) as session:
        lists = all_lists(session)
    slug = list or (lists[0].slug if lists else "")
    context: dict[str, Any] = {
        "title": "Preview",
        "lists": lists,
        "slug": slug,
        "email": email,
        "view": view if view in ("desktop", "mobile", "text") else "desktop",
        "error": "",
        "preview": None,
    }
    if slug:
        try:
            context["preview"] = runs.build_preview(rt, slug=slug, email=email.strip() or None)
        except (SubscriberError, NewsletterError) as exc:
            context["error"] = str(exc)
    return render(request, "preview.html.j2", context)


@router.get("/preview/frame")
def preview_frame(
    request: Request, list: str, email: str = "", account: Account = Depends(require_editor)
) -> Response:
    """The digest HTML alone, for the preview's frame (scripts and forms sandboxed away)."""
    try:
        preview = runs.build_preview(runtime(request), slug=list, email=email.strip() or None)
    except (SubscriberError, NewsletterError) as exc:
        raise PageError(404, "No preview", str(exc)) from None
    return HTMLResponse(
        preview.html,
        headers={
            "Content-Security-Policy": "sandbox allow-popups",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@router.post("/preview/test")
async def send_test(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Send the list's current digest to one address."""
    form = await form_with_csrf(request, account)
    slug, to = form.get("list", ""), form.get("to", "")
    try:
        message_id = await runs.send_test(runtime(request), slug=slug, to=to)
    except (SubscriberError, NewsletterError) as exc:
        return redirect_to("/admin/preview", list=slug, error=f"Test not sent: {exc}", keep=form)
    return redirect_to("/admin/preview", list=slug, notice=f"Test sent to {to} ({message_id})")


@router.get("/send")
def confirm_send(
    request: Request, list: str = "", account: Account = Depends(require_editor)
) -> Response:
    """The confirmation step before a list is sent now."""
    mailing_list = list_or_404(request, list)
    with session_scope(runtime(request).engine) as session:
        # streamed in chunks: counting a million subscribers never holds them all
        audience = sum(len(chunk) for chunk in iter_audience(session, list_id=mailing_list.id or 0))
    return render(
        request,
        "send_confirm.html.j2",
        {"title": f"Send {mailing_list.name}", "mailing_list": mailing_list, "audience": audience},
    )


@router.post("/send")
async def trigger_send(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Plan a run of the list now and send it in the background; show its progress."""
    form = await form_with_csrf(request, account)
    if form.get("confirm") != "yes":
        raise PageError(400, "Not confirmed", "Tick the confirmation box to send.")
    mailing_list = list_or_404(request, form.get("list", ""))
    plan = await asyncio.to_thread(runs.plan_list, runtime(request), slug=mailing_list.slug)
    if plan.queued:
        in_background(
            state(request),
            runs.resume_run(runtime(request), run_id=plan.run_id),
            f"run {plan.run_id}",
        )
    return RedirectResponse(f"/admin/runs/{plan.run_id}", status_code=303)


@router.get("/runs")
def runs_page(request: Request, account: Account = Depends(require_editor)) -> Response:
    """The last runs with their counts."""
    with session_scope(runtime(request).engine) as session:
        rows = recent_runs(session, limit=50)
    return render(request, "runs.html.j2", {"title": "Runs", "runs": rows})


def _progress(request: Request, run_id: int) -> dict[str, Any]:
    with session_scope(runtime(request).engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            raise PageError(404, "No such run", f"There is no run {run_id}.")
        counts = run_counts(session, run_id=run_id)
    return {
        "run_id": run_id,
        "status": run.status,
        "pause_reason": run.pause_reason or "",
        "counts": counts,
        "pending": sum(counts[name] for name in OPEN_STATUSES),
        "total": sum(counts.values()),
        "done": run.status in (RunStatus.DONE, RunStatus.CANCELLED),
    }


@router.get("/runs/{run_id}/progress")
def run_progress(
    request: Request, run_id: int, account: Account = Depends(require_editor)
) -> JSONResponse:
    """The run's status and counts, polled by the run page."""
    return JSONResponse(_progress(request, run_id), headers={"Cache-Control": "no-store"})


@router.get("/runs/{run_id}")
def run_page(
    request: Request,
    run_id: int,
    account: Account = Depends(require_editor),
    status: str = "",
    q: str = "",
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """One run: live counts, its recipients (filtered by status and address, with their last
    errors and archived issues), and retry, pause and resume buttons."""
    progress = _progress(request, run_id)
    rt = runtime(request)
    with session_scope(rt.engine) as session:
        run = session.get(Run, run_id)
        mailing_list = session.get(MailingList, run.list_id) if run else None
        try:
            found = run_recipients(
                session,
                run_id=run_id,
                status=status,
                search=q,
                limit=RECIPIENTS_PER_PAGE,
                offset=(page - 1) * RECIPIENTS_PER_PAGE,
                secret=rt.settings.links.secret,
            )
        except NewsletterError as exc:
            raise PageError(400, "Bad filter", str(exc)) from None
    return render(
        request,
        "run.html.j2",
        {
            "title": f"Run {run_id}",
            "run": run,
            "mailing_list": mailing_list,
            "progress": progress,
            "recipients": found,
            "status": status,
            "q": q,
            "page": page,
            "pages": max(1, -(-found.total // RECIPIENTS_PER_PAGE)),
            "statuses": [s.value for s in DeliveryStatus],
        },
    )


@router.post("/runs/{run_id}/{action}")
async def run_action(
    request: Request, run_id: int, action: str, account: Account = Depends(require_editor)
) -> Response:
    """Pause, resume or retry the failed rows of a run."""
    await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        if action == "pause":
            runs.pause_run(rt, run_id=run_id)
            notice = "Run paused"
        elif action == "resume":
            runs.reopen_run(rt, run_id=run_id)
            in_background(state(request), runs.resume_run(rt, run_id=run_id), f"run {run_id}")
            notice = "Run resumed"
        elif action == "retry":
            count = runs.retry_failed(rt, run_id=run_id)
            if count:
                in_background(state(request), runs.resume_run(rt, run_id=run_id), f"run {run_id}")
            notice = f"{count} failed message(s) queued again"
        else:
            raise PageError(404, "Unknown action", f"Runs cannot {action!r}.")
    except NewsletterError as exc:
        return redirect_to(f"/admin/runs/{run_id}", error=str(exc))
    return redirect_to(f"/admin/runs/{run_id}", notice=notice)
