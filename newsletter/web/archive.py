"""The public archive: `/`, a list's issues, one issue, topic pages, the Atom feed, view in browser.

Pages here never carry a personal link: issues are rendered from the stored digests with the
web variant of the email template (a subscribe button where the email has its footer links).
A list whose archive is private answers 404 except for signed links: the view-in-browser
link of a digest and the topic links of its sections.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from newsletter.digest.compose import brand_of
from newsletter.digest.links import check_archive_signature
from newsletter.digest.render import format_date, render_web_issue
from newsletter.operations import archive as reads
from newsletter.publish.atom import FeedEntry, FeedInfo, atom_feed
from newsletter.publish.urls import (
    archive_index_url,
    check_topic_signature,
    feed_url,
    issue_url,
)
from newsletter.runtime import Runtime
from newsletter.web.deps import SECURITY_HEADERS, PageError, list_or_404, render, runtime
from newsletter.web.security import make_form_token
from subscribers.models import MailingList

router = APIRouter()

#: Issue pages are email HTML: no script may run in them.
ISSUE_HEADERS = SECURITY_HEADERS | {
    "Content-Security-Policy": "script-src 'none'; frame-ancestors 'self'"
}


def not_found() -> PageError:
    """The one answer for private archives, unknown issues and bad signatures."""
    return PageError(404, "Page not found", "There is nothing at this address.")


def _page_number(value: str | None) -> int:
    if value is None or not value.isdigit() or len(value) > 6:
        return 1
    return max(1, int(value))


def _public_list(request: Request, slug: str) -> MailingList:
    mailing_list = list_or_404(request, slug)
    if not mailing_list.archive_public:
        raise not_found()
    return mailing_list


def _branding(rt: Runtime, mailing_list: MailingList) -> dict[str, Any]:
    token = make_form_token(
        rt.settings.links.secret, purpose=f"signup:{mailing_list.slug}", now=rt.clock()
    )
    return {
        "mailing_list": mailing_list,
        "accent": brand_of(mailing_list).accent_light,
        "form_token": token,
        "title": mailing_list.name,
    }


@router.get("/")
def home(request: Request) -> Response:
    """The public lists, with their archive, feed and sign-up links."""
    lists = [
        {
            "slug": item.slug,
            "name": item.name,
            "description": item.description,
            "accent": brand_of(item).accent_light,
        }
        for item in reads.public_lists(runtime(request))
    ]
    return render(request, "index.html.j2", {"title": "Newsletters", "lists": lists})


@router.get("/l/{slug}/archive")
def archive_index(request: Request, slug: str, page: str | None = None) -> Response:
    """Published issues of a list, newest first, with a sign-up form."""
    rt = runtime(request)
    mailing_list = _public_list(request, slug)
    shown = reads.issues_page(rt, mailing_list=mailing_list, page=_page_number(page))
    found, names = shown.found, shown.topic_names
    issues = [
        {
            "run_id": item.run_id,
            "date": format_date(item.published_at),
            "headlines": item.headlines,
            "article_count": item.article_count,
        }
        for item in found.items
    ]
    return render(
        request,
        "archive.html.j2",
        _branding(rt, mailing_list)
        | {
            "page": {"rows": issues, "page": found.page, "pages": found.pages},
            "topics": [(topic, names.get(topic, topic)) for topic in mailing_list.topics],
        },
    )


@router.get("/l/{slug}/archive/{run_id}")
def issue_page(request: Request, slug: str, run_id: str) -> Response:
    """One issue: every article its readers got, the editor's note, a subscribe button."""
    rt = runtime(request)
    mailing_list = _public_list(request, slug)
    if not run_id.isdigit() or len(run_id) > 12:
        raise not_found()
    issue = reads.published_issue(rt, mailing_list=mailing_list, run_id=int(run_id))
    if issue is None:
        raise not_found()
    label = f"Issue of {format_date(issue.published_at)}"
    return HTMLResponse(render_web_issue(rt.env, issue.view, label=label), headers=ISSUE_HEADERS)


