"""Bounce parsing: RFC 3464 delivery status notifications, common non-standard bounces.

Parsing reads what a bounce claims; it proves nothing. ``newsletter.inbound.bounces`` acts on a
bounce only when its return path carries our VERP signature or the Message-ID of the returned
original is one we sent to the named recipient.
"""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import mailbox
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.header import Header, decode_header
from enum import StrEnum
from pathlib import Path

from newsletter.delivery.replies import (
    ReplyKind,
    classify_reply,
    classify_status,
    enhanced_status,
)


class BounceKind(StrEnum):
    """What a bounce says about the address."""

    HARD = "hard"  # permanent failure (5.x.x)
    SOFT = "soft"  # temporary or persistent transient failure (4.x.x), or a delay notice
    NONE = "none"  # a success notice (delivered, relayed, expanded)


class Action(StrEnum):
    """RFC 3464 Action field."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True)
class RecipientStatus:
    """The outcome for one recipient of the bounced message."""

    final_recipient: str | None
    original_recipient: str | None
    action: Action
    status: str | None  # "5.1.1"
    diagnostic: str | None  # "smtp; 550 5.1.1 <a@b>: Recipient address rejected"
    kind: BounceKind

    @property
    def recipient(self) -> str | None:
        """The subscriber's address as we sent it, if the bounce says."""
        return self.original_recipient or self.final_recipient

    @property
    def reply_kind(self) -> ReplyKind:
        """The same outcome in the terms of an SMTP reply (BAD_MAILBOX, POLICY, ...)."""
        diagnostic = _strip_type(self.diagnostic or "")
        code = re.match(r"([245]\d\d)\b", diagnostic)
        if self.status is not None and (code is None or code[1][0] == self.status[0]):
            return classify_status(self.status)
        if code is not None:
            return classify_reply(int(code[1]), diagnostic[3:])
        if self.kind is BounceKind.HARD:
            return ReplyKind.PERMANENT
        return ReplyKind.TEMPORARY if self.kind is BounceKind.SOFT else ReplyKind.SENT


@dataclass(frozen=True)
class Bounce:
    """A parsed bounce: where it was sent (our return path) and what happened."""

    # The envelope addresses the bounce was delivered to, best first (X-Original-To,
    # Delivered-To, Envelope-To, To): one is the VERP return path of the failed delivery.
    return_paths: tuple[str, ...]
    recipients: tuple[RecipientStatus, ...]
    envelope_id: str | None  # DSN Original-Envelope-Id, if ENVID was set when sending
    standard: bool  # True for an RFC 3464 report, False for a heuristic reading of text
    # Message-IDs (without angle brackets) of the returned original message, if it came back.
    original_message_ids: tuple[str, ...] = ()

    @property
    def return_path(self) -> str | None:
        """The most likely return path, if any."""
        return self.return_paths[0] if self.return_paths else None

    @property
    def kind(self) -> BounceKind:
        """HARD if any recipient failed for good, else SOFT if any is delayed, else NONE."""
        kinds = {r.kind for r in self.recipients}
        for kind in (BounceKind.HARD, BounceKind.SOFT):
            if kind in kinds:
                return kind
        return BounceKind.NONE


_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_SKIP_TYPES = ("message/rfc822", "text/rfc822-headers", "message/global", *_DSN_TYPES)
_BOUNCE_SENDER = re.compile(r"mailer-daemon|postmaster|mail delivery", re.IGNORECASE)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|delivery (?:status notification|failure|has failed|failed|delay)"
    r"|mail delivery (?:failed|failure|system)|returned mail|failure notice|non-?delivery"
    r"|delayed mail|warning: message .* delayed|could not be delivered",
    re.IGNORECASE,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"automatic reply|auto[- ]?re(?:ply|sponse)|out of (?:the )?office|vacation", re.IGNORECASE
)
# Where bounce text stops and the copy of our own message starts: codes and addresses in
# the copy must not be taken for the bounce's.
_ORIGINAL_FOLLOWS = re.compile(
    r"^.*(?:this is a copy of the message|original message follows|below this line is a copy"
    r"|original message headers|-{3,} ?original message ?-{3,}).*$|^received: ",
    re.IGNORECASE | re.MULTILINE,
)
# Only codes a server really sends: a bare "465" is far more likely a port than a reply.
_CODE = r"(4[25]\d|5[0-5]\d)"
# "550 5.1.1 ..." or "550-5.1.1 ..." anywhere is a reply; a bare "550 ..." only where a
# reply is quoted: at the start of a line or after "said:" / "error:".
_REPLY_WITH_STATUS = re.compile(
    r"(?<![\d.])(" + _CODE + r"[ -]#?([45])\.([0-7])\.(\d{1,3})(?![\d.]*\d).*)"
)
_REPLY_BARE = re.compile(
    r"(?:^[ \t>]*|said:?\s+|error:?\s+)(" + _CODE + r"(?:[ -]|:\s).*)",
    re.IGNORECASE | re.MULTILINE,
)
_TYPED_VALUE = re.compile(r"\s*[A-Za-z0-9][A-Za-z0-9.-]*\s*;\s*(.*)", re.DOTALL)
_PERMANENT_TEXT = re.compile(
    r"permanent(?:ly)? (?:error|failure|fatal)|giving up|retry time(?:out)? exceeded"
    r"|could not be delivered|was not delivered|delivery (?:has )?failed"
    r"|user unknown|no such (?:user|mailbox)|does not exist|doesn't have an? .* account",
    re.IGNORECASE,
)
_DELAY_TEXT = re.compile(
    r"has not yet been delivered|not been delivered yet|delayed|will (?:be )?retr(?:y|ied)"
    r"|still (?:being )?(?:retried|trying)|delivery delay",
    re.IGNORECASE,
)
_ADDRESS = r"[^\s<>@\"(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+"


