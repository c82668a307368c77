"""CSV import: stream, validate and normalise each row, then upsert in batches (idempotent).

Nothing is written unless the whole file reads: the caller's transaction is rolled back on an
ImportFileError, and the rejects file is only moved into place at the end.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from subscribers.addresses import normalise_email
from subscribers.errors import ImportFileError, InvalidAddress, InvalidPreference
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.preferences import (
    check_cadence,
    check_hour,
    check_timezone,
    check_topics,
    check_weekday,
)
from subscribers.suppression import suppressed_filter

KNOWN_COLUMNS = ("email", "name", "topics", "cadence", "weekday", "timezone", "send_hour")
BATCH_SIZE = 2000
SNIFF_BYTES = 8192


@dataclass
class ImportReport:
    """What an import did, by row."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    suppressed: int = 0
    rows: int = 0
    pending_subscription_ids: list[int] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """One line of counts."""
        return (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected, {self.suppressed} suppressed"
        )


@dataclass(frozen=True)
class _Row:
    line: int
    raw: list[str]
    email: str
    name: str
    topics: tuple[str, ...] | None
    cadence: str | None
    weekday: int | None
    timezone: str | None
    send_hour: int | None
    attributes: dict[str, str]


class _Rejects:
    """Writes rejected rows (line, reason, original columns) to a temporary file first."""

    def __init__(self, path: Path | None, header: Sequence[str]) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.partial") if path is not None else None
        self.handle: IO[str] | None = None
        self.writer: Any = None
        self.header = list(header)

    def add(self, line: int, reason: str, raw: Sequence[str]) -> None:
        if self.temp is None:
            return
        if self.writer is None:
            self.handle = self.temp.open("w", encoding="utf-8", newline="")
            self.writer = csv.writer(self.handle)
            self.writer.writerow(["line", "reason", *self.header])
        self.writer.writerow([line, reason, *raw])

    def commit(self) -> None:
        if self.path is None or self.temp is None:
            return
        if self.handle is None:
            self.handle = self.temp.open("w", encoding="utf-8", newline="")
            csv.writer(self.handle).writerow(["line", "reason", *self.header])
        self.handle.close()
        os.replace(self.temp, self.path)

    def abandon(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)


