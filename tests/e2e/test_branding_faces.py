"""Branding and the next issue's note from the CLI (a real process) and the console (web app)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from newsletter.db import make_engine, session_scope
from newsletter.models import IssueNote
from newsletter.publish import editorial
from newsletter.web.app import create_app
from subscribers import lists as list_service
from subscribers.models import MailingList
from tests.cli_helpers import cli
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list
from tests.webapp import ADMIN, EDITOR, WebEnv, add_users, login


def _list(url: str) -> MailingList:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            found = list_service.get_list(session, slug="daily")
            session.expunge(found)
            return found
    finally:
        engine.dispose()


def test_cli_brands_a_list_and_refuses_bad_values_in_one_line(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    engine.dispose()
    done = cli(
        sqlite_url,
        "lists", "update", "daily",
        "--accent-color", "#0F766E",
        "--logo-url", "https://cdn.example.org/logo.png",
        "--footer-text", "Written by the newsroom.",
        "--postal-address", "1 Example Street\\nExampletown",
        "--public-archive", "--images",
        "--description", "Tech news, daily.",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "accent_color" in done.stdout and "archive_public" in done.stdout
    saved = _list(sqlite_url)
    assert saved.accent_color == "#0f766e" and saved.archive_public and saved.show_images
    assert saved.postal_address == "1 Example Street\nExampletown"
    for option, value in (
        ("--accent-color", "blue"),
        ("--logo-url", "http://cdn.example.org/logo.png"),
        ("--footer-text", "x" * 1001),
    ):
        bad = cli(sqlite_url, "lists", "update", "daily", option, value)
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
        assert bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1, bad.stderr
    assert _list(sqlite_url).accent_color == "#0f766e"  # nothing half-written
    shown = cli(sqlite_url, "lists", "show", "daily")
    assert "public" in shown.stdout and "#0f766e" in shown.stdout


def test_cli_sets_the_next_issues_note_and_lead(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    ids = add_articles(engine, NOW, [["tech"]])
    engine.dispose()
    note = tmp_path / "note.md"
    note.write_text("Hello **readers**.\n", encoding="utf-8")
    done = cli(sqlite_url, "lists", "note", "daily", "--file", str(note), "--lead", str(ids[0]))
    assert done.returncode == 0, done.stderr
    assert "Story 0 about tech" in done.stdout
    missing = cli(sqlite_url, "lists", "note", "daily", "--lead", "999")
    assert missing.returncode == 1 and missing.stderr == "error: no article 999 to lead with\n"
    long = cli(sqlite_url, "lists", "note", "daily", "--text", "x" * 5001)
    assert long.returncode == 1 and "at most 5000" in long.stderr
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        (row,) = session.exec(select(IssueNote)).all()
        assert row.note_markdown == "Hello **readers**." and row.lead_article_id == ids[0]
    engine.dispose()
    cleared = cli(sqlite_url, "lists", "note", "daily", "--text", "", "--clear-lead")
    assert cleared.returncode == 0 and "note: none; lead story: none" in cleared.stdout
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        assert session.exec(select(IssueNote)).all() == []
    engine.dispose()


@pytest.fixture
def web(sqlite_url: str) -> Iterator[WebEnv]:
    runtime = make_runtime(make_settings(sqlite_url, base_url="http://testserver"))
    seed_list(runtime.engine, runtime.clock(), ["tech"])
    add_articles(runtime.engine, runtime.clock() - timedelta(hours=1), [["tech"]])
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


def test_console_editor_writes_the_note_admin_brands_the_list(web: WebEnv) -> None:
    csrf = login(web.client, EDITOR)
    page = web.client.get("/admin/lists/daily/issue")
    assert page.status_code == 200 and 'id="next-issue"' in page.text
    assert 'id="branding"' not in page.text  # editors do not brand lists
    saved = web.client.post(
        "/admin/lists/daily/issue",
        data={"csrf": csrf, "note": "Hi <script>x</script> **all**", "lead_article_id": "1"},
        follow_redirects=True,
    )
    assert "Saved for the next issue" in saved.text
    assert "<strong>all</strong>" in saved.text and "<script>x" not in saved.text
    with session_scope(web.runtime.engine) as session:
        assert editorial.next_issue(session, list_id=1).lead_article_id == 1
    bad = web.client.post(
        "/admin/lists/daily/issue",
        data={"csrf": csrf, "note": "x", "lead_article_id": "abc"},
        follow_redirects=True,
    )
    assert "must be an article id" in bad.text
    refused = web.client.post(
        "/admin/lists/daily/branding", data={"csrf": csrf, "accent_color": "#000000"}
    )
    assert refused.status_code == 403
    forged = web.client.post("/admin/lists/daily/issue", data={"note": "x"})
    assert forged.status_code == 403
    web.client.cookies.clear()
    csrf = login(web.client, ADMIN)
    form = {
        "csrf": csrf,
        "name": "The Daily",
        "accent_color": "#be123c",
        "logo_url": "https://cdn.example.org/l.png",
        "postal_address": "1 Example Street",
        "archive_public": "on",
    }
    done = web.client.post("/admin/lists/daily/branding", data=form, follow_redirects=True)
    assert "Saved (" in done.text and 'id="branding"' in done.text
    with session_scope(web.runtime.engine) as session:
        saved_list = list_service.get_list(session, slug="daily")
        assert saved_list.name == "The Daily" and saved_list.archive_public
        assert saved_list.accent_color == "#be123c" and not saved_list.show_images
    wrong = web.client.post(
        "/admin/lists/daily/branding",
        data=form | {"logo_url": "javascript:alert(1)"},
        follow_redirects=True,
    )
    assert "absolute https://" in wrong.text
    assert web.client.get("/").text.count('href="/l/daily/archive"') == 1
