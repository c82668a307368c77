"""Validation of subscription preferences: topics, cadence, weekday, timezone, send hour."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import available_timezones

from subscribers.errors import InvalidPreference, shown
from subscribers.models import Cadence

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Preferences:
    """A validated set of preferences for one subscription."""

    topics: tuple[str, ...]
    cadence: Cadence
    weekday: int
    send_hour: int
    timezone: str


def check_topics(chosen: Iterable[str], offered: Sequence[str]) -> tuple[str, ...]:
    """Return the chosen topics in the list's order; refuse topics the list does not offer."""
    wanted = {topic.strip().lower() for topic in chosen if topic.strip()}
    unknown = sorted(wanted - set(offered))
    if unknown:
        raise InvalidPreference(
            f"topic {', '.join(map(repr, unknown))} is not offered by this list "
            f"(offered: {', '.join(offered) or 'none'})"
        )
    return tuple(topic for topic in offered if topic in wanted)


def check_cadence(value: str) -> Cadence:
    """Parse a cadence name."""
    try:
        return Cadence(value.strip().lower())
    except ValueError:
        raise InvalidPreference(f"cadence must be daily or weekly, not {shown(value)}") from None


def check_weekday(value: str | int) -> int:
    """Parse a weekday given as 0-6 (Monday first) or as mon..sun / monday..sunday."""
    if isinstance(value, int) or value.strip().isdecimal():
        # a short decimal string only: int() refuses some digits ("²") and very long numbers
        day = int(value) if isinstance(value, int) or len(value.strip()) <= 3 else -1
        if 0 <= day <= 6:
            return day
    else:
        prefix = value.strip().lower()[:3]
        if prefix in WEEKDAYS:
            return WEEKDAYS.index(prefix)
    raise InvalidPreference(f"weekday must be 0-6 or mon..sun, not {shown(value)}")


def check_hour(value: str | int) -> int:
    """Parse a local send hour 0-23."""
    try:
        hour = int(value)
    except (TypeError, ValueError):
        raise InvalidPreference(
            f"send hour must be a whole number 0-23, not {shown(value)}"
        ) from None
    if not 0 <= hour <= 23:
        raise InvalidPreference(f"send hour must be 0-23, not {shown(value)}")
    return hour


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    """Return a valid IANA time-zone name.

    Only names of the installed time-zone database are accepted: the value is never handed to
    ``ZoneInfo`` first, which reads it as a path (a folder such as ``Europe``, a name too long
    for the file system or one with a NUL byte fail there with OS errors, not a refusal).
    """
    name = value.strip()
    if name not in _zones():
        raise InvalidPreference(f"unknown time zone {shown(value)} (use an IANA name)")
    return name