#: No bounce nests more than a few parts; the stdlib parser recurses per level (3,000 levels
#: exhaust the stack), so a message with more multipart parts than this is not read at all.
MAX_MULTIPARTS = 50


def parseable(message: bytes) -> bool:
    """Whether a message is shaped like mail the stdlib parser can read safely."""
    return message[:10_000_000].lower().count(b"multipart/") <= MAX_MULTIPARTS


def parse_bounce(message: bytes) -> Bounce | None:
    """Parse a bounce; None if the message is not recognisably one (e.g. an auto-reply)."""
    if not parseable(message):
        return None
    try:
        return _parse_bounce(message)
    except RecursionError:  # nesting the count above did not see (message/rfc822 chains)
        return None


def _parse_bounce(message: bytes) -> Bounce | None:
    msg = email.message_from_bytes(message, policy=email.policy.compat32)
    return_paths = _return_paths(msg)
    report = _find_part(msg, _DSN_TYPES)
    if report is not None:
        blocks = _dsn_blocks(report)
        # The per-message block comes first, but some MTAs leave it out: tell the blocks
        # apart by their fields rather than by position.
        recipients = tuple(r for r in (_recipient_from_block(b) for b in blocks) if r is not None)
        envelope_ids = [b["original-envelope-id"] for b in blocks if b.get("original-envelope-id")]
        if recipients:
            return Bounce(
                return_paths=return_paths,
                recipients=recipients,
                envelope_id=envelope_ids[0] if envelope_ids else None,
                standard=True,
                original_message_ids=original_message_ids(msg),
            )
    return _heuristic_bounce(msg, return_paths)


_MESSAGE_ID_LINE = re.compile(r"^Message-ID:[ \t]*<([^<>\s]{1,500})>", re.IGNORECASE | re.MULTILINE)


def original_message_ids(msg: email.message.Message) -> tuple[str, ...]:
    """The Message-IDs of the original message a bounce returns (message/rfc822 or
    text/rfc822-headers part, or quoted in the text after "original message follows")."""
    found: list[str] = []
    stack = [msg]  # a loop, not recursion: a hostile message may nest parts deeply
    while stack:
        part = stack.pop()
        kind = part.get_content_type()
        if kind == "message/rfc822":
            for sub in _subparts(part):
                found += _MESSAGE_ID_LINE.findall(f"Message-ID: {_text(sub.get('Message-ID', ''))}")
        elif part.is_multipart():
            stack.extend(reversed(_subparts(part)))
        elif kind == "text/rfc822-headers":
            found += _MESSAGE_ID_LINE.findall(_body(part).decode("utf-8", "replace"))
        elif kind == "text/plain":
            text = _body(part).decode("utf-8", "replace")
            cut = _ORIGINAL_FOLLOWS.search(text)
            found += _MESSAGE_ID_LINE.findall(text[cut.start() :]) if cut else []
    return tuple(dict.fromkeys(found))


def iter_mailbox(path: Path) -> Iterator[bytes]:
    """Yield the raw messages of a Maildir (new/ and cur/) or an mbox file."""
    # Checked here, not in the generator, so a wrong path fails when the call is made.
    if path.is_dir():
        if not ((path / "new").is_dir() and (path / "cur").is_dir()):
            raise ValueError(f"{path} is a directory but not a Maildir (no cur/ and new/)")
        return _iter_maildir(path)
    if not path.is_file():
        raise ValueError(f"{path} is neither a Maildir nor an mbox file")
    with path.open("rb") as handle:
        head = handle.read(5)
    if head and head != b"From ":
        raise ValueError(f"{path} is neither a Maildir nor an mbox file")
    return _iter_mbox(path)


