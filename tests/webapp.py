"""Helpers for web tests: an app on a test database, signed-in clients, CSRF tokens."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi.testclient import TestClient

from newsletter.db import session_scope
from newsletter.operations.accounts import create_user
from newsletter.runtime import Runtime

ADMIN = ("admin@example.org", "admin-password-1")
EDITOR = ("editor@example.org", "editor-password-1")


@dataclass
class WebEnv:
    """The runtime and a client of its app."""

    runtime: Runtime
    client: TestClient


def add_users(runtime: Runtime) -> None:
    """One admin and one editor."""
    with session_scope(runtime.engine) as session:
        create_user(session, email=ADMIN[0], password=ADMIN[1], role="admin", now=runtime.clock())
        create_user(
            session, email=EDITOR[0], password=EDITOR[1], role="editor", now=runtime.clock()
        )


def hidden(html: str, name: str) -> str:
    """The value of the first hidden input called ``name``."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    if found is None:
        raise AssertionError(f"no hidden field {name!r} in page")
    return found.group(1)


def login(client: TestClient, who: tuple[str, str]) -> str:
    """Sign in and return the session's CSRF token."""
    page = client.get("/admin/login")
    response = client.post(
        "/admin/login",
        data={
            "email": who[0],
            "password": who[1],
            "form_token": hidden(page.text, "form_token"),
            "next": "/admin",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return hidden(client.get("/admin").text, "csrf")


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``check`` until it is true (background sends run on the server's loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
