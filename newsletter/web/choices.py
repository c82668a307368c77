"""Choices the preference and list forms offer: weekdays and IANA time zones."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@cache
def timezones() -> tuple[str, ...]:
    """IANA zone names offered in the forms."""
    return tuple(sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC"))
