"""Logging for every entry point: plain text, or one JSON object per line.

The convention for fields: ``log.info("run sent", extra={"run_id": 3, "list": "daily"})``;
every ``extra`` key becomes a field of the JSON object. Lines already written as logfmt
(``event=run_sent run=3 list=daily``, as the scheduler daemon writes them) are split into
fields as well, so either style gives searchable run, list and delivery ids.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

#: Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


_TOKEN = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|[^ "]*)(?: |$)')


def _logfmt_value(text: str) -> str:
    """A value as ``schedule.daemon.logfmt`` writes it (quoted when it has a space, " or =)."""
    if not text or any(c in text for c in ' "='):
        return '"' + text.replace('"', '\\"') + '"'
    return text


def logfmt_fields(message: str) -> dict[str, str] | None:
    """``event=x key=value key="a b"`` as a dict, or None when the message is not logfmt.

    A reading is accepted only when writing the fields back gives the same line, so an
    ambiguous line stays a plain message rather than becoming wrong fields.
    """
    if not message.startswith("event="):
        return None
    fields: dict[str, str] = {}
    position = 0
    while position < len(message):
        token = _TOKEN.match(message, position)
        if token is None or token.group(1) in fields:
            return None
        key, raw = token.groups()
        fields[key] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        position = token.end()
    written = " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())
    return fields if written == message else None


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, then every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON (newlines in values are escaped)."""
        message = record.getMessage()
        event: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        parsed = logfmt_fields(message)
        if parsed is not None:
            event.update(parsed)
        else:
            event["message"] = message
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        return json.dumps(event, default=str, ensure_ascii=False)


def configure_logging(
    log_format: str = "text", *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Route every logger to one stream handler in ``log_format`` (``text`` or ``json``)."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # uvicorn brings its own handlers; send its records through ours instead.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def uvicorn_log_config() -> dict[str, Any]:
    """A uvicorn ``log_config`` that leaves logging as ``configure_logging`` set it up."""
    return {"version": 1, "disable_existing_loggers": False}
