"""Build a digest's MIME bytes once, then personalise them per recipient by substitution (pure).

The template is a list of segments: literal bytes and placeholder names. Bodies are
quoted-printable with every placeholder on its own physical line, so substituting a QP-encoded
value never breaks line-length rules; header placeholders take values that were encoded and
checked here. Building an EmailMessage per recipient would cost ten times more.

Body placeholders are the render module's per-process markers, which no content can contain;
the To: header is built here from encoded words or a quoted string (property-tested against
the email package's parser), and the Subject is cut and folded so no line passes 78 octets.
"""

from __future__ import annotations

import base64
import html
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from newsletter.delivery.qp import encode_qp_template, encode_qp_value, join_segments
from newsletter.links import PersonalLinks
from newsletter.render import PLACEHOLDER_NAMES, RenderedDigest

SMTP_POLICY = policy.SMTP.clone(max_line_length=78)
# The marker names (with the process's nonce) mapped to the stable names values are keyed by.
_BODY_NAMES = {
    PLACEHOLDER_NAMES["name"]: "NAME",
    PLACEHOLDER_NAMES["unsubscribe_url"]: "UNSUB_URL",
    PLACEHOLDER_NAMES["preferences_url"]: "PREFS_URL",
}
BODY_PLACEHOLDERS = tuple(_BODY_NAMES)
#: Longest Subject kept, in characters, before it is cut at a word and ends with "...".
MAX_SUBJECT = 200
MAX_HEADER_LINE = 78
Segment = bytes | str


@dataclass(frozen=True)
class Sender:
    """Who a list's digests come from."""

    name: str
    address: str
    reply_to: str | None
    list_id: str
    list_name: str


@dataclass(frozen=True)
class Recipient:
    """The per-recipient values substituted into a message template."""

    email: str
    name: str
    links: PersonalLinks


@dataclass(frozen=True)
class MessageTemplate:
    """A digest's message as segments of bytes and placeholder names."""

    segments: tuple[Segment, ...]
    domain: str


