"""Outgoing webhooks, for admins: add endpoints (secret shown once), pause, remove, see the
queue with each delivery's attempts and last error, and post what is due now."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.errors import NewsletterError
from newsletter.web.deps import (
    Account,
    form_with_csrf,
    redirect_to,
    render,
    require_admin,
    runtime,
)
from newsletter.webhooks.endpoints import (
    EventKind,
    register,
    set_endpoint_active,
    unregister,
    webhooks_overview,
)
from newsletter.webhooks.sender import deliver_due

router = APIRouter(prefix="/admin")


def _page(request: Request, extra: dict[str, object] | None = None) -> Response:
    shown = webhooks_overview(runtime(request), limit=100)
    context: dict[str, object] = {
        "title": "Webhooks",
        "endpoints": shown.endpoints,
        "queue": shown.queue,
        "kinds": [kind.value for kind in EventKind],
    }
    return render(request, "webhooks.html.j2", context | (extra or {}))


@router.get("/webhooks")
def webhooks_page(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Endpoints, the latest deliveries and a form to add an endpoint."""
    return _page(request)


@router.post("/webhooks")
async def add_webhook(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Register an endpoint and show its signing secret once."""
    form = await form_with_csrf(request, account)
    events = [str(e) for e in (await request.form()).getlist("events")]
    try:
        endpoint, secret = register(runtime(request), url=form.get("url", ""), events=events)
        endpoint_id = endpoint.id
    except NewsletterError as exc:
        return redirect_to("/admin/webhooks", error=str(exc), keep=form)
    return _page(request, {"new_secret": secret, "new_id": endpoint_id})


@router.post("/webhooks/send")
async def send_now(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Record new events and post what is due, now."""
    await form_with_csrf(request, account)
    report = await asyncio.to_thread(deliver_due, runtime(request))
    text = (
        f"{report.recorded} new event(s); {report.delivered} delivered, "
        f"{report.retried} to retry, {report.failed} given up"
    )
    if report.retried or report.failed:
        return redirect_to("/admin/webhooks", error=text)
    return redirect_to("/admin/webhooks", notice=text)


@router.post("/webhooks/{endpoint_id}/{action}")
async def endpoint_action(
    request: Request, endpoint_id: int, action: str, account: Account = Depends(require_admin)
) -> Response:
    """Pause, resume or remove an endpoint."""
    await form_with_csrf(request, account)
    try:
        rt = runtime(request)
        if action in ("pause", "resume"):
            set_endpoint_active(rt, endpoint_id=endpoint_id, active=action == "resume")
            notice = f"Webhook #{endpoint_id} {action}d"
        elif action == "remove":
            notice = f"Webhook {unregister(rt, endpoint_id=endpoint_id)} removed"
        else:
            return redirect_to("/admin/webhooks", error=f"Webhooks cannot {action!r}")
    except NewsletterError as exc:
        return redirect_to("/admin/webhooks", error=str(exc))
    return redirect_to("/admin/webhooks", notice=notice)
