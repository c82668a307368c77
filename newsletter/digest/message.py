"""Build a digest's MIME bytes once, then personalise them per recipient by substitution (pure).

The template is a list of segments: literal bytes, placeholder names and base64 bodies. Each
body part takes the smaller transfer encoding (``publish.mailparts.transfer_encoding``):
quoted-printable with every placeholder on its own physical line, so substituting a QP-encoded
value never breaks line-length rules, or base64 (Japanese, Chinese...), whose literal stretches
are encoded once for each alignment and only the octets around a value per recipient
(``mime.b64``). Header placeholders take values that were encoded and checked here.
Building an EmailMessage per recipient would cost ten times more.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from newsletter.digest.links import PersonalLinks
from newsletter.digest.mime.b64 import Base64Body
from newsletter.digest.mime.qp import encode_qp_template, encode_qp_value
from newsletter.digest.render import PLACEHOLDER_NAMES, RenderedDigest
from newsletter.publish.mailparts import (
    DOT_ATOM,
    MAX_LIST_ID,
    TransferEncoding,
    transfer_encoding,
    url_headers,
)

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
Segment = bytes | str | Base64Body


@dataclass(frozen=True)
class Sender:
    """Who a list's digests come from."""

    name: str
    address: str
    reply_to: str | None
    list_id: str
    list_name: str
    # RFC 2369 headers naming the list's pages (List-Help, List-Subscribe, List-Archive),
    # values in angle brackets, from ``publish.mailparts.list_headers``
    list_headers: tuple[tuple[str, str], ...] = ()


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
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message["Auto-Submitted"] = "auto-generated"
    message["MIME-Version"] = "1.0"
    return (
        bytes(message).split(b"\r\n\r\n", 1)[0]
        + b"\r\n"
        + list_id_header(sender.list_name, sender.list_id)
        + url_headers(sender.list_headers)
        + _subject_header(digest.subject)
    )


def list_id_header(list_name: str, list_id: str) -> bytes:
    """The ``List-Id:`` header line (RFC 2919): the list's name as a phrase (atoms, a quoted
    string or RFC 2047 encoded words), then ``<list_id>``, folded within 78 columns; parsing
    it gives back ``display_name(list_name)`` and ``list_id``."""
    if len(list_id) > MAX_LIST_ID or not DOT_ATOM.fullmatch(list_id) or "." not in list_id:
        raise ValueError("invalid list id")
    return b"List-Id: " + _phrase_and_angle("List-Id", list_name, list_id) + b"\r\n"


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


def body_part(kind: str, body: str, markers: Mapping[str, str], *, prefix: str) -> list[Segment]:
    """One ``text/{kind}`` part (its headers and content) in the smaller transfer encoding.

    ``markers`` maps each marker name in ``body`` (``@@NAME@@``) to the value key it takes;
    the keys come back prefixed with ``prefix`` (``text:``, ``html:``) as placeholders."""
    encoding = transfer_encoding(body)
    header = (
        f'Content-Type: text/{kind}; charset="utf-8"\r\n'
        f"Content-Transfer-Encoding: {encoding.value}\r\n\r\n"
    ).encode("ascii")
    if encoding is TransferEncoding.QUOTED_PRINTABLE:
        encoded = encode_qp_template(body, tuple(markers))
        segments: list[Segment] = [header]
        segments += [f"{prefix}{markers[i]}" if isinstance(i, str) else i for i in encoded]
        return segments
    pattern = re.compile("@@(" + "|".join(re.escape(name) for name in markers) + ")@@")
    raw = body.replace("\r\n", "\n").replace("\n", "\r\n")  # canonical CRLF, RFC 2046
    pieces: list[bytes | str] = []
    start = 0
    for match in pattern.finditer(raw):
        pieces += [raw[start : match.start()].encode("utf-8"), prefix + markers[match.group(1)]]
        start = match.end()
    pieces.append(raw[start:].encode("utf-8"))
    return [header, Base64Body.of(pieces)]


