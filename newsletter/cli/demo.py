"""``newsletter demo``: everything on embedded defaults, in one command."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Annotated

import typer

from newsletter.cli.context import console
from newsletter.config import load_settings
from newsletter.devtools.demo import (
    DEMO_ADMIN,
    PID_FILE,
    DemoLogin,
    port_is_free,
    run_demo,
    serve_demo,
    start_background,
    stop_background,
)


def demo(
    workdir: Annotated[
        Path, typer.Option(help="Where demo.db, outbox/ and preview/ go (reset each time).")
    ] = Path("."),
    web: Annotated[
        bool,
        typer.Option(
            "--web/--no-web",
            help="Then start the web app in the background (stop it with --stop-web).",
        ),
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the web app in the foreground until Ctrl-C.")
    ] = False,
    serve_only: Annotated[bool, typer.Option("--serve-only", hidden=True)] = False,
    stop_web: Annotated[
        bool, typer.Option("--stop-web", help="Stop the background web app and exit.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address the web app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the web app listens on.")] = 8000,
) -> None:
    """Seed a demo database and send digests through an embedded SMTP server into ./outbox."""
    folder = workdir.resolve()
    pid_file = folder / PID_FILE
    settings = load_settings()
    if web or serve or serve_only:  # the digests' links must point at the web app
        settings.check_listen_address(host)
        settings = settings.updated(base_url=f"http://{host}:{port}")
    if stop_web:
        stopped = stop_background(pid_file)
        console.print("demo web app stopped" if stopped else "no demo web app was running")
        return
    if serve_only:
        password = os.environ.get("NEWSLETTER_DEMO_PASSWORD")
        serve_demo(
            settings,
            workdir=folder,
            host=host,
            port=port,
            announce=lambda login: None,
            password=password,
            pid_file=pid_file,
        )
        return
    if stop_background(pid_file):
        time.sleep(1.0)  # let the previous web app release the database and the port
    result = run_demo(settings, workdir=folder)
    console.print(f"embedded SMTP server was at {result.smtp_address}")
    console.print(f"run {result.run_id}: {result.sent} digest(s) sent, {result.skipped} skipped")
    console.print("received messages (Maildir):")
    for path in result.messages:
        console.print(f"  {path}")
    console.print(f"preview of alice@example.com's digest: {result.preview}")
    database = folder / "demo.db"
    console.print(
        f"explore further with: NEWSLETTER_DATABASE_URL=sqlite:///{database} newsletter --help"
    )
    if web:
        if not port_is_free(host, port):
            console.print(f"port {port} is taken: web app not started (try --port)")
            return
        password = secrets.token_urlsafe(12)
        start_background(workdir=folder, host=host, port=port, password=password)
        console.print(
            f"web app: http://{host}:{port}/admin  (sign in as {DEMO_ADMIN} / {password})"
        )
        console.print(f"sign-up page: http://{host}:{port}/l/daily; the links in ./outbox work")
        console.print("it runs in the background; stop it with: make demo-stop")
        return
    if not serve:
        return

    def announce(login: DemoLogin) -> None:
        console.print(f"web app: {login.url}/admin  (sign in as {login.email} / {login.password})")
        console.print(f"sign-up page: {login.url}/l/daily; mail lands in {folder / 'outbox'}")
        console.print("press Ctrl-C to stop")

    serve_demo(settings, workdir=folder, host=host, port=port, announce=announce)
