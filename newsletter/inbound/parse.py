"""Provider payloads and ARF reports to ``ProviderEvent`` values (pure).

Only what changes the audience is kept: permanent and temporary failures and complaints.
Delay warnings (SendGrid ``deferred``, SES delivery delays) are not bounces and are dropped,
as are deliveries, opens and clicks.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    """What a provider says happened to one recipient."""

    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class ProviderEvent:
    """One recipient's bounce or complaint, with our Message-ID when the provider gives it."""

    kind: EventKind
    email: str
    message_id: str | None
    detail: str = ""


def _msgid(value: object) -> str | None:
    """A Message-ID without its angle brackets (as the ledger stores it)."""
    text = str(value or "").strip().removeprefix("<").removesuffix(">").strip()
    return text or None


def _dict(value: object) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (hostile payloads stay harmless)."""
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return " ".join(str(value or "").split())[:500]


def parse_mailgun(payload: dict[str, Any]) -> list[ProviderEvent]:
    """Mailgun's ``event-data``: ``failed`` (permanent or temporary) and ``complained``."""
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise ValueError("no event-data object")
    event, recipient = data.get("event"), str(data.get("recipient") or "")
    headers = _dict(_dict(data.get("message")).get("headers"))
    message_id = _msgid(headers.get("message-id"))
    status = _dict(data.get("delivery-status"))
    detail = _text(status.get("description") or status.get("message") or status.get("code"))
    if event == "failed" and recipient:
        kind = EventKind.HARD if data.get("severity") == "permanent" else EventKind.SOFT
        return [ProviderEvent(kind, recipient, message_id, detail)]
    if event == "complained" and recipient:
        return [ProviderEvent(EventKind.COMPLAINT, recipient, message_id, "complaint")]
    return []


def parse_sendgrid(payload: list[Any]) -> list[ProviderEvent]:
    """SendGrid's array of events: ``bounce`` (type bounce: hard, blocked: soft), ``spamreport``."""
    events = []
    for item in payload:
        if not isinstance(item, dict) or not item.get("email"):
            continue
        message_id = _msgid(item.get("smtp-id"))
        detail = _text(f"{item.get('status', '')} {item.get('reason', '')}")
        if item.get("event") == "bounce":
            kind = EventKind.SOFT if item.get("type") == "blocked" else EventKind.HARD
            events.append(ProviderEvent(kind, str(item["email"]), message_id, detail))
        elif item.get("event") == "spamreport":
            events.append(ProviderEvent(EventKind.COMPLAINT, str(item["email"]), message_id))
    return events


POSTMARK_HARD = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification"}
POSTMARK_SOFT = {"SoftBounce", "Transient", "DnsError", "MailboxFull"}


def parse_postmark(payload: dict[str, Any]) -> list[ProviderEvent]:
    """Postmark's ``Bounce`` (by ``Type``) and ``SpamComplaint`` records."""
    address = str(payload.get("Email") or "")
    record = payload.get("RecordType")
    if not address:
        return []
    if record == "SpamComplaint":
        return [ProviderEvent(EventKind.COMPLAINT, address, None, "spam complaint")]
    if record == "Bounce":
        detail = _text(payload.get("Description") or payload.get("Details"))
        if payload.get("Type") in POSTMARK_HARD:
            return [ProviderEvent(EventKind.HARD, address, None, detail)]
        if payload.get("Type") in POSTMARK_SOFT:
            return [ProviderEvent(EventKind.SOFT, address, None, detail)]
    return []


def parse_ses(notification: dict[str, Any]) -> list[ProviderEvent]:
    """An SES notification (or event): ``Bounce`` and ``Complaint``."""
    kind = notification.get("notificationType") or notification.get("eventType")
    message_id = _msgid(
        _dict(_dict(notification.get("mail")).get("commonHeaders")).get("messageId")
    )
    if kind == "Bounce":
        bounce = _dict(notification.get("bounce"))
        hard = bounce.get("bounceType") == "Permanent"
        return [
            ProviderEvent(
                EventKind.HARD if hard else EventKind.SOFT,
                str(r.get("emailAddress")),
                message_id,
                _text(r.get("diagnosticCode") or r.get("status")),
            )
            for r in map(_dict, _list(bounce.get("bouncedRecipients")))
            if r.get("emailAddress")
        ]
    if kind == "Complaint":
        complaint = _dict(notification.get("complaint"))
        return [
            ProviderEvent(EventKind.COMPLAINT, str(r.get("emailAddress")), message_id, "complaint")
            for r in map(_dict, _list(complaint.get("complainedRecipients")))
            if r.get("emailAddress")
        ]
    return []


def _fields(part: Message) -> Message:
    payload = part.get_payload()
    if isinstance(payload, list):  # parsed as a message container: headers in its first item
        return payload[0] if payload and isinstance(payload[0], Message) else Message()
    text = part.get_payload(decode=True) or b""
    if isinstance(text, bytes):
        return HeaderParser().parsestr(text.decode("utf-8", "replace"))
    return Message()


def parse_arf(raw: bytes) -> ProviderEvent | None:
    """An RFC 5965 abuse report: the complained recipient and the Message-ID of the original,
    or None when the message is not a feedback report."""
    report = email.message_from_bytes(raw, policy=email.policy.compat32)
    if report.get_content_type() != "multipart/report":
        return None
    if (report.get_param("report-type") or "").lower() != "feedback-report":  # type: ignore[union-attr]
        return None
    feedback: Message | None = None
    original: Message | None = None
    for part in report.walk():
        content_type = part.get_content_type()
        if content_type == "message/feedback-report":
            feedback = _fields(part)
        elif content_type in ("message/rfc822", "text/rfc822-headers"):
            original = _fields(part)
    if feedback is None or original is None:
        return None
    recipient = (
        feedback.get("Original-Rcpt-To")
        or feedback.get("Removal-Recipient")
        or original.get("To")
        or ""
    )
    address = email.utils.parseaddr(str(recipient))[1]
    message_id = _msgid(original.get("Message-ID"))
    if not address:
        return None
    kind = str(feedback.get("Feedback-Type") or "abuse").strip().lower()
    return ProviderEvent(EventKind.COMPLAINT, address, message_id, f"ARF {kind}")
