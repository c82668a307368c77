"""``newsletter articles``: list, show, search and curate stored articles."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from newsletter.cli.context import console, runtime
from newsletter.models import Article
from newsletter.operations import articles as operations

app = typer.Typer(help="Stored articles.", no_args_is_help=True)

ArticleId = Annotated[int, typer.Argument(help="Article id (see: newsletter articles ls).")]


def _row(article: Article, topics: list[str]) -> dict[str, Any]:
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "summary": article.summary,
        "body_text": article.body_text,
        "topics": sorted(topics),
        "published_at": article.published_at.isoformat(),
        "source": article.source,
        "author": article.author,
        "language": article.language,
        "image_url": article.image_url,
        "pinned": article.pinned,
        "excluded": article.excluded,
    }


@app.command("ls")
def list_articles(
    ctx: typer.Context,
    topic: Annotated[str | None, typer.Option(help="Only this topic.")] = None,
    search: Annotated[str | None, typer.Option(help="Only articles containing this text.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    offset: Annotated[int, typer.Option(help="Skip this many first.")] = 0,
) -> None:
    """List stored articles, newest first."""
    listed = operations.listed_articles(
        runtime(ctx), text=search, topic=topic, limit=limit, offset=offset
    )
    if as_json:
        rows = [_row(a, topics) for a, topics in listed]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("id", "published", "topics", "title", "source", "flags")
    for a, topics in listed:
        flags = " ".join(f for f, on in (("pinned", a.pinned), ("excluded", a.excluded)) if on)
        table.add_row(
            str(a.id),
            f"{a.published_at:%Y-%m-%d %H:%M}",
            ", ".join(sorted(topics)),
            a.title,
            a.source,
            flags,
        )
    console.print(table)
    console.print(f"{len(listed)} article(s)")


@app.command("show")
def show(
    ctx: typer.Context,
    article_id: ArticleId,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one article: its fields, topics (with origin) and cleaned text."""
    article, tags = operations.article_detail(runtime(ctx), article_id=article_id)
    if as_json:
        row = _row(article, [t.topic for t in tags])
        row["topics"] = [
            {"topic": t.topic, "origin": t.origin, "confidence": t.confidence} for t in tags
        ]
        row["body_html"] = article.body_html
        typer.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    tag_text = ", ".join(
        f"{t.topic} ({t.origin}{f' {t.confidence:.2f}' if t.confidence is not None else ''})"
        for t in tags
    )
    out = console.print
    out(f"[bold]{article.title}[/bold]", highlight=False)
    for label, value in (
        ("id", article.id),
        ("url", article.url),
        ("published", f"{article.published_at:%Y-%m-%d %H:%M} UTC"),
        ("source", article.source),
        ("author", article.author),
        ("language", article.language),
        ("topics", tag_text or "none"),
        ("pinned", article.pinned),
        ("excluded", article.excluded),
        ("summary", article.summary),
    ):
        out(f"{label}: {value if value is not None else '-'}", markup=False)
    out("")
    out(article.body_text, markup=False)


def _flag(ctx: typer.Context, article_id: int, action: str) -> None:
    if action in ("pinned", "unpinned"):
        operations.set_flags(runtime(ctx), article_id=article_id, pinned=action == "pinned")
    else:
        operations.set_flags(runtime(ctx), article_id=article_id, excluded=action == "excluded")
    console.print(f"article {article_id} {action}")


@app.command("pin")
def pin_command(ctx: typer.Context, article_id: ArticleId) -> None:
    """Pin an article: digests of its topics offer it even when it is older."""
    _flag(ctx, article_id, "pinned")


@app.command("unpin")
def unpin_command(ctx: typer.Context, article_id: ArticleId) -> None:
    """Unpin an article."""
    _flag(ctx, article_id, "unpinned")


@app.command("exclude")
def exclude_command(ctx: typer.Context, article_id: ArticleId) -> None:
    """Keep an article out of every digest."""
    _flag(ctx, article_id, "excluded")


@app.command("include")
def include_command(ctx: typer.Context, article_id: ArticleId) -> None:
    """Let an excluded article back into digests."""
    _flag(ctx, article_id, "included")


@app.command("tag")
def tag_command(
    ctx: typer.Context,
    article_id: ArticleId,
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Topic (repeat; none clears).")
    ] = None,
) -> None:
    """Replace an article's topics by the ones given (recorded as manual)."""
    slugs = operations.retag(runtime(ctx), article_id=article_id, topics=topic or [])
    console.print(f"article {article_id} topics: {', '.join(slugs) or 'none'}")
