"""Subscribers, for admins: find, add, edit, unsubscribe, suppress and erase people; import a
CSV and download an export."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import logging
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from newsletter.operations import audience as audience_admin
from newsletter.operations import subscriptions as members
from newsletter.operations.confirmations import send_confirmations
from newsletter.operations.privacy import erase
from newsletter.web.choices import WEEKDAYS, timezones
from newsletter.web.deps import (
    Account,
    PageError,
    form_with_csrf,
    in_background,
    list_or_404,
    redirect_to,
    render,
    require_admin,
    runtime,
    state,
)
from subscribers.errors import SubscriberError
from subscribers.models import SubscriptionStatus, SuppressionReason, UnsubscribeSource

router = APIRouter(prefix="/admin")
log = logging.getLogger(__name__)
PER_PAGE = 50
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
UPLOAD_FORM_SLACK = 64 * 1024  # the form's other fields and multipart headers


@router.get("/subscribers")
def subscribers_page(
    request: Request,
    account: Account = Depends(require_admin),
    list: str = "",
    status: str = "",
    topic: str = "",
    q: str = "",
    page: int = 1,
) -> Response:
    """Members of a list, filtered by status, topic and text, 50 per page."""
    page = max(1, page)
    try:
        shown = members.members_page(
            runtime(request),
            slug=list,
            status=status or None,
            topic=topic or None,
            search=q or None,
            limit=PER_PAGE,
            offset=(page - 1) * PER_PAGE,
        )
    except SubscriberError as exc:
        raise PageError(400, "Bad filter", str(exc)) from None
    if shown.chosen is None:
        return render(request, "subscribers.html.j2", {"title": "Subscribers", "lists": []})
    lists, chosen, counts = shown.lists, shown.chosen, shown.members.counts
    rows, total = shown.members.rows, shown.members.total
    return render(
        request,
        "subscribers.html.j2",
        {
            "title": "Subscribers",
            "lists": lists,
            "mailing_list": chosen,
            "members": rows,
            "has_next": page * PER_PAGE < total,
            "total": total,
            "pages": max(1, -(-total // PER_PAGE)),
            "page": page,
            "status": status,
            "topic": topic,
            "q": q,
            "counts": counts,
            "statuses": [s.value for s in SubscriptionStatus],
            "weekdays": WEEKDAYS,
            "timezones": timezones(),
        },
    )


@router.post("/subscribers/add")
async def add_subscriber(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Add (or re-add) a person to a list, confirmed at once when the admin says so."""
    form = await form_with_csrf(request, account)
    slug = form.get("list", "")
    mailing_list = list_or_404(request, slug)
    topics = [str(t) for t in (await request.form()).getlist("topics")]
    rt = runtime(request)
    try:
        added = members.add_member(
            rt,
            slug=mailing_list.slug,
            email=form.get("email", ""),
            name=form.get("name", ""),
            topics=topics or None,
            confirmed=form.get("confirmed") == "yes",
        )
        subscription = added.subscription
        notice = f"Added ({subscription.status})"
        pending = subscription.id if subscription.status == SubscriptionStatus.PENDING else None
    except SubscriberError as exc:
        return redirect_to("/admin/subscribers", list=slug, error=str(exc), keep=form)
    if pending is not None:
        # Double opt-in: the person gets their confirmation email, through the one engine.
        in_background(
            state(request),
            send_confirmations(rt, subscription_ids=[pending]),
            f"confirmation for subscription {pending}",
        )
        notice += "; confirmation email sent"
    return redirect_to("/admin/subscribers", list=slug, notice=notice)


