"""`make demo`: digests land in ./outbox and the web app answers the links in them."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from newsletter.devtools.capture import free_port


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_demo_sends_digests_and_serves_their_links(tmp_path: Path) -> None:
    port = free_port()
    started = run("demo", "--web", "--port", str(port), "--workdir", str(tmp_path), cwd=tmp_path)
    try:
        assert started.returncode == 0, started.stderr
        assert "4 digest(s) sent" in started.stdout
        login = re.search(r"sign in as (\S+) / (\S+)\)", started.stdout)
        assert login is not None
        messages = sorted((tmp_path / "outbox" / "new").iterdir())
        assert len(messages) == 4
        digest = email.message_from_bytes(messages[0].read_bytes(), policy=email.policy.default)
        text = digest.get_payload()[0].get_content()
        links = re.findall(rf"http://127\.0\.0\.1:{port}/\S+", text)
        assert links, text
        with httpx.Client(timeout=10) as client:
            for link in links:  # view in browser, preferences, unsubscribe (GET only shows a form)
                assert client.get(link).status_code == 200, link
            page = client.get(f"http://127.0.0.1:{port}/admin/login")
            assert page.status_code == 200
    finally:
        stopped = run("demo", "--stop-web", "--workdir", str(tmp_path), cwd=tmp_path)
    assert "stopped" in stopped.stdout
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/admin/login", timeout=1)
        except httpx.TransportError:
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the demo web app is still running")
