"""Apply the mails sent to the ``List-Unsubscribe`` mailto address (unsubscribe+TOKEN@domain)."""

from __future__ import annotations

import email
import email.parser
import email.policy
import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import getaddresses
from pathlib import Path

from sqlmodel import Session

from newsletter.inbound.bounces import read_mailbox
from newsletter.inbound.dsn import parseable
from subscribers.errors import InvalidToken, SubscriberNotFound
from subscribers.models import UnsubscribeSource
from subscribers.service import unsubscribe
from subscribers.tokens import Purpose, read_token

# Where the envelope recipient survives delivery into a mailbox, best first.
RECIPIENT_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "To", "Cc")
TOKEN_ADDRESS = re.compile(r"^unsubscribe\+([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)@", re.IGNORECASE)


@dataclass
class MailtoReport:
    """What processing an unsubscribe mailbox did."""

    messages: int = 0
    unsubscribed: int = 0
    already: int = 0
    invalid: int = 0
    ignored: int = 0


def token_of(message: bytes) -> str | None:
    """The unsubscribe token in the address a message was sent to, if any."""
    if not parseable(message):
        return None
    # Only the headers matter: the body (however nested) is never parsed.
    parsed = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(message)
    for header in RECIPIENT_HEADERS:
        for _, address in getaddresses([str(value) for value in parsed.get_all(header, [])]):
            found = TOKEN_ADDRESS.match(address.strip())
            if found:
                return found.group(1)
    return None


def apply_unsubscribe_mail(
    session: Session, raw: bytes, *, secret: bytes, now: datetime, report: MailtoReport
) -> None:
    """Unsubscribe the sender of one mail to a valid unsubscribe+TOKEN address."""
    report.messages += 1
    token = token_of(raw)
    if token is None:
        report.ignored += 1
        return
    try:
        claims = read_token(secret, token, Purpose.UNSUBSCRIBE, now=now)
    except InvalidToken:
        report.invalid += 1
        return
    try:
        ended = unsubscribe(
            session,
            subscriber_id=claims.subscriber_id,
            list_id=claims.list_id,
            source=UnsubscribeSource.MAILTO,
            now=now,
        )
    except SubscriberNotFound:
        ended = 0  # erased since: nobody left to unsubscribe
    if ended:
        report.unsubscribed += 1
    else:
        report.already += 1


def process_unsubscribe_mailbox(
    session: Session, path: Path, *, secret: bytes, now: datetime
) -> MailtoReport:
    """Unsubscribe the sender of every mail to a valid unsubscribe+TOKEN address (at once, as
    the one-click URL does); forged or foreign tokens change nothing."""
    report = MailtoReport()
    for raw in read_mailbox(path):
        apply_unsubscribe_mail(session, raw, secret=secret, now=now, report=report)
    return report
