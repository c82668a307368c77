"""The ``newsletter`` command: sub-commands load on first use; errors become one line.

Every sub-command lives in its own module under ``newsletter/cli/`` and is only imported when
it runs: ``newsletter --help`` and light commands such as ``topics ls`` never load the web app,
the ML stack or the SMTP client (importing every module cost 1.5 s of CPU per command before).
``COMMANDS`` keeps each command's one-line help so ``--help`` can list them without importing
them; ``tests/unit/test_cli_startup.py`` checks the lines against the modules.
"""

from __future__ import annotations

import importlib
import sys
from difflib import get_close_matches
from typing import Any, NamedTuple

import typer

# typer 0.29 vendors click: its group and command classes are typer._click's, not click's.
from typer._click.core import Command, Context
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

from newsletter.cli.context import err_console
from newsletter.errors import NewsletterError
from subscribers.errors import SubscriberError


class Entry(NamedTuple):
    """Where a sub-command lives and the line ``--help`` shows for it."""

    module: str
    attribute: str
    help: str


# Plain commands first, then groups: the order ``--help`` has always listed them in.
COMMANDS: dict[str, Entry] = {
    "init": Entry(
        "newsletter.cli.config",
        "init",
        "Write a commented newsletter.toml with every setting and its default.",
    ),
    "ingest": Entry(
        "newsletter.cli.content",
        "ingest",
        "Ingest a feed, a JSON file or one article file; re-ingesting adds nothing.",
    ),
    "preview": Entry(
        "newsletter.cli.sending",
        "preview",
        "Write the HTML and text of a digest as it would be sent now.",
    ),
    "send": Entry(
        "newsletter.cli.sending",
        "send",
        "Send the list's digests now: one per subscriber with new articles in their topics.",
    ),
    "demo": Entry(
        "newsletter.cli.demo",
        "demo",
        "Seed a demo database and send digests through an embedded SMTP server into ./outbox.",
    ),
    "web": Entry(
        "newsletter.cli.web",
        "web",
        "Serve the subscriber pages and the /admin console with uvicorn.",
    ),
    "bench": Entry(
        "newsletter.cli.bench",
        "bench",
        "Build a temporary database and time one full digest send into an SMTP sink.",
    ),
    "config": Entry("newsletter.cli.config", "config_app", "Inspect the effective settings."),
    "db": Entry("newsletter.cli.database", "app", "Database schema and backups."),
    "articles": Entry("newsletter.cli.articles", "app", "Stored articles."),
    "feeds": Entry("newsletter.cli.feeds", "app", "Feeds fetched into the article store."),
    "topics": Entry("newsletter.cli.content", "topics_app", "Topics articles are tagged with."),
    "lists": Entry("newsletter.cli.lists", "lists_app", "Mailing lists."),
    "subscribers": Entry("newsletter.cli.subscribers", "subscribers_app", "Subscribers."),
    "suppressions": Entry(
        "newsletter.cli.suppressions", "suppressions_app", "The suppression list."
    ),
    "schedule": Entry(
        "newsletter.cli.schedule", "app", "The scheduler: one-off sends, status, the daemon."
    ),
    "runs": Entry("newsletter.cli.runs", "app", "Inspect and steer digest runs."),
    "bounces": Entry("newsletter.cli.bounces", "app", "Handle bounce messages (DSNs)."),
    "unsubscribes": Entry(
        "newsletter.cli.bounces",
        "unsubscribes_app",
        "Handle mails to the List-Unsubscribe mailto address.",
    ),
    "users": Entry("newsletter.cli.web", "users_app", "Accounts of the admin and editor console."),
    "tokens": Entry(
        "newsletter.cli.access", "tokens_app", "HTTP API tokens (one per script or tool)."
    ),
    "webhooks": Entry(
        "newsletter.cli.access", "webhooks_app", "Outgoing webhooks (signed event notifications)."
    ),
    "complaints": Entry(
        "newsletter.cli.access", "complaints_app", "Complaint reports (ARF, RFC 5965)."
    ),
    "dkim": Entry(
        "newsletter.cli.dkim", "app", "DKIM keys: generate one, print the DNS records to publish."
    ),
}


def load_command(name: str) -> Command:
    """Import the module of sub-command ``name`` and build its click command."""
    entry = COMMANDS[name]
    target: Any = getattr(importlib.import_module(entry.module), entry.attribute)
    command: Command
    if isinstance(target, typer.Typer):
        # a group even with one sub-command, as ``add_typer`` would make it
        command = typer.main.get_group(target)
    else:
        single = typer.Typer()
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """A root group that imports a sub-command's module only when that sub-command runs."""

    def list_commands(self, ctx: Context) -> list[str]:
        """Every sub-command, in the order of ``COMMANDS``."""
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        """The loaded command, or a stand-in carrying its help line (for ``--help`` listings)."""
        loaded = super().get_command(ctx, cmd_name)
        if loaded is not None or cmd_name not in COMMANDS:
            return loaded
        return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help)

    def resolve_command(
        self, ctx: Context, args: list[str]
    ) -> tuple[str | None, Command | None, list[str]]:
        """Load the real command before click looks it up to run it."""
        if args and args[0] in COMMANDS and args[0] not in self.commands:
            self.commands[args[0]] = load_command(args[0])
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # typer suggests from the loaded commands only; suggest from every command
            matches = get_close_matches(args[0], list(COMMANDS)) if args else []
            if matches and "Did you mean" not in exc.message:
                names = ", ".join(repr(match) for match in matches)
                exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise


app = typer.Typer(
    name="newsletter",
    help="Self-hosted, topic-personalised email digests.",
    cls=LazyGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    invoke_without_command=False,
)


@app.callback()
def root() -> None:
    """Self-hosted, topic-personalised email digests."""


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
