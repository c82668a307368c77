"""Fuzzing the mail that comes back: bounces and mailto unsubscribes from strangers change nothing.

Every message here is built by someone without the secret: random bytes, bounce reports that
name real subscribers, return paths in our format with made-up signatures, guessed
Message-IDs, deep MIME nesting, giant headers. Processing never raises anything but the one
root error, never hangs, and leaves every row of the database as it was.
"""

from __future__ import annotations

import mailbox
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from newsletter.db import make_engine, session_scope
from newsletter.errors import IngestError
from newsletter.inbound.bounces import process_mailbox
from newsletter.inbound.dsn import parse_bounce
from newsletter.inbound.mailto_unsubscribes import process_unsubscribe_mailbox
from tests.conftest import NOW
from tests.fuzzing import IN_PROCESS, deadline, snapshot
from tests.helpers import seed_list, subscribe

SECRET = b"fuzz-secret-0123456789"
PEOPLE = ["ada@example.net", "bob@example.org", "zoe@example.com"]


@pytest.fixture
def seeded(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    for address in PEOPLE:
        subscribe(engine, NOW, address, ["tech"], name="Reader")
    yield engine
    engine.dispose()


ADDRESSES = st.one_of(
    st.sampled_from(PEOPLE),
    st.sampled_from([f"bounces+{i}-{'a' * 10}@b.example" for i in range(1, 4)]),
    st.builds(
        lambda n, m: f"bounces+{n}-{m}@bounces.example.org",
        st.integers(-5, 10**20),
        st.from_regex(r"[a-z2-7]{0,12}", fullmatch=True),
    ),
    st.text(max_size=40),
)
STATUS = st.sampled_from(["5.1.1", "4.2.2", "5.7.1", "2.0.0", "9.9.9", "", "5.1.1.1.1"])
ACTIONS = st.sampled_from(["failed", "delayed", "delivered", "", "FAILED", "x" * 300])
HEADER_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)


@st.composite
def reports(draw: st.DrawFn) -> bytes:
    """A delivery report as any MTA (or anyone) could write it."""
    to = draw(ADDRESSES)
    recipients = draw(st.lists(ADDRESSES, min_size=0, max_size=4))
    blocks = "".join(
        f"Final-Recipient: rfc822; {r}\nAction: {draw(ACTIONS)}\nStatus: {draw(STATUS)}\n"
        f"Diagnostic-Code: smtp; {draw(st.sampled_from(['550', '451', '250', 'x']))} "
        f"{draw(HEADER_TEXT)!s:.80}\n\n"
        for r in recipients
    )
    original = ""
    if draw(st.booleans()):
        message_id = draw(st.one_of(st.text(max_size=30), st.just("nl.1.abcdef012345@x.org")))
        original = f"--b\nContent-Type: text/rfc822-headers\n\nMessage-ID: <{message_id}>\n\n"
    depth = draw(st.integers(0, 3)) or 0
    nest_open = "".join(
        f'Content-Type: multipart/mixed; boundary="n{i}"\n\n--n{i}\n' for i in range(depth)
    )
    nest_close = "".join(f"\n--n{i}--\n" for i in reversed(range(depth)))
    return (
        f"From: {draw(st.sampled_from(['MAILER-DAEMON@mx.example', 'someone@x.org']))}\n"
        f"To: {to}\nX-Original-To: {draw(ADDRESSES)}\n"
        f"Subject: {draw(st.sampled_from(['Undelivered Mail', 'Re: hi', 'Delivery delay']))}\n"
        "MIME-Version: 1.0\n"
        f"{nest_open}"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        f"--b\nContent-Type: text/plain\n\n{draw(HEADER_TEXT)}\n\n"
        f"--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx\n\n{blocks}"
        f"{original}--b--\n{nest_close}"
    ).encode("utf-8", "surrogateescape")


MESSAGES = st.one_of(
    st.binary(max_size=3000),
    reports(),
    st.builds(
        lambda h, b: f"To: unsubscribe+{h}@news.example.org\n\n{b}".encode(errors="replace"),
        st.text(max_size=60),
        st.text(max_size=200),
    ),
)


def _maildir(folder: Path, messages: list[bytes]) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    box = mailbox.Maildir(str(folder), create=True)
    for message in messages:
        box.add(message)
    return folder


@IN_PROCESS
@given(messages=st.lists(MESSAGES, min_size=1, max_size=5))
def test_bounces_from_strangers_change_nothing(
    seeded: Engine, tmp_path: Path, messages: list[bytes]
) -> None:
    folder = _maildir(tmp_path / "bounces", messages)
    before = snapshot(seeded)
    with deadline():
        for raw in messages:
            parse_bounce(raw)  # never raises
        with session_scope(seeded) as session:
            report = process_mailbox(
                session, folder, secret=SECRET, local="bounces", soft_limit=1, now=NOW
            )
    assert report.messages == len(messages) and report.hard == report.soft == 0
    assert snapshot(seeded) == before


@IN_PROCESS
@given(messages=st.lists(MESSAGES, min_size=1, max_size=5))
def test_unsubscribe_mail_from_strangers_changes_nothing(
    seeded: Engine, tmp_path: Path, messages: list[bytes]
) -> None:
    folder = _maildir(tmp_path / "unsubscribes", messages)
    before = snapshot(seeded)
    with deadline(), session_scope(seeded) as session:
        report = process_unsubscribe_mailbox(session, folder, secret=SECRET, now=NOW)
    assert report.unsubscribed == 0
    assert snapshot(seeded) == before


@pytest.mark.parametrize(
    "raw",
    [
        # 3,000 nested multiparts.
        b"".join(
            f'Content-Type: multipart/mixed; boundary="{i}"\n\n--{i}\n'.encode()
            for i in range(3000)
        )
        + b"text\n",
        # A 2 MB header and a 2 MB line of dots.
        b"Subject: " + b"A" * 2_000_000 + b"\n\n" + b"." * 2_000_000,
        # A report with 20,000 recipient blocks naming the same person.
        b'Content-Type: multipart/report; boundary="b"\n\n--b\n'
        b"Content-Type: message/delivery-status\n\n"
        + b"Final-Recipient: rfc822; ada@example.net\nAction: failed\nStatus: 5.1.1\n\n" * 20000
        + b"--b--\n",
    ],
    ids=["deep-nesting", "giant-header", "many-recipients"],
)
def test_hostile_bounce_shapes(seeded: Engine, tmp_path: Path, raw: bytes) -> None:
    folder = _maildir(tmp_path / "box", [raw])
    before = snapshot(seeded)
    with deadline(), session_scope(seeded) as session:
        report = process_mailbox(
            session, folder, secret=SECRET, local="bounces", soft_limit=1, now=NOW
        )
    assert report.messages == 1 and report.hard == report.soft == 0
    assert snapshot(seeded) == before


def test_a_path_that_is_not_a_mailbox_is_one_error(seeded: Engine, tmp_path: Path) -> None:
    odd = tmp_path / "odd"
    odd.write_bytes(b"\x00\x01 not an mbox")
    with pytest.raises(IngestError), session_scope(seeded) as session:
        process_mailbox(session, odd, secret=SECRET, local="bounces", soft_limit=1, now=NOW)
