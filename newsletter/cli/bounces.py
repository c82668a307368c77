"""``newsletter bounces process PATH`` and ``newsletter unsubscribes process PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console, runtime
from newsletter.inbound import mailboxes

app = typer.Typer(help="Handle bounce messages (DSNs).", no_args_is_help=True)
unsubscribes_app = typer.Typer(
    help="Handle mails to the List-Unsubscribe mailto address.", no_args_is_help=True
)


@app.command("process")
def process(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A Maildir folder or an mbox file.")],
) -> None:
    """Apply the bounces in a Maildir or mbox: hard ones suppress, soft ones are counted."""
    report = mailboxes.process_bounces(runtime(ctx), path)
    console.print(
        f"{report.messages} message(s): {report.hard} hard bounce(s), {report.soft} soft, "
        f"{report.suppressed_after_soft} suppressed after repeated soft bounces, "
        f"{report.ignored} not bounces, {report.unmatched} unmatched",
        soft_wrap=True,
    )


@unsubscribes_app.command("process")
def process_unsubscribes(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A Maildir folder or an mbox file.")],
) -> None:
    """Unsubscribe everyone who mailed an unsubscribe+TOKEN address (RFC 2369 mailto)."""
    report = mailboxes.process_unsubscribes(runtime(ctx), path)
    console.print(
        f"{report.messages} message(s): {report.unsubscribed} unsubscribed, "
        f"{report.already} already unsubscribed, {report.invalid} with an invalid token, "
        f"{report.ignored} not unsubscribe requests"
    )
