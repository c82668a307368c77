"""Articles in the console: search and filter, edit topics, pin and exclude."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.errors import ArticleNotFound, NewsletterError
from newsletter.operations import articles as articles_admin
from newsletter.web.deps import (
    Account,
    PageError,
    form_with_csrf,
    redirect_to,
    render,
    require_editor,
    runtime,
)

router = APIRouter(prefix="/admin")


@router.get("/articles")
def articles_page(
    request: Request,
    account: Account = Depends(require_editor),
    q: str = "",
    topic: str = "",
    flag: str = "",
    page: int = 1,
) -> Response:
    """Search articles by title or source, filter by topic or flag, 25 per page."""
    shown = articles_admin.browse_articles(
        runtime(request), query=q, topic=topic, flag=flag, page=page
    )
    return render(
        request,
        "articles.html.j2",
        {
            "title": "Articles",
            "found": shown.found,
            "topics": shown.topics,
            "q": q,
            "topic": topic,
            "flag": flag,
        },
    )


@router.post("/articles/{article_id}")
async def update_article(
    request: Request, article_id: int, account: Account = Depends(require_editor)
) -> Response:
    """Save an article's topics, or pin, unpin, exclude or include it."""
    form = await form_with_csrf(request, account)
    action = form.get("action", "")
    topics = (await request.form()).getlist("topics")
    if action == "topics":
        change: dict[str, Any] = {"topics": [str(t) for t in topics]}
        notice = "Topics saved"
    elif action in ("pin", "unpin"):
        change = {"pinned": action == "pin"}
        notice = "Pinned" if action == "pin" else "Unpinned"
    elif action in ("exclude", "include"):
        change = {"excluded": action == "exclude"}
        notice = "Excluded from digests" if action == "exclude" else "Included again"
    else:
        raise PageError(400, "Unknown action")
    try:
        articles_admin.edit_article(runtime(request), article_id=article_id, **change)
    except ArticleNotFound as exc:
        raise PageError(404, "No such article", str(exc)) from None
    except NewsletterError as exc:
        return redirect_to(
            "/admin/articles",
            error=str(exc),
            q=form.get("q", ""),
            topic=form.get("topic", ""),
            flag=form.get("flag", ""),
            page=form.get("page", ""),
        )
    return redirect_to(
        "/admin/articles",
        q=form.get("q", ""),
        topic=form.get("topic", ""),
        flag=form.get("flag", ""),
        page=form.get("page", ""),
        notice=notice,
    )
