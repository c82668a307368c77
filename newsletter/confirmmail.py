"""The confirmation email: rendered once per list with markers, built per recipient (pure)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from jinja2 import Environment

from newsletter.message import SMTP_POLICY, Sender
from newsletter.render import inline_css

MARKERS = {"name": "@@NAME@@", "confirm_url": "@@CONFIRM_URL@@"}


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
    css = env.loader.get_source(env, "email/digest.css")[0] if env.loader else ""
    subject = f"Confirm your subscription to {list_name}"
    context = {
        "subject": subject,
        "preheader": f"One click and you will start receiving {list_name}.",
        "css": css,
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


def build_confirmation(
    rendered: RenderedConfirmation,
    sender: Sender,
    *,
    email: str,
    name: str,
    confirm_url: str,
    date: datetime,
    message_id: str,
) -> bytes:
    """The final bytes of one confirmation: multipart/alternative, text then HTML, QP, UTF-8."""
    shown = name or "there"
    text = rendered.text.replace(MARKERS["name"], shown).replace(
        MARKERS["confirm_url"], confirm_url
    )
    body = rendered.html.replace(MARKERS["name"], html.escape(shown)).replace(
        MARKERS["confirm_url"], html.escape(confirm_url)
    )
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = Address(sender.name, addr_spec=sender.address)
    message["To"] = Address(name, addr_spec=email)
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = f"<{message_id}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(body, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes(policy=SMTP_POLICY)
