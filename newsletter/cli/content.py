"""``newsletter ingest``, ``articles`` and ``topics``: content in, content listed."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from sqlmodel import col, select

from newsletter.cli.context import console, runtime
from newsletter.db import session_scope
from newsletter.ingest.sources import load_drafts
from newsletter.ingest.store import store_drafts, topics_of
from newsletter.models import Article, ArticleTopic, Topic

articles_app = typer.Typer(help="Stored articles.", no_args_is_help=True)
topics_app = typer.Typer(help="Topics articles are tagged with.", no_args_is_help=True)


def ingest(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Feed URL or file (RSS, Atom, JSON).")],
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Topic to tag with.")
    ] = None,
) -> None:
    """Ingest a feed or a JSON file of articles; re-ingesting adds nothing."""
    rt = runtime(ctx)
    drafts = load_drafts(target)
    with session_scope(rt.engine) as session:
        result = store_drafts(session, drafts, topics=topic or [], now=rt.clock(), source=target)
    console.print(
        f"{target}: {result.added} added, {result.duplicates} already stored "
        f"({len(drafts)} in input)"
    )


@articles_app.command("ls")
def list_articles(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
) -> None:
    """List stored articles, newest first."""
    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        query = select(Article).order_by(col(Article.published_at).desc()).limit(limit)
        if topic:
            query = query.join(ArticleTopic).where(ArticleTopic.topic == topic.lower())
        articles = list(session.exec(query))
        topics = topics_of(session, [a.id for a in articles if a.id is not None])
    if as_json:
        rows = [
            {
                "id": a.id,
                "title": a.title,
                "url": a.url,
                "summary": a.summary,
                "body_text": a.body_text,
                "topics": sorted(topics.get(a.id or 0, [])),
                "published_at": a.published_at.isoformat(),
                "source": a.source,
            }
            for a in articles
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "published", "topics", "title", "source")
    for a in articles:
        table.add_row(
            str(a.id),
            f"{a.published_at:%Y-%m-%d %H:%M}",
            ", ".join(sorted(topics.get(a.id or 0, []))),
            a.title,
            a.source,
        )
    console.print(table)
    console.print(f"{len(articles)} article(s)")


@topics_app.command("add")
def add_topic(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Short name, e.g. tech.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
) -> None:
    """Create a topic (idempotent)."""
    rt = runtime(ctx)
    slug = slug.strip().lower()
    if not slug or not all(ch.isalnum() or ch in "-_" for ch in slug):
        raise typer.BadParameter("use letters, digits, - and _ only", param_hint="SLUG")
    with session_scope(rt.engine) as session:
        if session.get(Topic, slug) is None:
            session.add(
                Topic(slug=slug, name=name or slug.replace("-", " ").title(), created_at=rt.clock())
            )
            console.print(f"topic {slug} created")
        else:
            console.print(f"topic {slug} already exists")


@topics_app.command("ls")
def list_topics(ctx: typer.Context) -> None:
    """List topics with their article counts."""
    from sqlalchemy import func

    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        counts = dict(
            session.exec(
                select(ArticleTopic.topic, func.count()).group_by(col(ArticleTopic.topic))
            ).all()
        )
        topics = list(session.exec(select(Topic).order_by(col(Topic.slug))))
    table = Table("topic", "name", "articles")
    for t in topics:
        table.add_row(t.slug, t.name, str(counts.get(t.slug, 0)))
    console.print(table)
