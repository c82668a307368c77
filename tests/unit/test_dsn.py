"""Tests for bounce parsing (RFC 3464 and heuristics) and reading mailboxes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.delivery.replies import ReplyKind
from newsletter.delivery.verp import parse_return_path
from newsletter.inbound.dsn import Action, Bounce, BounceKind, iter_mailbox, parse_bounce

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bounces"
SECRET = b"test-secret"  # the fixtures' return paths were made with it


def _parse(name: str) -> Bounce:
    bounce = parse_bounce((FIXTURES / name).read_bytes())
    assert bounce is not None
    return bounce


def test_postfix_hard_bounce() -> None:
    bounce = _parse("postfix_hard_5.1.1.eml")
    assert bounce.standard
    assert bounce.kind is BounceKind.HARD
    assert bounce.return_path == "bounces+42-anu5332bnj@news.example.org"
    (rcpt,) = bounce.recipients
    assert rcpt.recipient == "ada@example.net"
    assert rcpt.final_recipient == "ada@example.net"
    assert rcpt.action is Action.FAILED
    assert rcpt.status == "5.1.1"
    assert rcpt.diagnostic is not None
    assert rcpt.diagnostic.endswith("User unknown in virtual mailbox table")  # unfolded
    assert rcpt.reply_kind is ReplyKind.BAD_MAILBOX


def test_postfix_delay_notice_is_soft() -> None:
    bounce = _parse("postfix_delayed_4.2.2.eml")
    assert bounce.standard
    assert bounce.kind is BounceKind.SOFT
    (rcpt,) = bounce.recipients
    assert (rcpt.action, rcpt.status, rcpt.recipient) == (
        Action.DELAYED,
        "4.2.2",
        "grace@example.com",
    )
    assert rcpt.reply_kind is ReplyKind.TEMPORARY


def test_exim_bounce_is_read_from_its_text() -> None:
    bounce = _parse("exim_failed.eml")
    assert not bounce.standard
    assert bounce.kind is BounceKind.HARD
    assert bounce.return_path == "bounces+8-vqlgfg7z5l@news.example.org"
    (rcpt,) = bounce.recipients
    assert rcpt.recipient == "linus@example.com"
    assert rcpt.action is Action.FAILED
    # The copy of our message mentions "452 4.2.2": only the bounce's own text counts.
    assert rcpt.status == "5.1.1"
    assert rcpt.diagnostic == (
        "550 5.1.1 <linus@example.com>: Recipient address rejected: User unknown"
    )
    assert rcpt.reply_kind is ReplyKind.BAD_MAILBOX


def test_exim_bounce_without_failed_recipients_header() -> None:
    raw = (FIXTURES / "exim_failed.eml").read_bytes()
    raw = raw.replace(b"X-Failed-Recipients: linus@example.com\n", b"")
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert bounce.recipients[0].recipient == "linus@example.com"


def test_qmail_bounce_without_enhanced_code() -> None:
    bounce = _parse("qmail_failure.eml")
    assert not bounce.standard
    assert bounce.kind is BounceKind.HARD
    (rcpt,) = bounce.recipients
    assert rcpt.recipient == "margaret@mail.example.com"
    assert rcpt.status is None
    assert rcpt.diagnostic is not None and rcpt.diagnostic.startswith("554: delivery error")
    assert rcpt.reply_kind is ReplyKind.PERMANENT


def test_exchange_policy_rejection_and_envelope_id() -> None:
    bounce = _parse("exchange_policy_5.7.1.eml")
    assert bounce.envelope_id == "delivery-11"
    assert bounce.kind is BounceKind.HARD
    failed, relayed = bounce.recipients
    assert failed.status == "5.7.1"
    assert failed.reply_kind is ReplyKind.POLICY  # our reputation, not the subscriber
    assert relayed.action is Action.RELAYED
    assert relayed.kind is BounceKind.NONE


@pytest.mark.parametrize(
    ("name", "delivery_id"),
    [
        ("postfix_hard_5.1.1.eml", 42),
        ("postfix_delayed_4.2.2.eml", 7),
        ("exim_failed.eml", 8),
        ("qmail_failure.eml", 9),
        ("exchange_policy_5.7.1.eml", 11),
    ],
)
def test_return_path_leads_back_to_the_delivery(name: str, delivery_id: int) -> None:
    bounce = _parse(name)
    ids = {parse_return_path(a, secret=SECRET) for a in bounce.return_paths}
    assert ids - {None} == {delivery_id}


def test_auto_reply_is_not_a_bounce() -> None:
    assert parse_bounce((FIXTURES / "autoreply.eml").read_bytes()) is None


def test_human_reply_is_not_a_bounce() -> None:
    raw = (
        b"From: Ada <ada@example.net>\r\nTo: digest@news.example.org\r\n"
        b"Subject: Re: Your weekly digest\r\n\r\nThanks! Error 550 was fixed.\r\n"
    )
    assert parse_bounce(raw) is None


def _dsn(recipient_block: str, content_type: str = "message/delivery-status") -> bytes:
    return (
        "From: MAILER-DAEMON@mx.example.com\n"
        "To: bounces+1-aaaaaaaaaa@news.example.org\n"
        "Subject: Delivery Status Notification (Failure)\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nIt failed.\n\n"
        f"--b\nContent-Type: {content_type}\n\n"
        "Reporting-MTA: dns; mx.example.com\n\n"
        f"{recipient_block}\n"
        "--b--\n"
    ).encode()


def test_status_taken_from_diagnostic_when_missing() -> None:
    bounce = parse_bounce(
        _dsn(
            "Final-Recipient: rfc822; x@example.com\nAction: failed\n"
            "Diagnostic-Code: smtp; 550 5.1.1 no such user\n"
        )
    )
    assert bounce is not None
    assert bounce.recipients[0].status == "5.1.1"


def test_action_inferred_from_status_when_missing() -> None:
    bounce = parse_bounce(_dsn("Final-Recipient: rfc822; x@example.com\nStatus: 4.4.7\n"))
    assert bounce is not None
    assert bounce.recipients[0].action is Action.DELAYED
    assert bounce.kind is BounceKind.SOFT


def test_failed_with_transient_status_is_soft() -> None:
    block = "Final-Recipient: rfc822; x@example.com\nAction: failed\nStatus: 4.2.2\n"
    bounce = parse_bounce(_dsn(block))
    assert bounce is not None
    assert bounce.recipients[0].action is Action.FAILED
    assert bounce.kind is BounceKind.SOFT  # mailbox full for days: the address may be fine


def test_global_delivery_status() -> None:
    block = (
        "Final-Recipient: utf-8; jörg@example.de\n"
        "Original-Recipient: utf-8; jörg@example.de\nAction: failed\nStatus: 5.1.1\n"
    )
    bounce = parse_bounce(_dsn(block, "message/global-delivery-status"))
    assert bounce is not None
    assert bounce.standard
    assert bounce.recipients[0].recipient == "jörg@example.de"
    assert bounce.kind is BounceKind.HARD


def test_report_without_recipients_falls_back_to_text() -> None:
    raw = _dsn("X-Nothing: here\n").replace(
        b"It failed.", b"<bob@example.com>: host mx said: 550 5.1.1 user unknown"
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    assert not bounce.standard
    assert bounce.recipients[0].recipient == "bob@example.com"
    assert bounce.recipients[0].status == "5.1.1"


def test_exim_delay_warning_without_code() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@relay.example.com>\n"
        b"To: bounces+3-aaaaaaaaaa@news.example.org\n"
        b"Subject: Warning: message 1tAbCd-000123-4E delayed 24 hours\n\n"
        b"This message was created automatically by mail delivery software.\n"
        b"A message that you sent has not yet been delivered to one or more of its\n"
        b"recipients after more than 24 hours on the queue on relay.example.com.\n\n"
        b"  ann@example.com\n    host mx.example.com [203.0.113.9]: Connection timed out\n\n"
        b"No action is required on your part. Delivery attempts will continue.\n"
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    (rcpt,) = bounce.recipients
    assert (rcpt.action, rcpt.kind, rcpt.recipient) == (
        Action.DELAYED,
        BounceKind.SOFT,
        "ann@example.com",
    )


def test_exim_gives_up_on_full_mailbox_softly() -> None:
    raw = (
        b"From: Mail Delivery System <Mailer-Daemon@relay.example.com>\n"
        b"X-Failed-Recipients: ann@example.com\n"
        b"Subject: Mail delivery failed: returning message to sender\n\n"
        b"A message that you sent could not be delivered to one or more of its\n"
        b"recipients. This is a permanent error. The following address(es) failed:\n\n"
        b"  ann@example.com\n    retry timeout exceeded\n"
        b"    452 4.2.2 Mailbox full\n"
    )
    bounce = parse_bounce(raw)
    assert bounce is not None
    (rcpt,) = bounce.recipients
    assert (rcpt.action, rcpt.status, rcpt.kind) == (Action.FAILED, "4.2.2", BounceKind.SOFT)


def test_bounce_with_no_recognisable_failure_is_ignored() -> None:
    raw = b"From: MAILER-DAEMON@x.example\nSubject: hello\n\nnothing to see\n"
    assert parse_bounce(raw) is None


header_names = st.sampled_from(
    ["From", "To", "Subject", "Content-Type", "X-Failed-Recipients", "Return-Path", "Delivered-To"]
)
header_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "MAILER-DAEMON@x",
            "<>",
            "multipart/report; boundary=b",
            "message/delivery-status",
            "text/plain; charset=\x00bad",
            "text/plain; charset=nonexistent",
        ]
    ),
)
bodies = st.one_of(
    st.binary(max_size=400),
    st.lists(
        st.sampled_from(
            [
                b"--b",
                b"--b--",
                b"Content-Type: message/delivery-status",
                b"Content-Type: text/plain; charset=utf-7",
                b"Content-Transfer-Encoding: base64",
                b"Final-Recipient: rfc822;",
                b"Action: failed",
                b"Action: ",
                b"Status: 5.9.999",
                b"Status: 4.",
                b"550 5.1.1 <a@b.c>: user unknown",
                b"<a@b.example>:",
                b"",
                b"\xff\xfe",
            ]
        ),
        max_size=30,
    ).map(b"\n".join),
)


@settings(max_examples=300)
@given(st.lists(st.tuples(header_names, header_values), max_size=6), bodies)
def test_parse_bounce_never_raises(headers: list[tuple[str, str]], body: bytes) -> None:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    raw = head.encode("utf-8", "surrogateescape") + b"\n" + body
    bounce = parse_bounce(raw)
    if bounce is not None:
        assert bounce.recipients
        assert bounce.kind in set(BounceKind)
        for rcpt in bounce.recipients:
            assert rcpt.reply_kind in set(ReplyKind)


def test_iter_maildir() -> None:
    messages = list(iter_mailbox(FIXTURES / "maildir"))
    assert len(messages) == 2
    kinds = [parse_bounce(m) for m in messages]
    # new/ before cur/
    assert [b.return_path for b in kinds if b] == [
        "bounces+42-anu5332bnj@news.example.org",
        "bounces+8-vqlgfg7z5l@news.example.org",
    ]


def test_iter_mbox() -> None:
    messages = list(iter_mailbox(FIXTURES / "bounces.mbox"))
    assert len(messages) == 3
    parsed = [parse_bounce(m) for m in messages]
    assert [b.kind if b else None for b in parsed] == [BounceKind.SOFT, BounceKind.HARD, None]
    assert not messages[0].startswith(b"From ")


def test_maildir_skips_dot_files(tmp_path: Path) -> None:
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    (tmp_path / "new" / "1.a").write_bytes(b"Subject: one\n\nx\n")
    (tmp_path / "cur" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "tmp" / "2.b").write_bytes(b"Subject: half-written\n\n")
    assert list(iter_mailbox(tmp_path)) == [b"Subject: one\n\nx\n"]


def test_empty_mbox_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mbox"
    path.write_bytes(b"")
    assert list(iter_mailbox(path)) == []


@pytest.mark.parametrize("kind", ["plain_dir", "not_mbox", "missing"])
def test_iter_mailbox_refuses_other_paths(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "thing"
    if kind == "plain_dir":
        path.mkdir()
    elif kind == "not_mbox":
        path.write_bytes(b"Subject: a lone message\n\nhi\n")
    with pytest.raises(ValueError, match="thing"):
        iter_mailbox(path)  # at the call, not at the first message
