"""One subscriber, for admins: everything held about them (subscriptions, unsubscribes,
deliveries with their articles and archived issues) and actions: unsubscribe from a list,
resend a confirmation, erase."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.operations.confirmations import resend_confirmation
from newsletter.operations.people import person
from newsletter.operations.privacy import erase
from newsletter.operations.subscriptions import unsubscribe
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

router = APIRouter(prefix="/admin")


@router.get("/people")
def person_page(
    request: Request, email: str, account: Account = Depends(require_admin)
) -> Response:
    """Everything held about one address."""
    try:
        detail = person(runtime(request), email=email, base_url="")
    except SubscriberError as exc:
        raise PageError(404, "No such subscriber", str(exc)) from None
    return render(request, "person.html.j2", {"title": detail.record["email"], "detail": detail})


@router.post("/people")
async def person_action(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Unsubscribe from one list, resend a confirmation, or erase the person."""
    form = await form_with_csrf(request, account)
    email, action, slug = form.get("email", ""), form.get("action", ""), form.get("list", "")
    rt = runtime(request)
    try:
        if action == "resend":
            report = await resend_confirmation(rt, email=email, slug=slug)
            if not report.sent:
                return redirect_to(
                    "/admin/people", email=email, error=f"Not sent: {report.summary}"
                )
            return redirect_to("/admin/people", email=email, notice=f"Confirmation sent for {slug}")
        if action == "unsubscribe":
            unsubscribe(rt, email=email, slug=slug)
            return redirect_to("/admin/people", email=email, notice=f"Unsubscribed from {slug}")
        if action == "erase":
            if form.get("confirm_erase", "").strip().lower() != email.strip().lower():
                raise SubscriberError("type the address to confirm the erasure")
            erase(rt, email=email)
            return redirect_to("/admin/subscribers", notice=f"{email} erased")
    except SubscriberError as exc:
        return redirect_to("/admin/people", email=email, error=str(exc))
    raise PageError(400, "Unknown action", f"People cannot {action!r}.")
