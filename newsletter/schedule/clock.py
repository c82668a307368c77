"""The scheduler's clock: the real UTC time, or a fake one for trying the daemon out."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from newsletter.config import Settings
from subscribers.dbtypes import utcnow

Clock = Callable[[], datetime]


def fake_clock(
    start: datetime, *, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic
) -> Clock:
    """A clock that reads ``start`` now and advances ``speed`` times faster than real time."""
    origin = monotonic()

    def now() -> datetime:
        return start + timedelta(seconds=(monotonic() - origin) * speed)

    return now


def make_clock(settings: Settings) -> Clock:
    """The real clock, or the override from NEWSLETTER_FAKE_NOW and NEWSLETTER_CLOCK_SPEED."""
    if settings.scheduler.fake_now is None:
        if settings.scheduler.clock_speed == 1.0:
            return utcnow
        return fake_clock(utcnow(), speed=settings.scheduler.clock_speed)
    return fake_clock(settings.scheduler.fake_now, speed=settings.scheduler.clock_speed)
