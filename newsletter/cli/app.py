"""The ``newsletter`` command: sub-apps are registered here; errors become one line."""

from __future__ import annotations

import sys

import typer

from newsletter.cli import (
    access,
    articles,
    bench,
    bounces,
    content,
    database,
    demo,
    feeds,
    lists,
    runs,
    schedule,
    sending,
    subscribers,
    suppressions,
    web,
)
from newsletter.cli.context import err_console
from newsletter.errors import NewsletterError
from subscribers.errors import SubscriberError

app = typer.Typer(
    name="newsletter",
    help="Self-hosted, topic-personalised email digests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(database.app, name="db")
app.add_typer(articles.app, name="articles")
app.add_typer(feeds.app, name="feeds")
app.add_typer(content.topics_app, name="topics")
app.add_typer(lists.lists_app, name="lists")
app.add_typer(subscribers.subscribers_app, name="subscribers")
app.add_typer(suppressions.suppressions_app, name="suppressions")
app.add_typer(schedule.app, name="schedule")
app.add_typer(runs.app, name="runs")
app.add_typer(bounces.app, name="bounces")
app.add_typer(bounces.unsubscribes_app, name="unsubscribes")
app.command("ingest")(content.ingest)
app.command("preview")(sending.preview)
app.command("send")(sending.send)
app.command("demo")(demo.demo)
app.command("web")(web.web)
app.add_typer(web.users_app, name="users")
app.command("bench")(bench.bench)
app.add_typer(access.tokens_app, name="tokens")
app.add_typer(access.webhooks_app, name="webhooks")
app.add_typer(access.complaints_app, name="complaints")


def main() -> None:
    """Run the CLI; a user mistake prints one line and exits non-zero, never a traceback."""
    try:
        app()
    except (NewsletterError, SubscriberError) as exc:
        err_console.print(f"error: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
