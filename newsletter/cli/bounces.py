"""``newsletter bounces process PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.bounces import process_mailbox
from newsletter.cli.context import console, runtime
from newsletter.db import session_scope

app = typer.Typer(help="Handle bounce messages (DSNs).", no_args_is_help=True)


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
            secret=settings.secret,
            local=settings.bounce_local_part,
            soft_limit=settings.soft_bounce_limit,
            now=rt.clock(),
        )
    console.print(
        f"{report.messages} message(s): {report.hard} hard bounce(s), {report.soft} soft, "
        f"{report.suppressed_after_soft} suppressed after repeated soft bounces, "
        f"{report.ignored} not bounces, {report.unmatched} unmatched",
        soft_wrap=True,
    )
