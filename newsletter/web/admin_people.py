"""One subscriber, for admins: everything held about them (subscriptions, unsubscribes,
deliveries with their articles and archived issues) and actions: unsubscribe from a list,
resend a confirmation, erase."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.db import session_scope
from newsletter.operations.confirmations import send_confirmations
from newsletter.operations.people import person_detail
from newsletter.operations.privacy import erase_person
from newsletter.web.deps import (
    Account,
    PageError,
    form_with_csrf,
    redirect_to,
    render,
    require_admin,
    runtime,
)
from subscribers import service
from subscribers.errors import SubscriberError
from subscribers.models import UnsubscribeSource

router = APIRouter(prefix="/admin")


@router.get("/people")
def person_page(
    request: Request, email: str, account: Account = Depends(require_admin)
) -> Response:
    """Everything held about one address."""
    rt = runtime(request)
    with session_scope(rt.engine) as session:
        try:
            detail = person_detail(
                session, email=email, base_url="", secret=rt.settings.links.secret
            )
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
            with session_scope(rt.engine) as session:
                subscription = service.get_subscription(session, email=email, slug=slug)
                if subscription.status != "pending":
                    raise SubscriberError(
                        f"{email} is {subscription.status} on {slug}, not pending"
                    )
                subscription_id = subscription.id or 0
            report = await send_confirmations(rt, subscription_ids=[subscription_id])
            if not report.sent:
                return redirect_to(
                    "/admin/people", email=email, error=f"Not sent: {report.summary}"
                )
            return redirect_to("/admin/people", email=email, notice=f"Confirmation sent for {slug}")
        with session_scope(rt.engine) as session:
            if action == "unsubscribe":
                person = service.find_subscriber(session, email=email)
                mailing_list = service.get_list(session, slug=slug)
                service.unsubscribe(
                    session,
                    subscriber_id=person.id or 0,
                    list_id=mailing_list.id,
                    source=UnsubscribeSource.ADMIN,
                    now=rt.clock(),
                )
                return redirect_to("/admin/people", email=email, notice=f"Unsubscribed from {slug}")
            if action == "erase":
                if form.get("confirm_erase", "").strip().lower() != email.strip().lower():
                    raise SubscriberError("type the address to confirm the erasure")
                erase_person(session, email=email, secret=rt.settings.links.secret, now=rt.clock())
                return redirect_to("/admin/subscribers", notice=f"{email} erased")
    except SubscriberError as exc:
        return redirect_to("/admin/people", email=email, error=str(exc))
    raise PageError(400, "Unknown action", f"People cannot {action!r}.")