def fill(
    segments: Sequence[Segment], headers: Mapping[str, bytes], body: Mapping[str, str]
) -> bytes:
    """The final bytes: header values as given, body values (text) encoded for their part."""
    out: list[bytes] = []
    qp: dict[str, bytes] = {}
    raw: dict[str, bytes] = {}
    for item in segments:
        if isinstance(item, bytes):
            out.append(item)
        elif isinstance(item, str):
            if item in headers:
                out.append(headers[item])
                continue
            if item not in qp:
                qp[item] = encode_qp_value(body[item])
            out.append(qp[item])
        else:
            if not raw:
                raw = {key: value.encode("utf-8") for key, value in body.items()}
            out += item.fill(raw)
    return b"".join(out)


def _merge(segments: Sequence[Segment]) -> tuple[Segment, ...]:
    merged: list[Segment] = []
    for item in segments:
        if isinstance(item, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + item
        else:
            merged.append(item)
    return tuple(merged)


def multipart(text: str, html_body: str, markers: Mapping[str, str], prefix: str) -> list[Segment]:
    """The ``multipart/alternative`` Content-Type line and body: text/plain, then text/html."""
    boundary = f"=_{prefix}_{secrets.token_hex(12)}"
    return [
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
        f"--{boundary}\r\n".encode(),
        *body_part("plain", text, markers, prefix="text:"),
        f"\r\n--{boundary}\r\n".encode(),
        *body_part("html", html_body, markers, prefix="html:"),
        f"\r\n--{boundary}--\r\n".encode(),
    ]


def build_template(digest: RenderedDigest, sender: Sender, *, date: datetime) -> MessageTemplate:
    """Build the message once for every recipient of this digest."""
    domain = sender.address.rsplit("@", 1)[1]
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
        *multipart(digest.text, digest.html, _BODY_NAMES, "nl"),
    ]
    return MessageTemplate(segments=_merge(segments), domain=domain)


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
# An encoded word is at most 75 characters; 39 octets make 52 base64 characters, 64 with
# "=?utf-8?b?" and "?=", so the first word fits after "List-Id: " within 78 columns.
_WORD_BYTES = 39


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
    return _phrase_and_angle("To", name, email)


def _phrase_and_angle(field: str, name: str, inner: str) -> bytes:
    """``phrase <inner>`` for the header ``field``, folded within 78 columns (``inner`` is
    ASCII without spaces; a name that is empty once cleaned gives ``inner`` alone for To:)."""
    shown = display_name(name)
    if not shown:
        return inner.encode("ascii") if field == "To" else f"<{inner}>".encode("ascii")
    start = len(field) + 2
    room = MAX_HEADER_LINE - start - len(inner) - 3
    # "=?" would be read as the start of an encoded word: such a name is encoded itself.
    if len(shown) <= room and "=?" not in shown:
        if _PLAIN_NAME.fullmatch(shown):
            return f"{shown} <{inner}>".encode("ascii")
        if _QUOTABLE.fullmatch(shown):
            quoted = shown.replace("\\", "\\\\").replace('"', '\\"')
            if len(quoted) + 2 <= room:
                return f'"{quoted}" <{inner}>'.encode("ascii")
    lines = [""]
    width = start
    for word in _encoded_words(shown):
        if lines[-1] and width + 1 + len(word) > MAX_HEADER_LINE:
            lines.append("")
            width = 0
        lines[-1] += f" {word}" if lines[-1] else word
        width += len(word) + 1
    tail = f"<{inner}>"
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
    headers = {
        "TO": _to_header(recipient),
        "MESSAGE_ID": _ascii(message_id, "Message-ID"),
        "UNSUB_URL": _ascii(links.unsubscribe_url, "unsubscribe URL"),
        "UNSUB_MAILTO": _ascii(links.unsubscribe_mailto, "unsubscribe address"),
    }
    body = {
        "text:NAME": name,
        "text:UNSUB_URL": links.unsubscribe_url,
        "text:PREFS_URL": links.preferences_url,
        "html:NAME": html.escape(name),
        "html:UNSUB_URL": html.escape(links.unsubscribe_url),
        "html:PREFS_URL": html.escape(links.preferences_url),
    }
    return fill(template.segments, headers, body)


def new_message_id(domain: str) -> str:
    """A unique Message-ID on the sending domain (without angle brackets)."""
    return f"{secrets.token_hex(12)}@{domain}"
