"""``newsletter feeds``: the feeds to fetch, their state, and fetching them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.context import console, err_console, runtime
from newsletter.operations import feeds as operations
from newsletter.operations.feeds import FetchStatus

app = typer.Typer(help="Feeds fetched into the article store.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    url: Annotated[str, typer.Argument(help="Feed URL (RSS or Atom).")],
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="Topic every entry gets.")
    ] = None,
    name: Annotated[str, typer.Option(help="Display name (default: the feed's title).")] = "",
) -> None:
    """Add a feed; its topics must exist (newsletter topics add)."""
    feed = operations.register_feed(runtime(ctx), url=url, topics=topic or [], name=name)
    console.print(f"feed {feed.id} added: {url} (topics: {', '.join(feed.topics) or 'none'})")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


@app.command("ls")
def list_all(ctx: typer.Context) -> None:
    """List feeds with their last success, last error and article count."""
    feeds = operations.feeds(runtime(ctx))
    table = Table("id", "name", "url", "topics", "last success", "last error", "articles")
    for feed in feeds:
        error = f"{_when(feed.last_error_at)} {feed.last_error}" if feed.last_error else "-"
        table.add_row(
            str(feed.id),
            feed.name or "-",
            feed.url,
            ", ".join(feed.topics) or "-",
            _when(feed.last_success_at),
            error,
            str(feed.article_count),
        )
    console.print(table)
    console.print(f"{len(feeds)} feed(s)")


@app.command("remove")
def remove_command(
    ctx: typer.Context,
    feed: Annotated[str, typer.Argument(help="Feed id or URL.")],
) -> None:
    """Stop fetching a feed; the articles it brought stay."""
    removed = operations.forget_feed(runtime(ctx), ref=feed)
    console.print(f"feed {removed.id} removed: {removed.url}")


@app.command("fetch")
def fetch_command(
    ctx: typer.Context,
    feed: Annotated[str | None, typer.Argument(help="Feed id or URL (default: all).")] = None,
    all_feeds: Annotated[bool, typer.Option("--all", help="Fetch every feed.")] = False,
) -> None:
    """Fetch one feed or all of them; one failing feed never stops the others."""
    rt = runtime(ctx)
    if feed is not None and all_feeds:
        raise typer.BadParameter("give a feed or --all, not both")
    results = [operations.fetch_one(rt, ref=feed)] if feed else operations.fetch_all(rt)
    for result in results:
        if result.status is FetchStatus.FAILED:
            err_console.print(f"{result.url}: failed: {result.error}", markup=False, soft_wrap=True)
        elif result.status is FetchStatus.NOT_MODIFIED:
            console.print(f"{result.url}: not modified", markup=False, soft_wrap=True)
        else:
            classified = (
                f", {result.classified} tagged by the classifier" if result.classified else ""
            )
            note = f" ({result.note})" if result.note else ""
            console.print(
                f"{result.url}: {result.added} added, {result.duplicates} already stored"
                f"{classified}{note}",
                markup=False,
                soft_wrap=True,
            )
    failed = sum(r.status is FetchStatus.FAILED for r in results)
    if not results:
        console.print("no feeds (add one: newsletter feeds add URL --topic T)")
    # A single feed that failed is a failed command; with several, failures are reported.
    if failed and (feed is not None or failed == len(results)):
        raise typer.Exit(1)
