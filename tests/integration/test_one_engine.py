"""Every kind of message goes through the one engine: confirmations and test sends are signed,
leased and recorded like digests; a dry run writes the engine's own bytes to files."""

from __future__ import annotations

import asyncio
import base64
import subprocess
from pathlib import Path

import dkim
import pytest
from sqlmodel import Session, select

from newsletter.db import make_engine, session_scope
from newsletter.models import Delivery, DeliveryStatus, Run, RunKind
from newsletter.operations import runs
from newsletter.operations.confirmations import send_confirmations
from subscribers import service
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import add_articles, seed_list, subscribe
from tests.smtpserver import RecordingServer

SELECTOR = "s2026"
DOMAIN = "news.example.org"


def _openssl(*args: str) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True).stdout


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("dkim") / "dkim.pem"
    _openssl("genrsa", "-out", str(path), "2048")
    der = _openssl("rsa", "-in", str(path), "-pubout", "-outform", "DER")
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def _verifies(message: bytes, record: bytes) -> bool:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return record

    return bool(dkim.verify(message, dnsfunc=dnsfunc))


def _pending_ann(url: str, *, welcome_text: str | None = None) -> int:
    """A list (with this welcome text) and Ann's sign-up waiting for confirmation."""
    from subscribers import lists as list_service

    engine = make_engine(url)
    seed_list(engine, NOW, ["tech"])
    with session_scope(engine) as session:
        if welcome_text is not None:
            list_service.update_list(session, slug="daily", welcome_text=welcome_text)
        pending = service.request_subscription(
            session,
            mailing_list=service.get_list(session, slug="daily"),
            email="ann@example.com",
            now=NOW,
            name="Ann",
        )
        sub_id = pending.subscription.id or 0
    engine.dispose()
    return sub_id


def _dkim_settings(key: Path) -> dict[str, object]:
    return {"dkim_key_file": key, "dkim_selector": SELECTOR, "dkim_domain": DOMAIN}


def test_confirmation_emails_are_signed_and_recorded_by_the_engine(
    sqlite_url: str, smtp_server: RecordingServer, dkim_key: tuple[Path, bytes]
) -> None:
    key, record = dkim_key
    sub_id = _pending_ann(sqlite_url)
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, **_dkim_settings(key)))
    report = asyncio.run(send_confirmations(runtime, subscription_ids=[sub_id]))
    assert report.sent == 1
    (message,) = smtp_server.messages
    assert message.data.startswith(b"DKIM-Signature:")
    assert _verifies(message.data, record)
    with Session(runtime.engine) as session:
        (row,) = session.exec(select(Delivery)).all()
        run = session.get(Run, row.run_id)
        assert run is not None and run.kind == RunKind.CONFIRM
        assert row.status == DeliveryStatus.SENT and row.claimed_by and row.message_id
        assert f"<{row.message_id}>".encode() in message.data
    runtime.dispose()


def test_a_test_send_is_a_signed_run_of_its_own(
    sqlite_url: str, smtp_server: RecordingServer, dkim_key: tuple[Path, bytes]
) -> None:
    key, record = dkim_key
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    subscribe(engine, NOW, "reader@example.com", ["tech"])
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url, smtp_server, **_dkim_settings(key)))
    message_id = asyncio.run(runs.send_test(runtime, slug="daily", to="editor@example.com"))
    (message,) = smtp_server.messages
    assert message.rcpt_tos == ("editor@example.com",)
    assert _verifies(message.data, record)
    assert f"<{message_id}>".encode() in message.data
    # the subscriber's history is untouched: a real send still brings them the article
    summary = asyncio.run(runs.send_list(runtime, slug="daily"))
    assert summary.plan.queued == 1
    with Session(runtime.engine) as session:
        kinds = sorted(run.kind for run in session.exec(select(Run)))
        assert kinds == [RunKind.MANUAL, RunKind.TEST]
    runtime.dispose()


