"""The suppression list and the effective settings, for admins: search, add and remove
suppressions with their reasons; read the configuration with every secret masked."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.operations import audience
from newsletter.operations.configfile import masked_settings
from newsletter.web.deps import (
    Account,
    PageError,
    form_with_csrf,
    redirect_to,
    render,
    require_admin,
    runtime,
)
from subscribers.errors import SubscriberError
from subscribers.models import SuppressionReason

router = APIRouter(prefix="/admin")


@router.get("/suppressions")
def suppressions_page(
    request: Request, account: Account = Depends(require_admin), q: str = "", reason: str = ""
) -> Response:
    """Search the suppression list (newest first, 200 at most) and add to it."""
    try:
        rows, total = audience.search(runtime(request), text=q, reason=reason)
    except SubscriberError as exc:
        raise PageError(400, "Bad filter", str(exc)) from None
    return render(
        request,
        "suppressions.html.j2",
        {
            "title": "Suppressions",
            "rows": rows,
            "total": total,
            "q": q,
            "reason": reason,
            "reasons": [r.value for r in SuppressionReason],
        },
    )


@router.post("/suppressions")
async def change_suppressions(
    request: Request, account: Account = Depends(require_admin)
) -> Response:
    """Add an address or domain with a reason and note, or remove one."""
    form = await form_with_csrf(request, account)
    rt = runtime(request)
    value, domain = form.get("value", ""), form.get("kind") == "domain"
    try:
        if form.get("action") == "remove":
            audience.unsuppress(rt, value=value, domain=domain, with_hash=False)
            notice = f"{value} removed from the suppression list"
        else:
            reason = form.get("reason", SuppressionReason.MANUAL)
            if reason not in {r.value for r in SuppressionReason}:
                raise SubscriberError(f"unknown reason {reason!r}")
            entry = audience.suppress(
                rt,
                value=value,
                domain=domain,
                reason=SuppressionReason(reason),
                note=(form.get("note", "").strip() or f"by {account.email}")[:500],
            )
            notice = f"{entry.value} suppressed"
    except SubscriberError as exc:
        return redirect_to("/admin/suppressions", error=str(exc), keep=form)
    return redirect_to("/admin/suppressions", notice=notice)


@router.get("/settings")
def settings_page(request: Request, account: Account = Depends(require_admin)) -> Response:
    """The effective configuration, secrets masked (change it in the environment or TOML)."""
    return render(
        request,
        "settings.html.j2",
        {"title": "Settings", "settings": masked_settings(runtime(request).settings)},
    )
