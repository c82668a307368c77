"""``newsletter demo``: everything on embedded defaults, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console
from newsletter.config import load_settings
from newsletter.demo import run_demo


def demo(
    workdir: Annotated[
        Path, typer.Option(help="Where demo.db, outbox/ and preview/ go (reset each time).")
    ] = Path("."),
) -> None:
    """Seed a demo database and send digests through an embedded SMTP server into ./outbox."""
    result = run_demo(load_settings(), workdir=workdir.resolve())
    console.print(f"embedded SMTP server was at {result.smtp_address}")
    console.print(f"run {result.run_id}: {result.sent} digest(s) sent, {result.skipped} skipped")
    console.print("received messages (Maildir):")
    for path in result.messages:
        console.print(f"  {path}")
    console.print(f"preview of alice@example.com's digest: {result.preview}")
    console.print(
        f"explore further with: NEWSLETTER_DATABASE_URL=sqlite:///{workdir.resolve() / 'demo.db'} newsletter --help"
    )