def test_a_dry_run_writes_the_engines_messages_to_files(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    for name in ("ann", "ben"):
        subscribe(engine, NOW, f"{name}@example.com", ["tech"])
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url))
    out = tmp_path / "eml"
    summary = asyncio.run(runs.send_list(runtime, slug="daily", dry_run_dir=out))
    assert summary.report is not None and summary.report.sent == 2
    files = sorted(out.glob("*.eml"))
    assert len(files) == 2
    with Session(runtime.engine) as session:
        rows = session.exec(select(Delivery)).all()
        # each file carries the Message-ID the ledger recorded for its row
        for row in rows:
            assert any(f"<{row.message_id}>".encode() in f.read_bytes() for f in files)
    runtime.dispose()


def test_a_new_confirmation_replaces_one_waiting_for_a_retry(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    from datetime import timedelta

    from newsletter.schedule.drain import sendable_runs

    sub_id = _pending_ann(sqlite_url)
    smtp_server.handler.rcpt_reply = lambda a: "451 4.7.1 greylisted"
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    first = asyncio.run(send_confirmations(runtime, subscription_ids=[sub_id]))
    assert first.deferred == 1
    smtp_server.handler.rcpt_reply = lambda a: None
    second = asyncio.run(send_confirmations(runtime, subscription_ids=[sub_id]))
    assert second.sent == 1
    with session_scope(runtime.engine) as session:
        assert sendable_runs(session, now=NOW + timedelta(days=1)) == []
        rows = session.exec(select(Delivery).order_by(Delivery.id)).all()
        assert [r.status for r in rows] == [DeliveryStatus.CANCELLED, DeliveryStatus.SENT]
        assert {run.status for run in session.exec(select(Run))} == {"done"}
    assert len(smtp_server.messages) == 1
    runtime.dispose()


def test_a_confirmed_subscriber_is_welcomed_once_through_the_engine(
    sqlite_url: str, smtp_server: RecordingServer
) -> None:
    from newsletter.operations.confirmations import send_welcomes

    sub_id = _pending_ann(sqlite_url, welcome_text="Thanks for joining.\n\nWe write *daily*.")
    runtime = make_runtime(make_settings(sqlite_url, smtp_server))
    # not confirmed yet: no welcome
    assert asyncio.run(send_welcomes(runtime, subscription_ids=[sub_id])).run_ids == []
    with session_scope(runtime.engine) as session:
        subscription = service.get_subscription(session, email="ann@example.com", slug="daily")
        subscription.status = "active"
    first = asyncio.run(send_welcomes(runtime, subscription_ids=[sub_id]))
    again = asyncio.run(send_welcomes(runtime, subscription_ids=[sub_id]))
    assert (first.sent, again.run_ids) == (1, [])
    (message,) = smtp_server.messages
    parsed = message.parsed()
    assert parsed["Subject"] == "Welcome to Example Daily"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = parsed.get_body(("html",))
    assert html is not None and "<em>daily</em>" in html.get_content()
    text = parsed.get_body(("plain",))
    assert text is not None and "Hi Ann" in text.get_content()
    with Session(runtime.engine) as session:
        runs_ = session.exec(select(Run)).all()
        assert [r.kind for r in runs_] == [RunKind.WELCOME]
    runtime.dispose()


def test_a_subscribers_preview_carries_no_link_to_their_subscription(sqlite_url: str) -> None:
    import re

    from subscribers.tokens import Purpose, read_token

    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    add_articles(engine, NOW, [["tech"]])
    subscribe(engine, NOW, "ann@example.com", ["tech"], name="Ann")
    engine.dispose()
    runtime = make_runtime(make_settings(sqlite_url))
    preview = runs.build_preview(runtime, slug="daily", email="ann@example.com")
    assert "Hi Ann" in preview.text  # her digest, her name...
    tokens = re.findall(r"https://news\.example\.test/p/(\S+)", preview.text)
    assert tokens
    for token in tokens:  # ...but links that reach nobody (an editor cannot use them)
        claims = read_token(runtime.settings.links.secret, token, Purpose.PREFERENCES, now=NOW)
        assert claims.subscriber_id == 0
    runtime.dispose()
