"""``newsletter demo``: everything on embedded defaults, in one command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console
from newsletter.config import load_settings
from newsletter.demo import DemoLogin, run_demo, serve_demo


def demo(
    workdir: Annotated[
        Path, typer.Option(help="Where demo.db, outbox/ and preview/ go (reset each time).")
    ] = Path("."),
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the web app until Ctrl-C.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address the web app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the web app listens on.")] = 8000,
) -> None:
    """Seed a demo database and send digests through an embedded SMTP server into ./outbox."""
    settings = load_settings()
    if serve:  # the digests' links must point at the server we are about to start
        settings = settings.model_copy(update={"base_url": f"http://{host}:{port}"})
    result = run_demo(settings, workdir=workdir.resolve())
    console.print(f"embedded SMTP server was at {result.smtp_address}")
    console.print(f"run {result.run_id}: {result.sent} digest(s) sent, {result.skipped} skipped")
    console.print("received messages (Maildir):")
    for path in result.messages:
        console.print(f"  {path}")
    console.print(f"preview of alice@example.com's digest: {result.preview}")
    database = workdir.resolve() / "demo.db"
    console.print(
        f"explore further with: NEWSLETTER_DATABASE_URL=sqlite:///{database} newsletter --help",
        soft_wrap=True,
    )
    if not serve:
        console.print("browse it in the web app with: make demo-web (or newsletter demo --serve)")
        return

    def announce(login: DemoLogin) -> None:
        console.print(
            f"web app: {login.url}/admin  (sign in as {login.email} / {login.password})",
            soft_wrap=True,
        )
        console.print(
            f"sign-up page: {login.url}/l/daily; mail lands in {workdir.resolve() / 'outbox'}"
        )
        console.print("press Ctrl-C to stop")

    serve_demo(settings, workdir=workdir.resolve(), host=host, port=port, announce=announce)
