"""Turn stored digests into rendered views and message templates (database reads + pure calls).

A digest carries its list's brand, and the editor's note and lead story of its run
(``newsletter.publish.editorial.note_for_run``: an issue run takes the pending note).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from urllib.parse import urlsplit

from jinja2 import Environment
from sqlmodel import Session, col, select

from newsletter.digest.links import archive_url
from newsletter.digest.message import MessageTemplate, Sender, build_template
from newsletter.digest.render import (
    ArticleView,
    DigestView,
    RenderedDigest,
    format_date,
    render_digest,
    sections_with_topics,
)
from newsletter.models import Article, Digest, IssueNote, Run, Topic
from newsletter.publish.brand import Brand
from newsletter.publish.editorial import note_for_run, pending_note
from newsletter.publish.lang import article_lang
from newsletter.publish.mailparts import list_headers, list_id_for
from newsletter.publish.notes import note_html
from newsletter.publish.urls import archive_index_url, list_url, topic_url
from subscribers.models import MailingList

#: ``digest_view`` shows the list's pending note unless it is given the run's own.
PENDING: Final = "pending"


@dataclass(frozen=True)
class LinkSettings:
    """What link building needs from the settings."""

    base_url: str
    secret: bytes


def sender_of(mailing_list: MailingList, *, base_url: str = "") -> Sender:
    """The sender identity of a list; with ``base_url``, the RFC 2369 headers naming its help,
    sign-up and (when public) archive pages."""
    domain = mailing_list.from_address.rsplit("@", 1)[1]
    pages = (
        list_headers(
            base_url=base_url, slug=mailing_list.slug, archive_public=mailing_list.archive_public
        )
        if base_url
        else ()
    )
    return Sender(
        name=mailing_list.from_name,
        address=mailing_list.from_address,
        reply_to=mailing_list.reply_to,
        list_id=list_id_for(mailing_list.slug, domain),
        list_name=mailing_list.name,
        list_headers=pages,
    )


def brand_of(mailing_list: MailingList) -> Brand:
    """The brand a list's digests and archive pages show."""
    return Brand(
        name=mailing_list.name,
        accent=mailing_list.accent_color,
        logo_url=mailing_list.logo_url or "",
        footer_text=mailing_list.footer_text,
        postal_address=mailing_list.postal_address,
        show_images=mailing_list.show_images,
    )


def https_image(url: str | None) -> str:
    """``url`` when it is an absolute https address, else "" (no http, data: or relative)."""
    if not url:
        return ""
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme == "https" and parts.netloc else ""


def article_view(article: Article, fallback_url: str) -> ArticleView:
    """What a template shows of one stored article."""
    return ArticleView(
        title=article.title,
        url=article.url or article.canonical_url or fallback_url,
        summary=article.summary,
        source=article.source,
        published=format_date(article.published_at),
        image_url=https_image(article.image_url),
        lang=article_lang(article.language, f"{article.title} {article.summary}"),
    )


def digest_view(
    session: Session,
    *,
    mailing_list: MailingList,
    sections: Sequence[tuple[str, Sequence[int]]],
    view_url: str,
    note: IssueNote | None | str = PENDING,
    links: LinkSettings | None = None,
    more: Mapping[str, Sequence[int]] | None = None,
) -> DigestView:
    """Load the articles of ``sections`` and build the view the templates render.

    ``note`` is the run's note (or None); by default the list's pending note is shown, as a
    preview. With ``links`` the sections link to the list's topic pages and the footer to
    the archive (when public)."""
    if note == PENDING:
        note = pending_note(session, list_id=mailing_list.id or 0)
    issue_note = note if isinstance(note, IssueNote) else None
    lead_id = issue_note.lead_article_id if issue_note is not None else None
    ids = [article_id for _, article_ids in sections for article_id in article_ids]
    articles = {
        article.id: article
        for article in session.exec(
            select(Article).where(col(Article.id).in_([*ids, *([lead_id] if lead_id else [])]))
        )
    }
    names = {topic.slug: topic.name for topic in session.exec(select(Topic))}
    left_out = {topic: len(ids) for topic, ids in (more or {}).items() if ids}
    built = []
    for topic, article_ids in [*sections, *((t, ()) for t in left_out if t not in dict(sections))]:
        views = [
            article_view(articles[article_id], view_url)
            for article_id in article_ids
            if article_id in articles and article_id != lead_id  # deleted since planned
        ]
        if views or topic in left_out:
            built.append((topic, views))
    lead = articles.get(lead_id) if lead_id else None
    markdown = issue_note.note_markdown if issue_note is not None else ""
    slug = mailing_list.slug
    topic_urls = (
        {topic: topic_url(links.base_url, links.secret, slug, topic) for topic, _ in built}
        if links is not None
        else {}
    )
    public = links is not None and mailing_list.archive_public
    return DigestView(
        list_name=mailing_list.name,
        sender_name=mailing_list.from_name,
        sender_address=mailing_list.from_address,
        sections=sections_with_topics(built, names, topic_urls, left_out),
        view_url=view_url,
        brand=brand_of(mailing_list),
        note_html=note_html(markdown),
        note_text=markdown,
        lead=article_view(lead, view_url) if lead is not None and not lead.excluded else None,
        subscribe_url=list_url(links.base_url, slug) if links is not None else "",
        archive_url=archive_index_url(links.base_url, slug) if links is not None and public else "",
    )


def render_stored_digest(
    session: Session,
    env: Environment,
    *,
    digest: Digest,
    mailing_list: MailingList,
    links: LinkSettings,
) -> RenderedDigest:
    """Render a stored digest (one premailer call)."""
    if digest.id is None:
        raise ValueError("digest has no id")
    run = session.get(Run, digest.run_id)
    view = digest_view(
        session,
        mailing_list=mailing_list,
        sections=[(topic, ids) for topic, ids in digest.sections],
        view_url=archive_url(base_url=links.base_url, secret=links.secret, digest_id=digest.id),
        note=note_for_run(session, run) if run is not None else None,
        links=links,
        more=digest.more,
    )
    return render_digest(env, view)


def template_for_digest(
    session: Session,
    env: Environment,
    *,
    digest_id: int,
    links: LinkSettings,
    now: datetime,
) -> tuple[MessageTemplate, RenderedDigest]:
    """Render a stored digest once and build its message template."""
    digest = session.get(Digest, digest_id)
    if digest is None:
        raise LookupError(f"digest {digest_id} is gone")
    run = session.get(Run, digest.run_id)
    mailing_list = session.get(MailingList, run.list_id) if run else None
    if mailing_list is None:
        raise LookupError(f"list of digest {digest_id} is gone")
    rendered = render_stored_digest(
        session, env, digest=digest, mailing_list=mailing_list, links=links
    )
    sender = sender_of(mailing_list, base_url=links.base_url)
    return build_template(rendered, sender, date=now), rendered
