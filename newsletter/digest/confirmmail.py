"""The confirmation email: rendered and encoded once per list, personalised per recipient (pure)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import Environment

from newsletter.digest.message import (
    SMTP_POLICY,
    MessageTemplate,
    Segment,
    Sender,
    fill,
    list_id_header,
    multipart,
    to_header,
    url_headers,
)
from newsletter.digest.render import inline_css

MARKERS = {"name": "@@NAME@@", "confirm_url": "@@CONFIRM_URL@@"}
PLACEHOLDERS = ("NAME", "CONFIRM_URL")


@dataclass(frozen=True)
class RenderedConfirmation:
    """A list's confirmation email with personal markers still in place."""

    subject: str
    html: str
    text: str


def render_confirmation(
    env: Environment,
    *,
    list_name: str,
    sender_name: str,
    sender_address: str,
    topics: list[str],
    ttl_hours: float,
) -> RenderedConfirmation:
    """Render both parts and inline the CSS once for every recipient of a list."""
    subject = f"Confirm your subscription to {list_name}"
    context = {
        "subject": subject,
        "preheader": f"One click and you will start receiving {list_name}.",
        "list_name": list_name,
        "sender_name": sender_name,
        "sender_address": sender_address,
        "topics": topics,
        "ttl_hours": f"{ttl_hours:g}",
        "personal": MARKERS,
    }
    html_part = env.get_template("email/confirm.html.j2").render(context)
    text_part = env.get_template("email/confirm.txt.j2").render(context)
    return RenderedConfirmation(subject=subject, html=inline_css(html_part), text=text_part)


def _header_block(rendered: RenderedConfirmation, sender: Sender, date: datetime) -> bytes:
    """Shared headers, encoded and folded by the email package (which refuses CR and LF)."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = Address(sender.name, addr_spec=sender.address)
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Auto-Submitted"] = "auto-generated"
    message["MIME-Version"] = "1.0"
    # List-Id lets a reader's filters and the provider's reputation see the list; List-Help and
    # List-Subscribe point at its pages. No List-Unsubscribe: nobody is subscribed yet.
    help_headers = [(name, value) for name, value in sender.list_headers if name != "List-Archive"]
    return (
        bytes(message).split(b"\r\n\r\n", 1)[0]
        + b"\r\n"
        + list_id_header(sender.list_name, sender.list_id)
        + url_headers(help_headers)
    )


def build_confirmation_template(
    rendered: RenderedConfirmation, sender: Sender, *, date: datetime
) -> MessageTemplate:
    """The list's confirmation message once, as segments: multipart/alternative, text then
    HTML, UTF-8 in the smaller transfer encoding, with the recipient's values as placeholders."""
    segments: list[Segment] = [
        _header_block(rendered, sender, date),
        b"To: ",
        "TO",
        b"\r\nMessage-ID: <",
        "MESSAGE_ID",
        b">\r\n",
        *multipart(rendered.text, rendered.html, {name: name for name in PLACEHOLDERS}, "nlc"),
    ]
    return MessageTemplate(segments=tuple(segments), domain=sender.address.rsplit("@", 1)[1])


def personalise_confirmation(
    template: MessageTemplate, *, email: str, name: str, confirm_url: str, message_id: str
) -> bytes:
    """The final bytes of one confirmation."""
    if any(ch in message_id for ch in "\r\n<> ") or any(ch in confirm_url for ch in "\r\n "):
        raise ValueError("unsafe character in Message-ID or link")
    shown = name or "there"
    headers = {"TO": to_header(name, email), "MESSAGE_ID": message_id.encode("ascii")}
    body = {
        "text:NAME": shown,
        "text:CONFIRM_URL": confirm_url,
        "html:NAME": html.escape(shown),
        "html:CONFIRM_URL": html.escape(confirm_url),
    }
    return fill(template.segments, headers, body)
