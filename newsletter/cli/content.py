"""``newsletter ingest`` and ``topics``: content in, topics managed and learnt."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.context import console, runtime
from newsletter.content.parsed import parse_published
from newsletter.errors import IngestError
from newsletter.operations import topics

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
    from newsletter.operations.articles import ingest_source

    if url is not None and not url.startswith(("http://", "https://")):
        raise IngestError(target, f"--url {url!r} must start with http:// or https://")
    overrides = Overrides(url=url, published_at=_published(target, published))
    result, count = ingest_source(
        runtime(ctx), target=target, topics=topic or [], overrides=overrides
    )
    classified = f", {result.classified} tagged by the classifier" if result.classified else ""
    console.print(
        f"{target}: {result.added} added, {result.duplicates} already stored "
        f"({count} in input){classified}",
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
    try:
        slug = topics.check_slug(slug)
    except topics.TopicError as refused:
        hint = "use letters, digits, - and _ only"
        raise typer.BadParameter(hint, param_hint="SLUG") from refused
    created = topics.ensure_topic(runtime(ctx), slug=slug, name=name or "")
    console.print(f"topic {slug} {'created' if created else 'already exists'}")


@topics_app.command("ls")
def list_topics(ctx: typer.Context) -> None:
    """List topics with their article counts."""
    table = Table("topic", "name", "articles")
    for row in topics.topics_with_counts(runtime(ctx)):
        table.add_row(row.slug, row.name, str(row.articles))
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
    from newsletter.operations.topics import train_model

    report = train_model(runtime(ctx), labelled=labelled)
    origin = str(labelled) if labelled is not None else "stored articles"
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
