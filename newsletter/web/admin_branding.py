"""Console: a list's branding (admins) and its next issue's note and lead story (editors)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from newsletter.digest.compose import brand_of
from newsletter.operations import lists as lists_ops
from newsletter.publish import editorial
from newsletter.publish.notes import note_html
from newsletter.web.deps import (
    Account,
    form_with_csrf,
    list_or_404,
    redirect_to,
    render,
    require_admin,
    require_editor,
    runtime,
)
from subscribers.errors import SubscriberError

router = APIRouter(prefix="/admin")


def _page_url(slug: str) -> str:
    return f"/admin/lists/{slug}/issue"


@router.get("/lists/{slug}/issue")
def branding_page(
    request: Request, slug: str, account: Account = Depends(require_editor)
) -> Response:
    """The next issue's note and lead story; for admins also the list's branding."""
    mailing_list = list_or_404(request, slug)
    next_up = lists_ops.next_issue(runtime(request), list_id=mailing_list.id or 0)
    brand = brand_of(mailing_list)
    return render(
        request,
        "list_branding.html.j2",
        {
            "title": f"{mailing_list.name}: branding and next issue",
            "edit": mailing_list,
            "next_up": next_up,
            "note_preview": note_html(next_up.note_markdown),
            "accent_light": brand.accent_light,
            "accent_dark": brand.accent_dark,
        },
    )


@router.post("/lists/{slug}/issue")
async def save_next_issue(
    request: Request, slug: str, account: Account = Depends(require_editor)
) -> Response:
    """Save the next issue's note (Markdown, sanitised when rendered) and lead story."""
    form = await form_with_csrf(request, account)
    mailing_list = list_or_404(request, slug)
    lead_text = form.get("lead_article_id", "").strip()
    # ASCII digits that fit a 64-bit id: int() refuses some other digits ("²"), the database
    # a bigger number
    if lead_text and not (lead_text.isascii() and lead_text.isdigit() and len(lead_text) <= 18):
        return redirect_to(_page_url(slug), notice="The lead story must be an article id.")
    try:
        lists_ops.set_note(
            runtime(request),
            slug=mailing_list.slug,
            note=form.get("note", ""),
            lead_article_id=int(lead_text) if lead_text else None,
            clear_lead=not lead_text,
        )
    except editorial.EditorialError as exc:
        return redirect_to(_page_url(slug), notice=str(exc))
    return redirect_to(_page_url(slug), notice="Saved for the next issue")


@router.post("/lists/{slug}/branding")
async def save_branding(
    request: Request, slug: str, account: Account = Depends(require_admin)
) -> Response:
    """Save the list's name, logo, accent colour, footer, postal address and archive switch."""
    form = await form_with_csrf(request, account)
    name = form.get("name", "").strip()
    try:
        result = lists_ops.update(
            runtime(request),
            slug=slug,
            name=name or None,
            reply_to=form.get("reply_to", ""),
            description=form.get("description", ""),
            logo_url=form.get("logo_url", ""),
            accent_color=form.get("accent_color", ""),
            footer_text=form.get("footer_text", ""),
            postal_address=form.get("postal_address", ""),
            archive_public=form.get("archive_public") == "on",
            show_images=form.get("show_images") == "on",
        )
    except SubscriberError as exc:
        return redirect_to(_page_url(slug), notice=str(exc))
    changed = ", ".join(result.changed)
    return redirect_to(_page_url(slug), notice=f"Saved ({changed})" if changed else "No change")
