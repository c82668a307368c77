"""Turn stored digests into rendered views and message templates (database reads + pure calls)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment
from sqlmodel import Session, col, select

from newsletter.links import archive_url
from newsletter.message import MessageTemplate, Sender, build_template
from newsletter.models import Article, Digest, Topic
from newsletter.render import (
    ArticleView,
    DigestView,
    RenderedDigest,
    format_date,
    render_digest,
    sections_with_topics,
)
from subscribers.models import MailingList


@dataclass(frozen=True)
class LinkSettings:
    """What link building needs from the settings."""

    base_url: str
    secret: bytes


def sender_of(mailing_list: MailingList) -> Sender:
    """The sender identity of a list."""
    domain = mailing_list.from_address.rsplit("@", 1)[1]
    return Sender(
        name=mailing_list.from_name,
        address=mailing_list.from_address,
        reply_to=mailing_list.reply_to,
        list_id=f"{mailing_list.slug}.{domain}",
        list_name=mailing_list.name,
    )


def digest_view(
    session: Session,
    *,
    mailing_list: MailingList,
    sections: Sequence[tuple[str, Sequence[int]]],
    view_url: str,
) -> DigestView:
    """Load the articles of ``sections`` and build the view the templates render."""
    ids = [article_id for _, article_ids in sections for article_id in article_ids]
    articles = {
        article.id: article
        for article in session.exec(select(Article).where(col(Article.id).in_(ids)))
    }
    names = {topic.slug: topic.name for topic in session.exec(select(Topic))}
    built = []
    for topic, article_ids in sections:
        views = []
        for article_id in article_ids:
            article = articles.get(article_id)
            if article is None:
                continue  # deleted since the run was planned
            views.append(
                ArticleView(
                    title=article.title,
                    url=article.url or article.canonical_url or view_url,
                    summary=article.summary,
                    source=article.source,
                    published=format_date(article.published_at),
                )
            )
        if views:
            built.append((topic, views))
    return DigestView(
        list_name=mailing_list.name,
        sender_name=mailing_list.from_name,
        sender_address=mailing_list.from_address,
        sections=sections_with_topics(built, names),
        view_url=view_url,
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
    view = digest_view(
        session,
        mailing_list=mailing_list,
        sections=[(topic, ids) for topic, ids in digest.sections],
        view_url=archive_url(base_url=links.base_url, secret=links.secret, digest_id=digest.id),
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
    from newsletter.models import Run

    run = session.get(Run, digest.run_id)
    mailing_list = session.get(MailingList, run.list_id) if run else None
    if mailing_list is None:
        raise LookupError(f"list of digest {digest_id} is gone")
    rendered = render_stored_digest(
        session, env, digest=digest, mailing_list=mailing_list, links=links
    )
    return build_template(rendered, sender_of(mailing_list), date=now), rendered