@router.get("/v/{digest_id}/{signature}")
def view_in_browser(request: Request, digest_id: int, signature: str) -> Response:
    """The reader's own issue (one distinct digest) as sent, without their personal links."""
    rt = runtime(request)
    if not signature.isascii() or not check_archive_signature(
        rt.settings.links.secret, digest_id, signature
    ):
        raise not_found()
    issue = reads.digest_issue(rt, digest_id=digest_id, view_url=str(request.url))
    if issue is None:
        raise PageError(404, "Not sent yet", "This digest has not been sent yet.")
    label = f"Issue of {format_date(issue.published_at)}"
    return HTMLResponse(render_web_issue(rt.env, issue.view, label=label), headers=ISSUE_HEADERS)


@router.get("/l/{slug}/topics/{topic}")
def topic_page(
    request: Request, slug: str, topic: str, k: str = "", page: str | None = None
) -> Response:
    """The newest articles of one of the list's topics (signed links work for private lists)."""
    rt = runtime(request)
    mailing_list = list_or_404(request, slug)
    signed = bool(k) and check_topic_signature(
        rt.settings.links.secret, mailing_list.slug, topic, k
    )
    if topic not in mailing_list.topics or not (mailing_list.archive_public or signed):
        raise not_found()
    shown = reads.topic_page(rt, topic=topic, page=_page_number(page))
    found, known = shown.found, shown.topic
    items = [
        {
            "id": article.id,
            "url": article.url or article.canonical_url or "",
            "title": article.title,
            "source": article.source,
            "published": format_date(article.published_at),
            "summary": article.summary,
        }
        for article in found.items
    ]
    keep = f"k={k}&" if signed else ""
    page_url: Callable[[int], str] = lambda number: f"?{keep}page={number}"  # noqa: E731
    back = f"/l/{mailing_list.slug}/archive" if mailing_list.archive_public else "/l/" + slug
    return render(
        request,
        "archive_topic.html.j2",
        _branding(rt, mailing_list)
        | {
            "topic_name": known.name if known is not None else topic,
            "page": {"rows": items, "page": found.page, "pages": found.pages},
            "page_url": page_url,
            "back_url": back,
            "title": f"{known.name if known else topic} · {mailing_list.name}",
        },
    )


@router.get("/l/{slug}/feed.xml")
def feed(request: Request, slug: str) -> Response:
    """The Atom feed of the list's latest issues."""
    rt = runtime(request)
    mailing_list = _public_list(request, slug)
    base = rt.settings.links.base_url
    latest = reads.latest_issues(rt, list_id=mailing_list.id or 0)
    entries = [
        FeedEntry(
            url=issue_url(base, mailing_list.slug, item.run_id),
            title=f"{mailing_list.name}, {format_date(item.published_at)}"
            + (f": {item.headlines[0]}" if item.headlines else ""),
            published=item.published_at,
            summary=f"{item.article_count} articles: " + "; ".join(item.headlines),
            content_html="<ul>"
            + "".join(f"<li>{escape(title)}</li>" for title in item.headlines)
            + "</ul>",
        )
        for item in latest
    ]
    info = FeedInfo(
        url=feed_url(base, mailing_list.slug),
        archive_url=archive_index_url(base, mailing_list.slug),
        title=mailing_list.name,
        subtitle=mailing_list.description,
        author=mailing_list.from_name or mailing_list.name,
        updated=mailing_list.created_at,
    )
    return Response(
        atom_feed(info, entries),
        media_type="application/atom+xml; charset=utf-8",
        headers=SECURITY_HEADERS,
    )


@router.get("/l/{slug}/help")
def list_help(request: Request, slug: str) -> Response:
    """What the list is and how to leave it (the target of List-Help)."""
    rt = runtime(request)
    mailing_list = list_or_404(request, slug)
    return render(request, "list_help.html.j2", _branding(rt, mailing_list))