def _header_block(digest: RenderedDigest, sender: Sender, date: datetime) -> bytes:
    """The shared headers, encoded and folded by the email package (which refuses CR/LF)."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = Address(sender.name, addr_spec=sender.address)
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Date"] = format_datetime(date)
    message["List-Id"] = f"{sender.list_name} <{sender.list_id}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message["Auto-Submitted"] = "auto-generated"
    message["MIME-Version"] = "1.0"
    return bytes(message).split(b"\r\n\r\n", 1)[0] + b"\r\n" + _subject_header(digest.subject)


def cut_subject(subject: str, limit: int = MAX_SUBJECT) -> str:
    """The subject on one line (whitespace runs collapsed, controls dropped), cut at a word
    boundary to at most ``limit`` characters."""
    text = " ".join(_printable(subject).split())  # no CR/LF can reach the header
    if len(text) <= limit:
        return text
    cut = text[: limit - 3]
    if " " in cut[limit // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + "..."


def _subject_header(subject: str) -> bytes:
    """Cut the subject, then fold it within 78 columns: at spaces when it is ASCII with no long
    word, else as UTF-8 encoded words, which the email package splits anywhere."""
    text = cut_subject(subject)
    plain = text.isascii() and all(len(word) <= 60 for word in text.split(" "))
    charset = "us-ascii" if plain else "utf-8"
    folded = Header(text, charset=charset, maxlinelen=MAX_HEADER_LINE, header_name="Subject")
    return f"Subject: {folded.encode(linesep=chr(13) + chr(10))}\r\n".encode("ascii")


def _printable(value: str) -> str:
    """``value`` without control characters and lone surrogates (kept as spaces for tabs)."""
    if value.isprintable():
        return value
    return "".join(
        " " if ch in "\t" else ch
        for ch in value
        if unicodedata.category(ch) not in ("Cc", "Cs") or ch == "\t"
    )


def _rename(segments: Sequence[Segment], prefix: str) -> list[Segment]:
    return [
        f"{prefix}{_BODY_NAMES.get(item, item)}" if isinstance(item, str) else item
        for item in segments
    ]


def build_template(digest: RenderedDigest, sender: Sender, *, date: datetime) -> MessageTemplate:
    """Build the message once for every recipient of this digest."""
    boundary = f"=_nl_{secrets.token_hex(12)}"
    domain = sender.address.rsplit("@", 1)[1]
    part_header = (
        'Content-Type: text/{kind}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    segments: list[Segment] = [
        _header_block(digest, sender, date),
        b"To: ",
        "TO",
        b"\r\nMessage-ID: <",
        "MESSAGE_ID",
        b">\r\nList-Unsubscribe: <",
        "UNSUB_URL",
        b">,\r\n <mailto:",
        "UNSUB_MAILTO",
        b">\r\n",
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
        f"--{boundary}\r\n{part_header.format(kind='plain')}".encode(),
    ]
    segments += _rename(encode_qp_template(digest.text, BODY_PLACEHOLDERS), "text:")
    segments.append(f"\r\n--{boundary}\r\n{part_header.format(kind='html')}".encode())
    segments += _rename(encode_qp_template(digest.html, BODY_PLACEHOLDERS), "html:")
    segments.append(f"\r\n--{boundary}--\r\n".encode())
    merged: list[Segment] = []
    for item in segments:
        if isinstance(item, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + item
        else:
            merged.append(item)
    return MessageTemplate(segments=tuple(merged), domain=domain)


# A display name written as it is: atoms separated by single spaces. An address: a dot-atom
# local part and an ASCII domain (non-ASCII domains arrive IDNA-encoded; non-ASCII local parts
# are refused at sign-up).
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_PLAIN_NAME = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)*")
_PLAIN_ADDRESS = re.compile(
    rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_QUOTABLE = re.compile(r"[\x20-\x7e]+")
# An encoded word is at most 75 characters: "=?utf-8?b?" + 60 base64 characters + "?=".
_WORD_BYTES = 45


def _encoded_words(name: str) -> list[str]:
    """``name`` as RFC 2047 base64 encoded words, never splitting a character."""
    words: list[str] = []
    chunk = b""
    for char in name:
        data = char.encode("utf-8")
        if len(chunk) + len(data) > _WORD_BYTES:
            words.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += data
    words.append(chunk.decode("utf-8"))
    return [f"=?utf-8?b?{base64.b64encode(w.encode()).decode('ascii')}?=" for w in words]


def display_name(name: str) -> str:
    """The name as it will read in the To: header: one line, no control characters."""
    return " ".join(_printable(name).split())


def to_header(name: str, email: str) -> bytes:
    """The value of a To: header for one recipient, folded within 78 columns.

    Written here rather than by the email package, whose folder drops the quotes of a long
    display name (``To: a, b <x@y>`` then names two recipients). A plain name goes as it is,
    other printable ASCII as a quoted string when it fits on the line, anything else as
    encoded words (which cannot contain ``,``, ``:``, ``<`` or a quote): parsing the header
    gives back exactly ``display_name(name)`` and ``email``.
    """
    # The common case first (about 2 microseconds): a short plain name, a plain address.
    if len(name) + len(email) < 64 and "=?" not in name and _PLAIN_ADDRESS.fullmatch(email):
        if not name:
            return email.encode("ascii")
        if _PLAIN_NAME.fullmatch(name):
            return f"{name} <{email}>".encode("ascii")
    if "\r" in name or "\n" in name:
        raise ValueError("line break in recipient name")
    if len(email) > 254 or not _PLAIN_ADDRESS.fullmatch(email):
        raise ValueError("recipient address is not a plain ASCII address")
    shown = display_name(name)
    if not shown:
        return email.encode("ascii")
    room = MAX_HEADER_LINE - len("To: ") - len(email) - 3
    # "=?" would be read as the start of an encoded word: such a name is encoded itself.
    if len(shown) <= room and "=?" not in shown:
        if _PLAIN_NAME.fullmatch(shown):
            return f"{shown} <{email}>".encode("ascii")
        if _QUOTABLE.fullmatch(shown):
            quoted = shown.replace("\\", "\\\\").replace('"', '\\"')
            if len(quoted) + 2 <= room:
                return f'"{quoted}" <{email}>'.encode("ascii")
    lines = [""]
    width = len("To: ")
    for word in _encoded_words(shown):
        if lines[-1] and width + 1 + len(word) > MAX_HEADER_LINE:
            lines.append("")
            width = 0
        lines[-1] += f" {word}" if lines[-1] else word
        width += len(word) + 1
    tail = f"<{email}>"
    if width + 1 + len(tail) > MAX_HEADER_LINE:
        lines.append(tail)
    else:
        lines[-1] += f" {tail}"
    return "\r\n ".join(lines).encode("ascii")


def _to_header(recipient: Recipient) -> bytes:
    return to_header(recipient.name, recipient.email)


def _ascii(value: str, what: str) -> bytes:
    if any(ch in value for ch in "\r\n<> "):
        raise ValueError(f"unsafe character in {what}")
    return value.encode("ascii")


def personalise(template: MessageTemplate, recipient: Recipient, message_id: str) -> bytes:
    """The final bytes for one recipient."""
    name = recipient.name or "there"
    links = recipient.links
    values = {
        "TO": _to_header(recipient),
        "MESSAGE_ID": _ascii(message_id, "Message-ID"),
        "UNSUB_URL": _ascii(links.unsubscribe_url, "unsubscribe URL"),
        "UNSUB_MAILTO": _ascii(links.unsubscribe_mailto, "unsubscribe address"),
        "text:NAME": encode_qp_value(name),
        "text:UNSUB_URL": encode_qp_value(links.unsubscribe_url),
        "text:PREFS_URL": encode_qp_value(links.preferences_url),
        "html:NAME": encode_qp_value(html.escape(name)),
        "html:UNSUB_URL": encode_qp_value(html.escape(links.unsubscribe_url)),
        "html:PREFS_URL": encode_qp_value(html.escape(links.preferences_url)),
    }
    return join_segments(template.segments, values)


def new_message_id(domain: str) -> str:
    """A unique Message-ID on the sending domain (without angle brackets)."""
    return f"{secrets.token_hex(12)}@{domain}"
