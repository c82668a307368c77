"""CSV export of a list in the importer's columns, so that export then import round-trips.

Only active subscriptions by default: an export is often imported elsewhere with --confirmed,
and that must never re-subscribe people who left. ``status="all"`` exports everyone with a
``status`` column, which the importer honours (unsubscribed rows are refused).

Every cell that a spreadsheet would read as a formula (it starts with ``= + - @``, a tab or a
CR) is written with a leading apostrophe; the importer takes it off again.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import TextIO

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from subscribers.csvfile import safe_row
from subscribers.errors import ExportFileError
from subscribers.models import MailingList, Subscriber, Subscription
from subscribers.preferences import WEEKDAYS
from subscribers.queries import check_status

EXPORT_COLUMNS = ("email", "name", "topics", "cadence", "weekday", "timezone", "send_hour")
ALL = "all"


def _query(mailing_list: MailingList, status: str | None) -> object:
    # Columns, not entities: a streamed read must not fill (or be cut by clearing) the
    # session's identity map.
    query = (
        sa_select(
            col(Subscriber.email),
            col(Subscriber.name),
            col(Subscriber.timezone),
            col(Subscriber.attributes),
            col(Subscription.topics),
            col(Subscription.cadence),
            col(Subscription.weekday),
            col(Subscription.timezone),
            col(Subscription.send_hour),
            col(Subscription.status),
        )
        .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
        .where(col(Subscription.list_id) == mailing_list.id)
    )
    if status is not None:
        query = query.where(col(Subscription.status) == status)
    return query


def export_csv(
    session: Session, *, mailing_list: MailingList, out: TextIO, status: str = "active"
) -> int:
    """Write the list's subscribers of one status (``all``: every one, with a status column)
    to ``out``; returns rows written.

    Attributes kept from imports become extra columns, sorted by name.
    """
    everyone = status.strip().lower() == ALL
    wanted = None if everyone else check_status(status)
    keys: set[str] = set()
    attribute_query = (
        select(Subscriber.attributes)
        .join(Subscription, col(Subscription.subscriber_id) == col(Subscriber.id))
        .where(Subscription.list_id == mailing_list.id)
    )
    if wanted is not None:
        attribute_query = attribute_query.where(Subscription.status == wanted)
    for (attributes,) in session.execute(attribute_query.execution_options(yield_per=2000)):
        keys.update(attributes or {})
    extra = sorted(keys - {*EXPORT_COLUMNS, "status"})
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(safe_row([*EXPORT_COLUMNS, *(["status"] if everyone else []), *extra]))
    query = _query(mailing_list, wanted).order_by(col(Subscriber.email))  # type: ignore[attr-defined]
    written = 0
    for row in session.execute(query.execution_options(yield_per=2000)):
        (email, name, zone, attributes, topics, cadence, weekday, own_zone, hour, state) = row
        attributes = attributes or {}
        writer.writerow(
            safe_row(
                [
                    email,
                    name,
                    ";".join(topics),
                    cadence,
                    WEEKDAYS[weekday],
                    own_zone or zone,
                    hour,
                    *([state] if everyone else []),
                    *(attributes.get(key, "") for key in extra),
                ]
            )
        )
        written += 1
    return written


def export_file(
    session: Session, *, mailing_list: MailingList, path: Path, status: str = "active"
) -> int:
    """Export like ``export_csv`` into the file ``path``, all or nothing; returns rows written.

    The rows go to a hidden temporary file beside ``path`` (readable by its owner only: it holds
    personal data) that replaces it only when complete; a refused status, a folder as the
    target or any write error raises ExportFileError (or InvalidPreference) and leaves no file
    behind.
    """
    if status.strip().lower() != ALL:
        check_status(status)
    if path.is_dir():
        raise ExportFileError(f"{path} is a folder: give the export's file name")
    folder = path.parent
    if not folder.is_dir():
        raise ExportFileError(f"folder {folder} does not exist")
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name[:100]}.", suffix=".partial")
    except OSError as exc:
        raise ExportFileError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    partial = Path(name)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as handle:
            written = export_csv(session, mailing_list=mailing_list, out=handle, status=status)
        os.replace(partial, path)
    except BaseException as exc:
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, ExportFileError):
            raise ExportFileError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise
    return written
