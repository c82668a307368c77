"""Hostile content and names against the message builder: markers, To:, Subject (issue 11)."""

from __future__ import annotations

import email
import email.policy
import re
from email.header import decode_header, make_header
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.digest.links import PersonalLinks
from newsletter.digest.message import (
    MAX_HEADER_LINE,
    Recipient,
    Sender,
    build_template,
    display_name,
    personalise,
    to_header,
)
from newsletter.digest.render import (
    PERSONAL_MARKERS,
    ArticleView,
    DigestView,
    SectionView,
    fill_markers,
    make_environment,
    render_digest,
)
from tests.conftest import NOW

SENDER = Sender(
    name="Example Newsroom",
    address="digest@news.example.org",
    reply_to=None,
    list_id="daily.news.example.org",
    list_name="The Example Daily",
)
LINKS = PersonalLinks(
    unsubscribe_url="https://news.example.test/u/SECRET-UNSUB-TOKEN",
    unsubscribe_mailto="unsubscribe+SECRET-UNSUB-TOKEN@news.example.org",
    preferences_url="https://news.example.test/p/SECRET-PREFS-TOKEN",
)
ENV = make_environment()
OLD_MARKERS = ("@@NAME@@", "@@UNSUB_URL@@", "@@PREFS_URL@@")


def digest_with(title: str, url: str = "https://feed.example/a", summary: str = "") -> DigestView:
    article = ArticleView(title, url, summary, "Feed", "25 Nov 2026")
    return DigestView(
        list_name="The Example Daily",
        sender_name="Example Newsroom",
        sender_address="digest@news.example.org",
        sections=(SectionView("tech", "Technology", (article,)),),
        view_url="https://news.example.test/v/1/abc",
    )


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def bodies(data: bytes) -> tuple[str, str]:
    text, html = parse(data).get_payload()
    return text.get_content(), html.get_content()


def send_one(view: DigestView, name: str = "Reader") -> bytes:
    template = build_template(render_digest(ENV, view), SENDER, date=NOW)
    return personalise(template, Recipient("reader@example.com", name, LINKS), "m@x.org")


def test_markers_in_feed_content_stay_text() -> None:
    # Issue 11 item 1: a feed's title, URL and summary carry every marker the template used.
    bait = " ".join(OLD_MARKERS)
    clean = send_one(digest_with("Plain title"))
    hostile = send_one(
        digest_with(
            f"Win {bait}",
            url="https://evil.example/collect?u=@@UNSUB_URL@@&p=@@PREFS_URL@@",
            summary=f"More: {bait} {'@@'.join(OLD_MARKERS)}",
        )
    )
    for data in (clean, hostile):
        text, html = bodies(data)
        # The personal links appear exactly where the template puts them, nowhere else.
        assert text.count("SECRET-PREFS-TOKEN") == 1 and html.count("SECRET-PREFS-TOKEN") == 1
        assert text.count("SECRET-UNSUB-TOKEN") == 1 and html.count("SECRET-UNSUB-TOKEN") == 1
    text, html = bodies(hostile)
    assert f"Win {bait}" in text and "collect?u=@@UNSUB_URL@@&amp;p=@@PREFS_URL@@" in html


def test_a_name_that_looks_like_a_marker_is_not_substituted_again() -> None:
    data = send_one(digest_with("Title"), name=" ".join(PERSONAL_MARKERS.values()))
    text, _html = bodies(data)
    assert text.count("SECRET-PREFS-TOKEN") == 1


def test_fill_markers_is_one_pass() -> None:
    marker = PERSONAL_MARKERS["name"]
    filled = fill_markers(
        f"{marker} {PERSONAL_MARKERS['preferences_url']}",
        {"name": PERSONAL_MARKERS["preferences_url"], "preferences_url": "P"},
    )
    assert filled == f"{PERSONAL_MARKERS['preferences_url']} P"


def test_markers_are_not_the_published_ones() -> None:
    assert not set(PERSONAL_MARKERS.values()) & set(OLD_MARKERS)
    assert all(re.fullmatch(r"@@[A-Z_]+\.[0-9a-f]{24}@@", m) for m in PERSONAL_MARKERS.values())


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def parsed_to(value: bytes) -> tuple[str, str]:
    """The one address a reader's client sees: the email package finds the mailbox; the
    display name is decoded by RFC 2047's rule (whitespace between encoded words is dropped,
    which CPython's address parser does not do, so it is decoded with ``decode_header``)."""
    message = email.message_from_bytes(b"To: " + value + b"\r\n\r\n", policy=email.policy.default)
    addresses = message["To"].addresses
    assert len(addresses) == 1, value
    address = addresses[0]
    unfolded = value.decode("ascii").replace("\r\n", "")
    shown = unfolded.rsplit("<", 1)[0].strip() if unfolded.endswith(">") else ""
    if shown.startswith("=?"):
        name = str(make_header(decode_header(shown)))
        assert address.display_name.replace(" ", "") == name.replace(" ", "")
    else:
        name = address.display_name
    return name, address.addr_spec


@pytest.mark.parametrize(
    "name",
    [
        "x" * 70 + ", attacker@evil.example:",  # issue 11 item 4
        "To: a, b <evil@evil.example>, " + "y" * 60,
        '"Quoted" \\ back, slash',
        "Zoë O'Brien, Ph.D.: " + "é" * 80,
        "A" * 500,
        "=?utf-8?q?evil=40evil.example?=",
        "a\tb\x00c\x7f",
    ],
)
def test_to_header_names_one_recipient(name: str) -> None:
    value = to_header(name, "reader@example.com")
    assert parsed_to(value) == (display_name(name), "reader@example.com")
    lines = (b"To: " + value).split(b"\r\n")
    assert all(len(line) <= MAX_HEADER_LINE for line in lines)
    assert b"To: To:" not in b"To: " + value


ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
ADDRESSES = st.builds(
    lambda local, domain: f"{local}@{domain}.example",
    st.text(alphabet=ATEXT, min_size=1, max_size=40),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", fullmatch=True),
)
NAMES = st.text(
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)), st.sampled_from(':,;<>"\\@()[]. \t')
    ),
    max_size=200,
).filter(lambda n: "\r" not in n and "\n" not in n)


@settings(max_examples=300, deadline=None)
@given(name=NAMES, address=ADDRESSES)
def test_to_header_parses_back_to_the_intended_address(name: str, address: str) -> None:
    value = to_header(name, address)
    assert parsed_to(value) == (display_name(name), address)
    assert all(len(line) <= MAX_HEADER_LINE for line in (b"To: " + value).split(b"\r\n"))


@pytest.mark.parametrize("address", ["a@b", "a b@c.org", "a,b@c.org", '"a"@c.org', "é@c.org"])
def test_to_header_refuses_addresses_it_cannot_write_plainly(address: str) -> None:
    with pytest.raises(ValueError):
        to_header("Name", address)


@settings(max_examples=100, deadline=None)
@given(title=st.text(min_size=0, max_size=4000))
def test_no_subject_line_passes_the_limit(title: str) -> None:
    # Issue 11 item 6: an unbroken 3,000-character title made a 3,001-character Subject line.
    data = send_one(digest_with(title or "x"))
    assert all(len(line) <= MAX_HEADER_LINE for line in header_lines(data))
    subject = str(parse(data)["Subject"])
    assert subject.startswith("The Example Daily:") and len(subject) <= 200


def test_a_long_unbroken_title_is_cut() -> None:
    data = send_one(digest_with("A" * 3000))
    assert max(len(line) for line in header_lines(data)) <= MAX_HEADER_LINE
    assert str(parse(data)["Subject"]).endswith("...")
