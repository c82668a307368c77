"""Lists, for admins: create them and edit their sender, topics and defaults."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.models import Topic
from newsletter.operations import lists as lists_ops
from newsletter.operations.topics import list_topics
from newsletter.web.choices import WEEKDAYS, timezones
from newsletter.web.deps import (
    Account,
    form_with_csrf,
    list_or_404,
    redirect_to,
    render,
    require_admin,
    runtime,
)
from subscribers.errors import SubscriberError

router = APIRouter(prefix="/admin")
log = logging.getLogger(__name__)
PER_PAGE = 50
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
LIST_FIELDS = ("name", "from_name", "from_address", "reply_to", "default_timezone")


def _known_topics(request: Request) -> list[Topic]:
    return list_topics(runtime(request))


@router.get("/lists")
def lists_page(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Every list with its subscription counts, and a form to create one."""
    found = lists_ops.lists_page(runtime(request))
    return render(
        request,
        "lists.html.j2",
        {
            "title": "Lists",
            "lists": [row.mailing_list for row in found.lists],
            "counts": {row.mailing_list.id: row.counts for row in found.lists},
            "topics": found.topics,
            "weekdays": WEEKDAYS,
            "timezones": timezones(),
            "edit": None,
        },
    )


def _list_values(form: dict[str, str], topics: list[str]) -> dict[str, Any]:
    return {key: form.get(key, "").strip() for key in LIST_FIELDS} | {
        "topics": topics,
        "default_cadence": form.get("default_cadence", "daily"),
        "default_weekday": form.get("default_weekday", "0"),
        "default_send_hour": form.get("default_send_hour", "8") or "8",  # checked by the service
        "double_opt_in": form.get("double_opt_in") == "yes",
    }


@router.post("/lists")
async def create_list(request: Request, account: Account = Depends(require_admin)) -> Response:
    """Create a list."""
    form = await form_with_csrf(request, account)
    topics = [str(t) for t in (await request.form()).getlist("topics")]
    values = _list_values(form, topics)
    try:
        created = lists_ops.create(
            runtime(request),
            slug=form.get("slug", ""),
            **values | {"reply_to": values["reply_to"] or None},
        )
        notice = f"List {created.slug} created"
    except SubscriberError as exc:
        return redirect_to("/admin/lists", error=str(exc), keep=form)
    return redirect_to("/admin/lists", notice=notice)


@router.get("/lists/{slug}")
def edit_list_page(
    request: Request, slug: str, account: Account = Depends(require_admin)
) -> Response:
    """The edit form of one list."""
    mailing_list = list_or_404(request, slug)
    return render(
        request,
        "list_edit.html.j2",
        {
            "title": f"Edit {mailing_list.name}",
            "edit": mailing_list,
            "topics": _known_topics(request),
            "weekdays": WEEKDAYS,
            "timezones": timezones(),
        },
    )


@router.post("/lists/{slug}")
async def edit_list(
    request: Request, slug: str, account: Account = Depends(require_admin)
) -> Response:
    """Save a list's settings; topics it stops offering leave its subscriptions."""
    form = await form_with_csrf(request, account)
    topics = [str(t) for t in (await request.form()).getlist("topics")]
    try:
        result = lists_ops.update(runtime(request), slug=slug, **_list_values(form, topics))
        notice = f"Saved ({', '.join(result.changed)})" if result.changed else "Nothing changed"
    except SubscriberError as exc:
        return redirect_to(f"/admin/lists/{slug}", error=str(exc), keep=form)
    return redirect_to("/admin/lists", notice=notice)
