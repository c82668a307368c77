"""Reading an import file: refusing what is not a UTF-8 CSV file, validating each row, and
writing the rejects file."""

from __future__ import annotations

import codecs
import csv
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from subscribers.addresses import normalise_email
from subscribers.errors import ImportFileError, InvalidPreference
from subscribers.names import clean_name
from subscribers.preferences import (
    check_cadence,
    check_hour,
    check_timezone,
    check_topics,
    check_weekday,
)

SNIFF_BYTES = 8192
KNOWN_COLUMNS = (
    "email",
    "name",
    "topics",
    "cadence",
    "weekday",
    "timezone",
    "send_hour",
    "status",
)
EXPORTED_STATUSES = ("active", "pending")


@dataclass(frozen=True)
class ImportRow:
    """One validated, normalised row of an import file."""

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
    status: str | None = None  # from an export's status column: active or pending


#: More columns than any real subscriber file has: a header of 100,000 is refused at once.
MAX_COLUMNS = 1000


@lru_cache(maxsize=1024)
def _topics(value: str, offered: tuple[str, ...]) -> tuple[str, ...]:
    """A topics cell (``;`` or ``|`` separated) checked against the list; few distinct values
    repeat over a whole file, so the result is cached."""
    parts = [part.strip() for part in value.replace("|", ";").split(";") if part.strip()]
    chosen = check_topics(parts, offered)
    if not chosen:
        raise InvalidPreference("no topics left after validation")
    return chosen


# A cell starting with one of these is a formula to Excel, LibreOffice or Google Sheets (a tab
# or CR is skipped before the check by some of them).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell no spreadsheet evaluates: a leading apostrophe before a formula start."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def safe_row(values: Sequence[object]) -> list[str]:
    """``safe_cell`` of every value."""
    return [safe_cell(value) for value in values]


def restore_cell(value: str) -> str:
    """Undo ``safe_cell``: an apostrophe before a formula start is taken off."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA_START) else value


def parse_row(
    line: int, values: list[str], columns: list[str], offered: Sequence[str]
) -> ImportRow:
    """Validate one row; raise InvalidAddress or InvalidPreference naming the problem."""
    cells = dict(zip(columns, (restore_cell(value) for value in values), strict=True))
    email = normalise_email(cells["email"])
    topics_text = cells.get("topics", "").strip()
    topics = _topics(topics_text, tuple(offered)) if topics_text else None
    cadence = cells.get("cadence", "").strip()
    weekday = cells.get("weekday", "").strip()
    timezone = cells.get("timezone", "").strip()
    send_hour = cells.get("send_hour", "").strip()
    status = cells.get("status", "").strip().lower()
    if status == "unsubscribed":
        raise InvalidPreference("unsubscribed where it was exported: never re-subscribed by import")
    if status and status not in EXPORTED_STATUSES:
        raise InvalidPreference(f"status must be active, pending or unsubscribed, not {status!r}")
    return ImportRow(
        line=line,
        raw=values,
        email=email,
        name=clean_name(cells.get("name", "")),
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
        status=status or None,
    )


class RejectsWriter:
    """Writes rejected rows (line, reason, original columns) to a temporary file first."""

    def __init__(self, path: Path | None, header: Sequence[str]) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.partial") if path is not None else None
        self.handle: IO[str] | None = None
        self.writer: Any = None
        self.header = list(header)

    def add(self, line: int, reason: str, raw: Sequence[str]) -> None:
        """Write one rejected row."""
        if self.temp is None:
            return
        if self.writer is None:
            self.handle = self.temp.open("w", encoding="utf-8", newline="")
            self.writer = csv.writer(self.handle)
            self.writer.writerow(safe_row(["line", "reason", *self.header]))
        self.writer.writerow(safe_row([line, reason, *raw]))

    def commit(self) -> None:
        """Move the finished file into place (an empty one with its header if nothing failed)."""
        if self.path is None or self.temp is None:
            return
        if self.handle is None:
            self.handle = self.temp.open("w", encoding="utf-8", newline="")
            csv.writer(self.handle).writerow(safe_row(["line", "reason", *self.header]))
        self.handle.close()
        os.replace(self.temp, self.path)

    def abandon(self) -> None:
        """Remove the partial file: a failed import leaves no rejects behind."""
        if self.handle is not None:
            self.handle.close()
        if self.temp is not None:
            self.temp.unlink(missing_ok=True)


class TextLines:
    """The file's physical lines (line endings kept), decoded one at a time so that a byte
    that is not UTF-8 is reported at its own line, not where a read-ahead buffer met it."""

    def __init__(self, raw: IO[bytes], path: Path) -> None:
        self.raw = raw
        self.path = path
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for chunk in self.raw:
            # \r alone ends a line too (old Mac files); UTF-8 never has \r or \n inside a character
            for piece in chunk.splitlines(keepends=True):
                self.line += 1
                if self.line == 1:
                    piece = piece.removeprefix(codecs.BOM_UTF8)
                try:
                    yield piece.decode("utf-8")
                except UnicodeDecodeError as exc:
                    where = "in the header" if self.line == 1 else f"at line {self.line}"
                    raise ImportFileError(
                        f"{self.path}: not UTF-8 text ({exc.reason} {where}); "
                        "save the file as UTF-8 and try again"
                    ) from None

    def close(self) -> None:
        """Close the file."""
        self.raw.close()

    def __enter__(self) -> TextLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_csv(path: Path) -> tuple[IO[bytes], TextLines, Any, list[str]]:
    """Open the file and read its header, refusing what is clearly not a UTF-8 CSV file."""
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot open ({exc.strerror})") from None
    head = raw.peek(SNIFF_BYTES)[:SNIFF_BYTES] if hasattr(raw, "peek") else b""
    if b"\x00" in head:
        raw.close()
        raise ImportFileError(f"{path}: not a CSV file (binary data; UTF-16 files are not read)")
    text = TextLines(raw, path)
    try:
        first_line = head.split(b"\n", 1)[0].decode("utf-8-sig", errors="replace")
        delimiter = max(",;\t", key=first_line.count)
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        header = next(reader, None)
    except ImportFileError:
        text.close()
        raise
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
    if len(columns) > MAX_COLUMNS:
        text.close()
        raise ImportFileError(
            f"{path}: {len(columns)} columns in the header, at most {MAX_COLUMNS}"
        )
    duplicated = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicated:
        text.close()
        raise ImportFileError(f"{path}: column {duplicated[0]!r} appears twice in the header")
    return raw, text, reader, columns


def read_rows(reader: Any, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) per record; a CSV error becomes ImportFileError (a decoding error
    already is one, raised by TextLines)."""
    try:
        for values in reader:
            yield reader.line_num, values
    except csv.Error as exc:
        raise ImportFileError(
            f"{path}: not a valid CSV file at line {reader.line_num} ({exc})"
        ) from None
