"""``newsletter bounces process PATH`` and ``newsletter unsubscribes process PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console, runtime
from newsletter.db import session_scope
from newsletter.inbound.bounces import process_mailbox
from newsletter.inbound.mailto_unsubscribes import process_unsubscribe_mailbox

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
    rt = runtime(ctx)
    settings = rt.settings
    with session_scope(rt.engine) as session:
        report = process_mailbox(
            session,
            path,
            secret=settings.links.secret,
            local=settings.inbound.bounce_local_part,
            soft_limit=settings.inbound.soft_bounce_limit,
            now=rt.clock(),
        )
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
    rt = runtime(ctx)
    with session_scope(rt.engine) as session:
        report = process_unsubscribe_mailbox(
            session, path, secret=rt.settings.links.secret, now=rt.clock()
        )
    console.print(
        f"{report.messages} message(s): {report.unsubscribed} unsubscribed, "
        f"{report.already} already unsubscribed, {report.invalid} with an invalid token, "
        f"{report.ignored} not unsubscribe requests"
    )