def _open_csv(path: Path) -> tuple[IO[bytes], io.TextIOWrapper, Any, list[str]]:
    """Open the file and read its header, refusing what is clearly not a UTF-8 CSV file."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot open ({exc.strerror})") from None
    head = raw.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(raw, "peek") else b""
    if b"\x00" in head:
        raw.close()
        raise ImportFileError(f"{path}: not a CSV file (binary data; UTF-16 files are not read)")
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", errors="strict", newline="")
    try:
        first_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        delimiter = max(",;\t", key=first_line.count)
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        header = next(reader, None)
    except UnicodeDecodeError as exc:
        text.close()
        raise ImportFileError(f"{path}: not UTF-8 text ({exc.reason} in the header)") from None
    except csv.Error as exc:
        text.close()
        raise ImportFileError(f"{path}: not a CSV file ({exc})") from None
    if not header:
        text.close()
        raise ImportFileError(f"{path}: empty file, expected a header line with an email column")
    columns = [name.strip().lower() for name in header]
    if "email" not in columns:
        text.close()
        raise ImportFileError(
            f"{path}: no 'email' column in the header line "
            f"(found: {', '.join(repr(c) for c in columns[:8])})"
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        text.close()
        raise ImportFileError(f"{path}: column {duplicated[0]!r} appears twice in the header")
    return raw, text, reader, columns


def _split_topics(value: str) -> list[str]:
    return [part.strip() for part in value.replace("|", ";").split(";") if part.strip()]


def _parse(line: int, values: list[str], columns: list[str], offered: Sequence[str]) -> _Row:
    """Validate one row; raise InvalidAddress or InvalidPreference naming the problem."""
    cells = dict(zip(columns, values, strict=True))
    email = normalise_email(cells["email"])
    topics_text = cells.get("topics", "").strip()
    topics = check_topics(_split_topics(topics_text), offered) if topics_text else None
    if topics_text and not topics:
        raise InvalidPreference("no topics left after validation")
    cadence = cells.get("cadence", "").strip()
    weekday = cells.get("weekday", "").strip()
    timezone = cells.get("timezone", "").strip()
    send_hour = cells.get("send_hour", "").strip()
    return _Row(
        line=line,
        raw=values,
        email=email,
        name=" ".join(cells.get("name", "").split()),
        topics=topics,
        cadence=check_cadence(cadence) if cadence else None,
        weekday=check_weekday(weekday) if weekday else None,
        timezone=check_timezone(timezone) if timezone else None,
        send_hour=check_hour(send_hour) if send_hour else None,
        attributes={
            key: value.strip()
            for key, value in cells.items()
            if key not in KNOWN_COLUMNS and key and value.strip()
        },
    )


def _insert_ignore(
    session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str]
) -> None:
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        statement: Any = pg_insert(table).on_conflict_do_nothing(index_elements=keys)
    else:
        statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=keys)
    session.execute(statement, rows)


class _Importer:
    """One import run over one list."""

    def __init__(
        self,
        session: Session,
        mailing_list: MailingList,
        *,
        now: datetime,
        confirmed: bool,
        is_suppressed: Callable[[str], bool],
        rejects: _Rejects,
    ) -> None:
        self.session = session
        self.mailing_list = mailing_list
        self.list_id = mailing_list.id or 0
        self.now = now
        self.activate = confirmed or not mailing_list.double_opt_in
        self.is_suppressed = is_suppressed
        self.rejects = rejects
        self.report = ImportReport()
        self.subscribers: Table = Subscriber.__table__  # type: ignore[attr-defined]
        self.subscriptions: Table = Subscription.__table__  # type: ignore[attr-defined]

    def reject(self, row: _Row | None, line: int, raw: list[str], reason: str) -> None:
        self.report.rejected += 1
        self.rejects.add(line, reason, raw)

    def skip_suppressed(self, line: int, raw: list[str], reason: str) -> None:
        self.report.suppressed += 1
        self.rejects.add(line, f"suppressed: {reason}", raw)

    def flush(self, batch: list[_Row]) -> None:
        """Upsert one batch: one query per table to load, bulk inserts and updates to write."""
        if not batch:
            return
        session, now = self.session, self.now
        existing = {
            row.email: row
            for row in session.execute(
                select(
                    Subscriber.id,
                    Subscriber.email,
                    Subscriber.name,
                    Subscriber.status,
                    Subscriber.timezone,
                    Subscriber.attributes,
                ).where(col(Subscriber.email).in_([r.email for r in batch]))
            )
        }
        kept: list[_Row] = []
        new_people: list[dict[str, Any]] = []
        person_updates: list[dict[str, Any]] = []
        changed_people: set[str] = set()
        for row in batch:
            found = existing.get(row.email)
            if found is None:
                new_people.append(
                    {
                        "email": row.email,
                        "name": row.name,
                        "status": SubscriberStatus.ACTIVE.value,
                        "timezone": row.timezone or self.mailing_list.default_timezone,
                        "attributes": row.attributes,
                        "soft_bounces": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                kept.append(row)
                continue
            if found.status in (SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED):
                self.skip_suppressed(row.line, row.raw, f"address {found.status}")
                continue
            if found.status == SubscriberStatus.UNSUBSCRIBED:
                self.reject(
                    row, row.line, row.raw, "unsubscribed from every list; only they can re-join"
                )
                continue
            values = {
                "name": row.name or found.name,
                "timezone": row.timezone or found.timezone,
                "attributes": {**(found.attributes or {}), **row.attributes},
            }
            if (values["name"], values["timezone"], values["attributes"]) != (
                found.name,
                found.timezone,
                found.attributes or {},
            ):
                person_updates.append({"id": found.id, **values, "updated_at": now})
                changed_people.add(row.email)
            kept.append(row)
        _insert_ignore(session, self.subscribers, new_people, ["email"])
        if person_updates:
            session.execute(update(Subscriber), person_updates)
        ids = dict(
            session.execute(
                select(Subscriber.email, Subscriber.id).where(
                    col(Subscriber.email).in_([r.email for r in kept])
                )
            ).all()
        )
        current = {
            sub.subscriber_id: sub
            for sub in session.execute(
                select(
                    Subscription.id,
                    Subscription.subscriber_id,
                    Subscription.status,
                    Subscription.topics,
                    Subscription.cadence,
                    Subscription.weekday,
                    Subscription.send_hour,
                    Subscription.timezone,
                ).where(
                    Subscription.list_id == self.list_id,
                    col(Subscription.subscriber_id).in_(list(ids.values())),
                )
            )
        }
        self.write_subscriptions(kept, ids, current, changed_people)

    def write_subscriptions(
        self,
        kept: list[_Row],
        ids: dict[str, int],
        current: dict[int, Any],
        changed_people: set[str],
    ) -> None:
        session, now, ml = self.session, self.now, self.mailing_list
        new_rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        status = SubscriptionStatus.ACTIVE if self.activate else SubscriptionStatus.PENDING
        for row in kept:
            subscriber_id = ids[row.email]
            found = current.get(subscriber_id)
            if found is None:
                new_rows.append(
                    {
                        "subscriber_id": subscriber_id,
                        "list_id": self.list_id,
                        "status": status.value,
                        "topics": list(row.topics or ml.topics),
                        "cadence": row.cadence or ml.default_cadence,
                        "weekday": row.weekday if row.weekday is not None else ml.default_weekday,
                        "send_hour": (
                            row.send_hour if row.send_hour is not None else ml.default_send_hour
                        ),
                        "timezone": row.timezone or ml.default_timezone,
                        "created_at": now,
                        "confirmed_at": now if self.activate else None,
                    }
                )
                self.report.added += 1
                continue
            if found.status == SubscriptionStatus.UNSUBSCRIBED:
                self.reject(
                    row, row.line, row.raw, "unsubscribed from this list; only they can re-join"
                )
                continue
            wanted = {
                "topics": list(row.topics) if row.topics else list(found.topics),
                "cadence": row.cadence or found.cadence,
                "weekday": row.weekday if row.weekday is not None else found.weekday,
                "send_hour": row.send_hour if row.send_hour is not None else found.send_hour,
                "timezone": row.timezone or found.timezone,
            }
            changes = {key: value for key, value in wanted.items() if getattr(found, key) != value}
            if self.activate and found.status == SubscriptionStatus.PENDING:
                changes["status"] = SubscriptionStatus.ACTIVE.value
                changes["confirmed_at"] = now
            if changes:
                updates.append({"id": found.id, **wanted, **changes})
            if changes or row.email in changed_people:
                self.report.updated += 1
            else:
                self.report.unchanged += 1
        _insert_ignore(session, self.subscriptions, new_rows, ["subscriber_id", "list_id"])
        if updates:
            # one UPDATE statement per distinct key set
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for item in updates:
                by_keys.setdefault(tuple(sorted(item)), []).append(item)
            for items in by_keys.values():
                session.execute(update(Subscription), items)
        if new_rows and not self.activate:
            self.report.pending_subscription_ids.extend(
                session.execute(
                    select(Subscription.id).where(
                        Subscription.list_id == self.list_id,
                        col(Subscription.subscriber_id).in_([r["subscriber_id"] for r in new_rows]),
                        Subscription.status == SubscriptionStatus.PENDING,
                    )
                ).scalars()
            )


def _rows(reader: Any, text: io.TextIOWrapper, path: Path) -> Iterator[tuple[int, list[str]]]:
    try:
        for values in reader:
            yield reader.line_num, values
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"{path}: not UTF-8 text ({exc.reason} after line {reader.line_num}); "
            "save the file as UTF-8 and try again"
        ) from None
    except csv.Error as exc:
        raise ImportFileError(
            f"{path}: not a valid CSV file at line {reader.line_num} ({exc})"
        ) from None


def import_csv(
    session: Session,
    *,
    path: Path,
    mailing_list: MailingList,
    now: datetime,
    confirmed: bool = False,
    secret: bytes | None = None,
    rejects_path: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import subscribers from a CSV file into a list; see the module docstring for guarantees.

    ``progress(bytes_read, total_bytes)`` is called after each batch. Rows become pending (their
    subscription ids are in the report, for confirmation emails) unless ``confirmed`` or the
    list does not use double opt-in.
    """
    raw, text, reader, columns = _open_csv(path)
    total = path.stat().st_size
    rejects = _Rejects(rejects_path, columns)
    importer = _Importer(
        session,
        mailing_list,
        now=now,
        confirmed=confirmed,
        is_suppressed=suppressed_filter(session, secret=secret),
        rejects=rejects,
    )
    report = importer.report
    seen: dict[int, int] = {}
    batch: list[_Row] = []
    try:
        with text:
            for line, values in _rows(reader, text, path):
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                report.rows += 1
                if len(values) != len(columns):
                    importer.reject(
                        None,
                        line,
                        values,
                        f"{len(values)} field(s) where the header has {len(columns)}",
                    )
                    continue
                try:
                    row = _parse(line, values, columns, mailing_list.topics)
                except (InvalidAddress, InvalidPreference) as exc:
                    reason = exc.reason if isinstance(exc, InvalidAddress) else str(exc)
                    importer.reject(None, line, values, reason)
                    continue
                key = hash(row.email)
                if key in seen:
                    importer.reject(row, line, values, f"duplicate of line {seen[key]}")
                    continue
                seen[key] = line
                if importer.is_suppressed(row.email):
                    importer.skip_suppressed(line, values, "on the suppression list")
                    continue
                batch.append(row)
                if len(batch) >= batch_size:
                    importer.flush(batch)
                    batch = []
                    if progress is not None:
                        progress(raw.tell(), total)
            importer.flush(batch)
            session.flush()
    except BaseException:
        rejects.abandon()
        raise
    rejects.commit()
    if progress is not None:
        progress(total, total)
    return report
