"""Mail coming back, read from Maildirs by the scheduler (or from one Maildir or mbox at an
operator's command): bounces, mailto unsubscribes, complaints.

Each message in ``new/`` is applied in a transaction of its own and then moved to ``cur/``, so a
message is applied once however often the job runs. A crash between the commit and the move
applies that one message again on the next run: hard bounces, unsubscribes and complaints are
idempotent; a soft bounce would be counted twice. A database failure leaves the message in
``new/`` for the next run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from newsletter.db import session_scope
from newsletter.errors import IngestError
from newsletter.inbound.apply import InboundReport, apply_arf, process_arf_mailbox
from newsletter.inbound.bounces import BounceReport, apply_bounce, process_mailbox
from newsletter.inbound.dsn import parse_bounce
from newsletter.inbound.mailto_unsubscribes import (
    MailtoReport,
    apply_unsubscribe_mail,
    process_unsubscribe_mailbox,
)
from newsletter.runtime import Runtime

log = logging.getLogger(__name__)
Apply = Callable[[Session, bytes], None]


@dataclass(frozen=True)
class MailboxesReport:
    """How many new messages each Maildir had (each applied once, then moved to cur/)."""

    bounces: int = 0
    unsubscribes: int = 0
    complaints: int = 0


def consume_maildir(runtime: Runtime, path: Path, apply: Apply) -> int:
    """Apply every message in ``path/new`` once, each in its own transaction, then move it to
    ``path/cur``; returns how many were applied."""
    new, cur = path / "new", path / "cur"
    if not (new.is_dir() and cur.is_dir()):
        raise IngestError(str(path), "not a Maildir (no cur/ and new/)")
    count = 0
    for entry in sorted(new.iterdir()):
        # Dot files are editors' and MUAs' leftovers, never messages (Maildir spec).
        if not entry.is_file() or entry.name.startswith("."):
            continue
        raw = entry.read_bytes()
        with session_scope(runtime.engine) as session:
            apply(session, raw)
        os.replace(entry, cur / f"{entry.name}:2,S")  # seen: never applied again
        count += 1
    return count


def consume_mailboxes(runtime: Runtime) -> MailboxesReport:
    """Read the configured Maildirs (bounces, unsubscribes, complaints) once."""
    settings = runtime.settings
    now = runtime.clock

    def bounce(session: Session, raw: bytes) -> None:
        parsed = parse_bounce(raw)
        if parsed is not None:
            apply_bounce(
                session,
                parsed,
                secret=settings.links.secret,
                local=settings.inbound.bounce_local_part,
                soft_limit=settings.inbound.soft_bounce_limit,
                now=now(),
                report=BounceReport(),
            )

    def unsubscribe(session: Session, raw: bytes) -> None:
        apply_unsubscribe_mail(
            session, raw, secret=settings.links.secret, now=now(), report=MailtoReport()
        )

    def complaint(session: Session, raw: bytes) -> None:
        apply_arf(session, raw, now=now(), report=InboundReport())

    counts = {
        name: consume_maildir(runtime, path, apply) if path is not None else 0
        for name, path, apply in (
            ("bounces", settings.inbound.bounce_maildir, bounce),
            ("unsubscribes", settings.inbound.unsubscribe_maildir, unsubscribe),
            ("complaints", settings.inbound.complaint_maildir, complaint),
        )
    }
    return MailboxesReport(**counts)


# One mailbox at an operator's command (`newsletter bounces|unsubscribes|complaints process`):
# the whole mailbox in one transaction.


def process_bounces(runtime: Runtime, path: Path) -> BounceReport:
    """Apply the bounces in a Maildir or mbox: hard ones suppress, soft ones are counted."""
    settings = runtime.settings
    with session_scope(runtime.engine) as session:
        return process_mailbox(
            session,
            path,
            secret=settings.links.secret,
            local=settings.inbound.bounce_local_part,
            soft_limit=settings.inbound.soft_bounce_limit,
            now=runtime.clock(),
        )


def process_unsubscribes(runtime: Runtime, path: Path) -> MailtoReport:
    """Unsubscribe everyone who mailed an unsubscribe+TOKEN address (RFC 2369 mailto)."""
    with session_scope(runtime.engine) as session:
        return process_unsubscribe_mailbox(
            session, path, secret=runtime.settings.links.secret, now=runtime.clock()
        )


def process_complaints(runtime: Runtime, path: Path) -> InboundReport:
    """Apply the ARF complaint reports (RFC 5965) in a Maildir or mbox."""
    with session_scope(runtime.engine) as session:
        return process_arf_mailbox(session, path, now=runtime.clock())
