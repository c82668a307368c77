"""Scheduled one-off sends, for editors: create one at a local time, list them, cancel one."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.errors import NewsletterError
from newsletter.schedule.sends import cancel_at, schedule_overview, schedule_send_at
from newsletter.web.choices import timezones
from newsletter.web.deps import (
    Account,
    form_with_csrf,
    redirect_to,
    render,
    require_editor,
    runtime,
)

router = APIRouter(prefix="/admin")


@router.get("/schedule")
def schedule_page(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Every scheduled send (pending first by time, then the finished ones) and a form."""
    shown = schedule_overview(runtime(request))
    return render(
        request,
        "schedule.html.j2",
        {
            "title": "Scheduled sends",
            "sends": shown.sends,
            "lists": shown.lists,
            "timezones": timezones(),
        },
    )


@router.post("/schedule")
async def schedule_send(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Schedule a list's one-off send at a local date and time."""
    form = await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        send = schedule_send_at(
            rt,
            slug=form.get("list", ""),
            at=form.get("at", "").replace("T", " "),
            timezone=form.get("timezone", "UTC"),
            now=rt.clock(),
        )
        notice = f"Send #{send.id} scheduled"
    except NewsletterError as exc:
        return redirect_to("/admin/schedule", error=str(exc), keep=form)
    return redirect_to("/admin/schedule", notice=notice)


@router.post("/schedule/{send_id}/cancel")
async def cancel(
    request: Request, send_id: int, account: Account = Depends(require_editor)
) -> Response:
    """Cancel a pending scheduled send."""
    await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        cancel_at(rt, send_id=send_id, now=rt.clock())
    except NewsletterError as exc:
        return redirect_to("/admin/schedule", error=str(exc))
    return redirect_to("/admin/schedule", notice=f"Send #{send_id} cancelled")