@router.post("/subscribers/bulk")
async def bulk(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Unsubscribe, suppress or erase the ticked subscribers of a list."""
    form = await form_with_csrf(request, account)
    slug = form.get("list", "")
    mailing_list = list_or_404(request, slug)
    emails = [str(e) for e in (await request.form()).getlist("emails")]
    action = form.get("action", "")
    if action == "erase" and form.get("confirm_bulk") != "yes":
        return redirect_to("/admin/subscribers", list=slug, error="Tick the box to confirm erasure")
    try:
        result = audience_admin.bulk(
            runtime(request),
            mailing_list=mailing_list,
            emails=emails,
            action=action,
            actor=account.email,
        )
    except SubscriberError as exc:
        return redirect_to("/admin/subscribers", list=slug, error=str(exc))
    text = f"{result.action.value}: {result.changed} changed"
    if result.failed:
        skipped = "; ".join(f"{email}: {why}" for email, why in result.failed[:5])
        return redirect_to("/admin/subscribers", list=slug, error=f"{text}, not done: {skipped}")
    return redirect_to("/admin/subscribers", list=slug, notice=text)


def _membership(request: Request, slug: str, email: str) -> members.Membership:
    try:
        found = members.membership(runtime(request), slug=slug, email=email)
    except SubscriberError as exc:
        raise PageError(404, "Not found", str(exc)) from None
    if found is None:
        raise PageError(404, "Not found", f"{email} is not on {slug}.")
    return found


@router.get("/subscribers/edit")
def edit_subscriber_page(
    request: Request, list: str, email: str, account: Account = Depends(require_admin)
) -> Response:
    """One person's subscription: preferences and the unsubscribe, suppress, erase buttons."""
    mailing_list = list_or_404(request, list)
    found = _membership(request, list, email)
    subscriber, subscription = found.subscriber, found.subscription
    return render(
        request,
        "subscriber_edit.html.j2",
        {
            "title": subscriber.email,
            "mailing_list": mailing_list,
            "subscriber": subscriber,
            "subscription": subscription,
            "weekdays": WEEKDAYS,
            "timezones": timezones(),
            "chosen": {
                "topics": subscription.topics,
                "cadence": subscription.cadence,
                "weekday": subscription.weekday,
                "send_hour": subscription.send_hour,
                "timezone": subscription.timezone or subscriber.timezone,
            },
        },
    )


@router.post("/subscribers/edit")
async def edit_subscriber(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Save a person's preferences, or unsubscribe, suppress or erase them."""
    form = await form_with_csrf(request, account)
    slug, email, action = form.get("list", ""), form.get("email", ""), form.get("action", "")
    found = _membership(request, slug, email)
    subscriber, subscription = found.subscriber, found.subscription
    rt = runtime(request)
    try:
        if action == "save":
            members.save_preferences(
                rt,
                subscription=subscription,
                topics=[str(t) for t in (await request.form()).getlist("topics")] or None,
                cadence=form.get("cadence") or None,
                weekday=form.get("weekday") or None,
                send_hour=form.get("send_hour") or None,
                timezone=form.get("timezone") or None,
                name=form.get("name"),
            )
            return redirect_to("/admin/subscribers/edit", list=slug, email=email, notice="Saved")
        if action == "unsubscribe":
            members.end_subscription(
                rt,
                subscriber_id=subscriber.id or 0,
                list_id=subscription.list_id,
                source=UnsubscribeSource.ADMIN,
            )
            return redirect_to(
                "/admin/subscribers/edit", list=slug, email=email, notice="Unsubscribed"
            )
        if action == "suppress":
            audience_admin.suppress(
                rt,
                value=subscriber.email,
                reason=SuppressionReason.MANUAL,
                note=f"by {account.email}",
            )
            return redirect_to(
                "/admin/subscribers/edit", list=slug, email=email, notice="Suppressed"
            )
        if action == "erase":
            if form.get("confirm_erase") != subscriber.email:
                return redirect_to(
                    "/admin/subscribers/edit",
                    list=slug,
                    email=email,
                    error="Type the address to confirm the erasure",
                )
            erase(rt, email=subscriber.email)
            return redirect_to("/admin/subscribers", list=slug, notice="Erased")
    except SubscriberError as exc:
        return redirect_to(
            "/admin/subscribers/edit", list=slug, email=email, error=str(exc), keep=form
        )
    raise PageError(400, "Unknown action")


async def _save_upload(upload: UploadFile, folder: Path) -> Path:
    target = folder / "upload.csv"
    size = 0
    with target.open("wb") as handle:
        while chunk := await upload.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise PageError(413, "File too large", "Upload at most 50 MB at a time.")
            handle.write(chunk)
    return target


def _declared_length(request: Request) -> int:
    """The request's Content-Length, or 0 when it is missing or not a number."""
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


@router.post("/subscribers/import")
async def import_page(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Import an uploaded CSV into a list; show the counts and the rejected rows."""
    if _declared_length(request) > MAX_UPLOAD_BYTES + UPLOAD_FORM_SLACK:
        # refused before the body is read; chunked uploads are caught while being saved
        raise PageError(413, "File too large", "Upload at most 50 MB at a time.")
    try:
        return await _import(request, account)
    finally:
        await request.close()  # closes the uploaded file's spool


async def _import(request: Request, account: Account) -> Response:
    form = await form_with_csrf(request, account)
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return redirect_to("/admin/subscribers", list=form.get("list", ""), error="Choose a file")
    mailing_list = list_or_404(request, form.get("list", ""))
    rt = runtime(request)
    rejected: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="newsletter-import-") as folder:
        path = await _save_upload(upload, Path(folder))
        rejects = Path(folder) / "rejects.csv"
        try:
            report = await asyncio.to_thread(
                members.import_file,
                rt,
                slug=mailing_list.slug,
                path=path,
                confirmed=form.get("confirmed") == "yes",
                rejects=rejects,
            )
        except SubscriberError as exc:
            return render(
                request,
                "import_result.html.j2",
                {"title": "Import failed", "mailing_list": mailing_list, "error": str(exc)},
                status=400,
            )
        if rejects.exists():
            with rejects.open(encoding="utf-8", newline="") as handle:
                rejected = [*itertools.islice(csv.reader(handle), 201)]
    if report.pending_subscription_ids:
        in_background(
            state(request),
            send_confirmations(rt, subscription_ids=report.pending_subscription_ids),
            "confirmations after an import",
        )
    return render(
        request,
        "import_result.html.j2",
        {
            "title": "Import",
            "mailing_list": mailing_list,
            "error": "",
            "report": report,
            "rejected": rejected,
            "filename": upload.filename,
        },
    )


@router.get("/subscribers/export")
def export(
    request: Request, list: str, status: str = "", account: Account = Depends(require_admin)
) -> Response:
    """Download the list's subscribers (optionally one status) as CSV."""
    mailing_list = list_or_404(request, list)
    chosen = (status or "all").strip().lower()  # as export_csv reads it (it refuses the rest)
    out = io.StringIO()
    try:
        members.export(runtime(request), slug=mailing_list.slug, out=out, status=chosen)
    except SubscriberError as exc:
        raise PageError(400, "Bad filter", str(exc)) from None
    name = f"{mailing_list.slug}-{chosen}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
