"""Feeds and topics for editors: add feeds, fetch one now, see their health; create and rename
topics and see the category map."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.errors import NewsletterError
from newsletter.operations import feeds
from newsletter.operations import topics as topics_admin
from newsletter.web.deps import (
    Account,
    form_with_csrf,
    redirect_to,
    render,
    require_editor,
    runtime,
)

router = APIRouter(prefix="/admin")


@router.get("/feeds")
def feeds_page(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Every feed with its last success, last error and article count; a form to add one."""
    shown = feeds.feeds_page(runtime(request))
    return render(
        request, "feeds.html.j2", {"title": "Feeds", "feeds": shown.feeds, "topics": shown.topics}
    )


@router.post("/feeds")
async def add_feed(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Register a feed with its topics."""
    form = await form_with_csrf(request, account)
    topics = [str(t) for t in (await request.form()).getlist("topics")]
    try:
        feed = feeds.register_feed(
            runtime(request), url=form.get("url", ""), topics=topics, name=form.get("name", "")
        )
        notice = f"Feed {feed.id} added"
    except NewsletterError as exc:
        return redirect_to("/admin/feeds", error=str(exc), keep=form)
    return redirect_to("/admin/feeds", notice=notice)


@router.post("/feeds/{feed_id}/{action}")
async def feed_action(
    request: Request, feed_id: int, action: str, account: Account = Depends(require_editor)
) -> Response:
    """Fetch a feed now, or remove it (its articles stay)."""
    await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        if action == "fetch":
            result = await asyncio.to_thread(feeds.fetch_feed, rt, feed_id)
            if result.error:
                return redirect_to("/admin/feeds", error=f"Feed {feed_id}: {result.error}")
            notice = f"Feed {feed_id}: {result.status}, {result.added} new article(s)"
        elif action == "remove":
            feed = feeds.forget_feed(rt, ref=str(feed_id))
            notice = f"Feed {feed.url} removed"
        else:
            return redirect_to("/admin/feeds", error=f"Feeds cannot {action!r}")
    except NewsletterError as exc:
        return redirect_to("/admin/feeds", error=str(exc))
    return redirect_to("/admin/feeds", notice=notice)


@router.get("/topics")
def topics_page(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Topics with their article counts, the category map, and forms to add and rename."""
    rt = runtime(request)
    rows = topics_admin.topics_with_counts(rt)
    return render(
        request,
        "topics.html.j2",
        {
            "title": "Topics",
            "topics": rows,
            "category_map": sorted(rt.settings.content.category_map.items()),
        },
    )


@router.post("/topics")
async def topic_action(request: Request, account: Account = Depends(require_editor)) -> Response:
    """Create a topic or rename one."""
    form = await form_with_csrf(request, account)
    rt = runtime(request)
    try:
        if form.get("action") == "rename":
            topic = topics_admin.rename(rt, slug=form.get("slug", ""), name=form.get("name", ""))
            notice = f"Topic {topic.slug} renamed to {topic.name}"
        else:
            topic = topics_admin.add_topic(rt, slug=form.get("slug", ""), name=form.get("name", ""))
            notice = f"Topic {topic.slug} created"
    except NewsletterError as exc:
        return redirect_to("/admin/topics", error=str(exc), keep=form)
    return redirect_to("/admin/topics", notice=notice)