def _iter_maildir(path: Path) -> Iterator[bytes]:
    for sub in ("new", "cur"):
        for entry in sorted((path / sub).iterdir()):
            # Dot files are editors' and MUAs' leftovers, never messages (Maildir spec).
            if entry.is_file() and not entry.name.startswith("."):
                yield entry.read_bytes()


def _iter_mbox(path: Path) -> Iterator[bytes]:
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            yield box.get_bytes(key)
    finally:
        box.close()


def _text(value: object) -> str:
    """A header value as clean text: encoded words decoded, raw 8-bit read as UTF-8."""
    try:
        # compat32 hands out 8-bit values as Header objects with "unknown-8bit" chunks.
        chunks = decode_header(value if isinstance(value, Header) else str(value))
    except (ValueError, LookupError, UnicodeError):
        chunks = [(str(value), None)]
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            # Undecodable bytes come as surrogates; they must not leak into the ledger.
            out.append(chunk.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
            continue
        try:
            out.append(chunk.decode(charset or "utf-8", "replace"))
        except (LookupError, ValueError):  # "unknown-8bit" and other unknown charsets
            out.append(chunk.decode("utf-8", "replace"))
    return "".join(out).strip()


def _strip_type(value: str) -> str:
    """Drop the address or diagnostic type: "rfc822; a@b" -> "a@b"."""
    typed = _TYPED_VALUE.fullmatch(value)
    return (typed[1] if typed else value).strip()


def _address(value: str | None) -> str | None:
    if not value:
        return None
    address = _strip_type(value).strip("<> \t")
    return address or None


def _return_paths(msg: email.message.Message) -> tuple[str, ...]:
    found: list[str] = []
    for header in ("X-Original-To", "Delivered-To", "Envelope-To", "To"):
        for value in msg.get_all(header, []):
            for _name, address in email.utils.getaddresses([_text(value)]):
                if address and address not in found:
                    found.append(address)
    return tuple(found)


def _subparts(part: email.message.Message) -> list[email.message.Message]:
    # get_payload() on a leaf part can raise (a malformed charset with 8-bit data), so only
    # containers are asked for theirs.
    if not part.is_multipart():
        return []
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [sub for sub in payload if isinstance(sub, email.message.Message)]


def _body(part: email.message.Message) -> bytes:
    """A leaf part's body, transfer encoding undone."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _find_part(msg: email.message.Message, types: tuple[str, ...]) -> email.message.Message | None:
    if msg.get_content_type() in types:
        return msg
    for sub in _subparts(msg):
        if sub.get_content_type() == "message/rfc822":
            continue  # a forwarded or returned message is not this bounce's report
        found = _find_part(sub, types)
        if found is not None:
            return found
    return None


def _fields(text: str) -> list[dict[str, str]]:
    """Parse header-style blocks separated by blank lines, unfolding continuation lines."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last = ""
    for line in re.split(r"\r?\n", text):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, ""
        elif line[0] in " \t" and last:
            current[last] += " " + line.strip()
        elif ":" in line:
            name, _sep, value = line.partition(":")
            last = name.strip().lower()
            current.setdefault(last, value.strip())
    if current:
        blocks.append(current)
    return blocks


def _dsn_blocks(part: email.message.Message) -> list[dict[str, str]]:
    if not part.is_multipart():
        return _fields(_body(part).decode("utf-8", "replace"))
    # The parser reads message/delivery-status as one message per block; other types it
    # reads as one message whose body holds the remaining blocks.
    blocks: list[dict[str, str]] = []
    for sub in _subparts(part):
        block = {name.lower(): " ".join(_text(v).split()) for name, v in sub.items()}
        if block:
            blocks.append(block)
        if not sub.is_multipart():
            blocks.extend(_fields(_body(sub).decode("utf-8", "replace")))
    return blocks


def _action_from(value: str, status: str | None) -> Action | None:
    try:
        return Action(value.split()[0].lower())
    except (ValueError, IndexError):
        pass
    if status is None:
        return None
    return {"5": Action.FAILED, "4": Action.DELAYED, "2": Action.DELIVERED}[status[0]]


def _kind(action: Action, status: str | None) -> BounceKind:
    if action in (Action.DELIVERED, Action.RELAYED, Action.EXPANDED):
        return BounceKind.NONE
    if status is not None and status[0] == "2":
        return BounceKind.NONE
    # A 4.x.x status with Action: failed is a "persistent transient failure" (mailbox full
    # for days): the message is lost, but the address is not known to be bad.
    if action is Action.FAILED and (status is None or status[0] == "5"):
        return BounceKind.HARD
    return BounceKind.SOFT


def _recipient_from_block(block: dict[str, str]) -> RecipientStatus | None:
    final = _address(block.get("final-recipient"))
    original = _address(block.get("original-recipient"))
    diagnostic = block.get("diagnostic-code") or None
    status = enhanced_status(block.get("status", "")) or enhanced_status(diagnostic or "")
    action = _action_from(block.get("action", ""), status)
    if action is None or (final is None and original is None):
        return None
    return RecipientStatus(
        final_recipient=final,
        original_recipient=original,
        action=action,
        status=status,
        diagnostic=diagnostic,
        kind=_kind(action, status),
    )


def _bounce_text(msg: email.message.Message) -> str:
    """The human-readable text of a bounce, without the copy of the original message."""
    parts: list[str] = []

    def collect(part: email.message.Message) -> None:
        if part.get_content_type() in _SKIP_TYPES:
            return
        if part.is_multipart():
            for sub in _subparts(part):
                collect(sub)
        elif part.get_content_maintype() == "text":
            raw = _body(part)
            charset = part.get_content_charset() or "utf-8"
            try:
                text = raw.decode(charset, "replace")
            except (LookupError, ValueError):  # unknown or malformed charset name
                text = raw.decode("utf-8", "replace")
            if part.get_content_subtype() == "html":
                text = re.sub(r"<[^>]*>", " ", text)
            parts.append(text)

    collect(msg)
    text = "\n".join(parts)
    cut = _ORIGINAL_FOLLOWS.search(text)
    return text[: cut.start()] if cut else text


def _heuristic_bounce(msg: email.message.Message, return_paths: tuple[str, ...]) -> Bounce | None:
    failed_header = _text(msg.get("X-Failed-Recipients", ""))
    subject = _text(msg.get("Subject", ""))
    bounce_like = (
        bool(failed_header)
        or msg.get_content_type() == "multipart/report"
        or bool(_BOUNCE_SENDER.search(_text(msg.get("From", ""))))
        or bool(_BOUNCE_SUBJECT.search(subject))
        # RFC 3834 auto-replies also come from the null sender: they are not bounces.
        or (_text(msg.get("Return-Path", "")) == "<>" and not _AUTO_REPLY_SUBJECT.search(subject))
    )
    if not bounce_like:
        return None
    text = _bounce_text(msg)
    status = None
    diagnostic = None
    reply = _REPLY_WITH_STATUS.search(text)
    if reply is not None:
        diagnostic = " ".join(reply[1].split())
        # RFC 3463: a status whose class contradicts the basic code is ignored.
        if reply[3] == reply[2][0]:
            status = f"{reply[3]}.{int(reply[4])}.{int(reply[5])}"
    else:
        reply = _REPLY_BARE.search(text)
        if reply is not None:
            diagnostic = " ".join(reply[1].split())
        else:
            status = enhanced_status(text)
    code_class = status[0] if status else (reply[2][0] if reply else None)
    permanent = bool(_PERMANENT_TEXT.search(text))
    if code_class == "5" or (code_class is None and permanent):
        action = Action.FAILED
    elif code_class == "4" or _DELAY_TEXT.search(text):
        action = Action.FAILED if permanent else Action.DELAYED
    else:
        return None
    kind = _kind(action, status)
    if code_class == "4":
        kind = BounceKind.SOFT  # even when the MTA gave up: the address may be fine
    addresses = [a for _n, a in email.utils.getaddresses([failed_header]) if a]
    if not addresses:
        # Postfix and qmail: "<user@example.com>: ..."; Exim: the address alone, indented.
        found = re.search(r"<(" + _ADDRESS + r")>:|^[ \t]+(" + _ADDRESS + r")[ \t]*$", text, re.M)
        if found:
            addresses = [found[1] or found[2]]
    none: list[str | None] = [None]
    recipients = tuple(
        RecipientStatus(
            final_recipient=address,
            original_recipient=None,
            action=action,
            status=status,
            diagnostic=diagnostic,
            kind=kind,
        )
        for address in (addresses or none)
    )
    return Bounce(
        return_paths=return_paths,
        recipients=recipients,
        envelope_id=None,
        standard=False,
        original_message_ids=original_message_ids(msg),
    )
