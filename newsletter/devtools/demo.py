"""The demo: a fresh database, sample content and subscribers, digests sent to a local server."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from newsletter.config import Settings
from newsletter.content.sources import load_drafts
from newsletter.content.store import store_drafts
from newsletter.db import make_engine, session_scope, upgrade
from newsletter.devtools.capture import start_capture_server
from newsletter.models import Topic
from newsletter.operations import runs
from newsletter.operations.accounts import create_user
from newsletter.runtime import Runtime
from subscribers import service
from subscribers.importer import import_csv

SAMPLES = Path(__file__).parent / "samples"
TOPICS = {"tech": "Technology", "science": "Science", "world": "World"}
DEMO_ADMIN = "admin@example.org"
FEEDS = (("tech.xml", "tech"), ("science.atom", "science"), ("world.json", "world"))


@dataclass(frozen=True)
class DemoResult:
    """Where the demo left its output."""

    run_id: int
    sent: int
    skipped: int
    messages: tuple[Path, ...]
    preview: Path
    smtp_address: str


def _seed(runtime: Runtime) -> None:
    now = runtime.clock()
    with session_scope(runtime.engine) as session:
        for slug, name in TOPICS.items():
            if session.get(Topic, slug) is None:
                session.add(Topic(slug=slug, name=name, created_at=now))
    for filename, topic in FEEDS:
        drafts = load_drafts(str(SAMPLES / filename))
        with session_scope(runtime.engine) as session:
            store_drafts(session, drafts, topics=[topic], now=now, source=filename)
    with session_scope(runtime.engine) as session:
        demo_list = service.create_list(
            session,
            slug="daily",
            name="The Example Daily",
            from_name="Example Newsroom",
            from_address="digest@news.example.org",
            topics=list(TOPICS),
            known_topics=set(TOPICS),
        )
        import_csv(
            session,
            path=SAMPLES / "subscribers.csv",
            mailing_list=demo_list,
            now=now,
            confirmed=True,
            secret=runtime.settings.links.secret,
        )


def run_demo(settings: Settings, *, workdir: Path) -> DemoResult:
    """Reset the demo database and outbox, seed them, and send every digest over real SMTP."""
    database = workdir / "demo.db"
    outbox = workdir / "outbox"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.unlink(missing_ok=True)
    shutil.rmtree(outbox, ignore_errors=True)
    controller, handler = start_capture_server(outbox)
    try:
        smtp_url = f"smtp://{controller.hostname}:{controller.port}"
        demo_settings = settings.updated(
            database_url=f"sqlite:///{database}",
            smtp_url=smtp_url,
            # the sample articles carry fixed dates; reach back far enough to include them
            first_digest_lookback_days=3650,
        )
        upgrade(demo_settings.database_url)
        runtime = Runtime(
            settings=demo_settings,
            engine=make_engine(demo_settings.database_url),
        )
        _seed(runtime)
        preview = runs.build_preview(runtime, slug="daily", email="alice@example.com")
        preview_dir = workdir / "preview"
        preview_dir.mkdir(exist_ok=True)
        (preview_dir / "digest.html").write_text(preview.html, encoding="utf-8")
        (preview_dir / "digest.txt").write_text(preview.text, encoding="utf-8")
        summary = asyncio.run(runs.send_list(runtime, slug="daily"))
        runtime.dispose()
    finally:
        controller.stop()
    messages = tuple(sorted(p for sub in ("new", "cur") for p in (outbox / sub).iterdir()))
    report = summary.report
    return DemoResult(
        run_id=summary.plan.run_id,
        sent=report.sent if report else 0,
        skipped=summary.plan.skipped,
        messages=messages,
        preview=preview_dir / "digest.html",
        smtp_address=smtp_url,
    )


@dataclass(frozen=True)
class DemoLogin:
    """Where the served demo is and how to sign in to its console."""

    url: str
    email: str
    password: str
    smtp_address: str


def serve_demo(
    settings: Settings,
    *,
    workdir: Path,
    host: str,
    port: int,
    announce: Callable[[DemoLogin], None],
    password: str | None = None,
    pid_file: Path | None = None,
) -> None:
    """Serve the demo database's web app until interrupted; mail goes on into ./outbox.

    With ``pid_file`` the server also stops once that file is gone or names another process
    (``make demo-stop``, a new ``make demo``, or the demo folder being deleted)."""
    import uvicorn

    from newsletter.web.app import create_app

    controller, _handler = start_capture_server(workdir / "outbox")
    try:
        web_settings = settings.updated(
            database_url=f"sqlite:///{workdir / 'demo.db'}",
            smtp_url=f"smtp://{controller.hostname}:{controller.port}",
            base_url=f"http://{host}:{port}",
            first_digest_lookback_days=3650,
        )
        runtime = Runtime.create(web_settings)
        password = password or secrets.token_urlsafe(12)
        with session_scope(runtime.engine) as session:
            create_user(
                session, email=DEMO_ADMIN, password=password, role="admin", now=runtime.clock()
            )
        announce(
            DemoLogin(
                url=f"http://{host}:{port}",
                email=DEMO_ADMIN,
                password=password,
                smtp_address=f"{controller.hostname}:{controller.port}",
            )
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(runtime), host=host, port=port, log_level="warning")
        )
        if pid_file is not None:
            _stop_when_orphaned(server, pid_file)
        server.run()
        runtime.dispose()
    finally:
        controller.stop()


def _stop_when_orphaned(server: Any, pid_file: Path) -> None:
    """Ask uvicorn to exit once ``pid_file`` no longer names this process."""

    def watch() -> None:
        while not server.should_exit:
            time.sleep(2)
            try:
                owner = int(pid_file.read_text().strip())
            except (OSError, ValueError):
                owner = None
            if owner != os.getpid():
                server.should_exit = True

    threading.Thread(target=watch, name="demo-watchdog", daemon=True).start()


def port_is_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) != 0


def stop_background(pid_file: Path) -> bool:
    """Stop a background demo web server started from this folder; True if one was running."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return False
    pid_file.unlink(missing_ok=True)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    return True


def start_background(
    *, workdir: Path, host: str, port: int, password: str, timeout: float = 20.0
) -> int:
    """Start ``newsletter demo --serve-only`` detached, logging to demo-web.log; wait until it
    listens. Returns its pid."""
    env = {**os.environ, "NEWSLETTER_DEMO_PASSWORD": password}
    log = (workdir / "demo-web.log").open("ab")
    command = [
        sys.executable,
        "-m",
        "newsletter",
        "demo",
        "--serve-only",
        "--workdir",
        str(workdir),
        "--host",
        host,
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    (workdir / PID_FILE).write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo web app exited; see {workdir / 'demo-web.log'}")
        if not port_is_free(host, port):
            return process.pid
        time.sleep(0.2)
    raise RuntimeError(f"the demo web app did not start; see {workdir / 'demo-web.log'}")


PID_FILE = ".demo-web.pid"
