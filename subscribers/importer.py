"""CSV import: stream, validate and normalise each row, then upsert in batches (idempotent).

Nothing is written unless the whole file reads: the caller's transaction is rolled back on an
ImportFileError, and the rejects file is only moved into place at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Table, column, table, update
from sqlmodel import Session

from subscribers import bulk
from subscribers.csvfile import ImportRow, RejectsWriter, open_csv, parse_row, read_rows
from subscribers.errors import ImportFileError, InvalidAddress, InvalidPreference
from subscribers.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from subscribers.suppression import suppressed_filter

BATCH_SIZE = 2000


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


class _Person(NamedTuple):
    id: int
    email: str
    name: str
    status: str
    timezone: str
    attributes: dict[str, Any]


class _Current(NamedTuple):
    id: int
    subscriber_id: int
    status: str
    topics: list[str]
    cadence: str
    weekday: int
    send_hour: int
    timezone: str | None


SEEN = table("import_seen", column("email"), column("line"))
PERSON_COLUMNS = (
    "email",
    "name",
    "status",
    "timezone",
    "attributes",
    "soft_bounces",
    "created_at",
    "updated_at",
)
SUBSCRIPTION_COLUMNS = (
    "subscriber_id",
    "list_id",
    "status",
    "topics",
    "cadence",
    "weekday",
    "send_hour",
    "timezone",
    "created_at",
    "confirmed_at",
)


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
        rejects: RejectsWriter,
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
        self.connection = session.connection()
        self.now_bound = bulk.bind(self.connection, self.subscribers, "created_at", now)
        self._attrs: dict[Any, Any] = {}
        self._topics: dict[Any, Any] = {}
        self._open_seen()

    def reject(self, row: ImportRow | None, line: int, raw: list[str], reason: str) -> None:
        self.report.rejected += 1
        self.rejects.add(line, reason, raw)

    def skip_suppressed(self, line: int, raw: list[str], reason: str) -> None:
        self.report.suppressed += 1
        self.rejects.add(line, f"suppressed: {reason}", raw)

    def _json(self, table: Table, column: str, value: Any, cache: dict[Any, Any]) -> Any:
        key = tuple(sorted(value.items())) if isinstance(value, dict) else tuple(value)
        if key not in cache:
            cache[key] = bulk.bind(self.connection, table, column, value)
        return cache[key]

    def _open_seen(self) -> None:
        """A temporary table of the addresses already read, so memory stays flat."""
        suffix = " ON COMMIT DROP" if self.connection.dialect.name == "postgresql" else ""
        if self.connection.dialect.name == "sqlite":
            # a bounded page cache (32 MB) for the indexes the batches update
            self.connection.exec_driver_sql("PRAGMA cache_size=-32000")
        self.connection.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {SEEN.name} "
            f"(email VARCHAR(320) PRIMARY KEY, line INTEGER NOT NULL){suffix}"
        )
        self.connection.exec_driver_sql(f"DELETE FROM {SEEN.name}")

    def close(self) -> None:
        """Drop the temporary table (and give SQLite back its default page cache)."""
        self.connection.exec_driver_sql(f"DROP TABLE IF EXISTS {SEEN.name}")
        if self.connection.dialect.name == "sqlite":
            self.connection.exec_driver_sql("PRAGMA cache_size=-2000")

    def _first_sightings(self, batch: list[ImportRow]) -> list[ImportRow]:
        """Reject rows whose address an earlier batch had; drop suppressed ones; remember."""
        earlier = dict(
            bulk.select_in(
                self.connection, SEEN, ["email", "line"], "email", [r.email for r in batch]
            )
        )
        fresh = []
        for row in batch:
            if row.email in earlier:
                self.reject(row, row.line, row.raw, f"duplicate of line {earlier[row.email]}")
            else:
                fresh.append(row)
        bulk.insert_ignore(
            self.connection, SEEN, ["email", "line"], [(r.email, r.line) for r in fresh], ["email"]
        )
        kept = []
        for row in fresh:
            if self.is_suppressed(row.email):
                self.skip_suppressed(row.line, row.raw, "on the suppression list")
            else:
                kept.append(row)
        return kept

    def flush(self, batch: list[ImportRow]) -> None:
        """Upsert one batch: one query per table to load, bulk inserts and updates to write."""
        batch = self._first_sightings(batch)
        if not batch:
            return
        session, now, connection = self.session, self.now, self.connection
        existing = {
            email: _Person(person_id, email, name, status, zone, bulk.json_value(attributes))
            for person_id, email, name, status, zone, attributes in bulk.select_in(
                connection,
                self.subscribers,
                ["id", "email", "name", "status", "timezone", "attributes"],
                "email",
                [r.email for r in batch],
            )
        }
        kept: list[ImportRow] = []
        new_people: list[tuple[Any, ...]] = []
        person_updates: list[dict[str, Any]] = []
        changed_people: set[str] = set()
        for row in batch:
            found = existing.get(row.email)
            if found is None:
                new_people.append(
                    (
                        row.email,
                        row.name,
                        SubscriberStatus.ACTIVE.value,
                        row.timezone or self.mailing_list.default_timezone,
                        self._json(self.subscribers, "attributes", row.attributes, self._attrs),
                        0,
                        self.now_bound,
                        self.now_bound,
                    )
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
        bulk.insert_ignore(
            connection, self.subscribers, PERSON_COLUMNS, new_people, conflict=["email"]
        )
        if person_updates:
            session.execute(update(Subscriber), person_updates)
        ids = dict(
            bulk.select_in(
                connection, self.subscribers, ["email", "id"], "email", [r.email for r in kept]
            )
        )
        current = {
            values[1]: _Current._make((*values[:3], bulk.json_value(values[3]), *values[4:]))
            for values in bulk.select_in(
                connection,
                self.subscriptions,
                ["id", "subscriber_id", "status", "topics", "cadence", "weekday", "send_hour"]
                + ["timezone"],
                "subscriber_id",
                list(ids.values()),
                where="list_id = ?",
                where_params=[self.list_id],
            )
        }
        self.write_subscriptions(kept, ids, current, changed_people)

    def write_subscriptions(
        self,
        kept: list[ImportRow],
        ids: dict[str, int],
        current: dict[int, _Current],
        changed_people: set[str],
    ) -> None:
        """Insert new subscriptions and update changed ones; count added/updated/unchanged."""
        session, now, ml = self.session, self.now, self.mailing_list
        new_rows: list[tuple[Any, ...]] = []
        updates: list[dict[str, Any]] = []
        status = SubscriptionStatus.ACTIVE if self.activate else SubscriptionStatus.PENDING
        confirmed_at = self.now_bound if self.activate else None
        for row in kept:
            subscriber_id = ids[row.email]
            found = current.get(subscriber_id)
            if found is None:
                new_rows.append(
                    (
                        subscriber_id,
                        self.list_id,
                        status.value,
                        self._json(
                            self.subscriptions,
                            "topics",
                            list(row.topics or ml.topics),
                            self._topics,
                        ),
                        row.cadence or ml.default_cadence,
                        row.weekday if row.weekday is not None else ml.default_weekday,
                        row.send_hour if row.send_hour is not None else ml.default_send_hour,
                        row.timezone or ml.default_timezone,
                        self.now_bound,
                        confirmed_at,
                    )
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
        bulk.insert_ignore(
            self.connection,
            self.subscriptions,
            SUBSCRIPTION_COLUMNS,
            new_rows,
            conflict=["subscriber_id", "list_id"],
        )
        if updates:
            # one UPDATE statement per distinct key set
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for item in updates:
                by_keys.setdefault(tuple(sorted(item)), []).append(item)
            for items in by_keys.values():
                session.execute(update(Subscription), items)
        if new_rows and not self.activate:
            self.report.pending_subscription_ids.extend(
                row[0]
                for row in bulk.select_in(
                    self.connection,
                    self.subscriptions,
                    ["id"],
                    "subscriber_id",
                    [values[0] for values in new_rows],
                    where="list_id = ? AND status = ?",
                    where_params=[self.list_id, SubscriptionStatus.PENDING.value],
                )
            )


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
    if rejects_path is not None and not rejects_path.parent.is_dir():
        raise ImportFileError(f"{rejects_path}: the folder for the rejects file does not exist")
    raw, text, reader, columns = open_csv(path)
    total = path.stat().st_size
    rejects = RejectsWriter(rejects_path, columns)
    importer = _Importer(
        session,
        mailing_list,
        now=now,
        confirmed=confirmed,
        is_suppressed=suppressed_filter(session, secret=secret),
        rejects=rejects,
    )
    report = importer.report
    seen: dict[str, int] = {}  # this batch only; earlier batches are in a temporary table
    batch: list[ImportRow] = []
    try:
        with text:
            for line, values in read_rows(reader, path):
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
                    row = parse_row(line, values, columns, mailing_list.topics)
                except (InvalidAddress, InvalidPreference) as exc:
                    reason = exc.reason if isinstance(exc, InvalidAddress) else str(exc)
                    importer.reject(None, line, values, reason)
                    continue
                if row.status == "pending" and importer.activate:
                    reason = (
                        "pending (never confirmed) where it was exported: import it unconfirmed"
                    )
                    importer.reject(row, line, values, reason)
                    continue
                if row.email in seen:
                    importer.reject(row, line, values, f"duplicate of line {seen[row.email]}")
                    continue
                seen[row.email] = line
                batch.append(row)
                if len(batch) >= batch_size:
                    importer.flush(batch)
                    batch, seen = [], {}
                    if progress is not None:
                        progress(raw.tell(), total)
            importer.flush(batch)
            importer.close()
            session.flush()
    except BaseException:
        rejects.abandon()
        raise
    rejects.commit()
    if progress is not None:
        progress(total, total)
    return report
