"""``newsletter ingest`` and ``topics``: content in, topics managed and learnt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func
from sqlmodel import col, select

from newsletter.cli.context import console, runtime
from newsletter.content.parsed import parse_published
from newsletter.db import session_scope
from newsletter.errors import IngestError
from newsletter.models import ArticleTopic, Topic, TopicOrigin

topics_app = typer.Typer(help="Topics articles are tagged with.", no_args_is_help=True)


def _published(target: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = parse_published(value)
    if moment is None:
        raise IngestError(target, f"--published {value!r} is not a date (use 2026-11-25T08:00Z)")
    return moment


def ingest(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="Feed URL or file: RSS, Atom, JSON, .txt, .html or .md.")
    ],
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Topic to tag with.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="The article's URL (article files; wins over the page's).")
    ] = None,
    published: Annotated[
        str | None, typer.Option(help="Publication time, ISO 8601 (article files).")
    ] = None,
) -> None:
    """Ingest a feed, a JSON file or one article file; re-ingesting adds nothing."""
    from newsletter.content.articlefile import Overrides  # the parsers load trafilatura, lxml
    from newsletter.content.sources import load_drafts
    from newsletter.content.store import store_drafts
    from newsletter.content.topic_model import load_tagging

    rt = runtime(ctx)
    if url is not None and not url.startswith(("http://", "https://")):
        raise IngestError(target, f"--url {url!r} must start with http:// or https://")
    overrides = Overrides(url=url, published_at=_published(target, published))
    drafts = load_drafts(target, overrides=overrides)
    tagging = load_tagging(rt.settings)
    with session_scope(rt.engine) as session:
        result = store_drafts(
            session,
            drafts,
            topics=topic or [],
            now=rt.clock(),
            source=target,
            tagging=tagging,
            origin=TopicOrigin.MANUAL if len(drafts) == 1 and topic else TopicOrigin.FEED,
        )
    classified = f", {result.classified} tagged by the classifier" if result.classified else ""
    console.print(
        f"{target}: {result.added} added, {result.duplicates} already stored "
        f"({len(drafts)} in input){classified}",
        markup=False,
        soft_wrap=True,
    )


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


@topics_app.command("train")
def train_command(
    ctx: typer.Context,
    labelled: Annotated[
        Path | None,
        typer.Option(help="CSV with 'topic' and 'text' columns (default: stored articles)."),
    ] = None,
) -> None:
    """Train the topic classifier and save it where ingest looks for it."""
    from newsletter.content.topic_model import read_csv, stored_examples, train

    rt = runtime(ctx)
    if labelled is not None:
        texts, labels = read_csv(labelled)
        origin = str(labelled)
    else:
        with session_scope(rt.engine) as session:
            texts, labels = stored_examples(session)
        origin = "stored articles"
    report = train(texts, labels, path=rt.settings.content.topic_model_file)
    counts = ", ".join(f"{topic} {n}" for topic, n in sorted(report.per_topic.items()))
    console.print(
        f"trained on {report.examples} examples from {origin} ({counts}); saved {report.path}",
        markup=False,
        soft_wrap=True,
    )


@topics_app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    labelled: Annotated[Path, typer.Argument(help="CSV with 'topic' and 'text' columns.")],
) -> None:
    """Print per-topic precision and recall and the macro-F1 of the current model."""
    from newsletter.content.topic_model import evaluate_csv

    rt = runtime(ctx)
    evaluation = evaluate_csv(rt.settings, labelled)
    table = Table("topic", "precision", "recall", "f1", "support")
    for score in evaluation.per_topic:
        table.add_row(
            score.topic,
            f"{score.precision:.3f}",
            f"{score.recall:.3f}",
            f"{score.f1:.3f}",
            str(score.support),
        )
    console.print(table)
    console.print(f"accuracy {evaluation.accuracy:.3f} on {evaluation.support} articles")
    console.print(f"macro-F1 {evaluation.macro_f1:.3f}")
