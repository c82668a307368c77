"""The scheduler's clock override: a fake start time and speed, validated settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigError
from newsletter.schedule.clock import fake_clock, make_clock
from subscribers.dbtypes import utcnow


def test_fake_clock_starts_at_fake_now_and_runs_at_its_speed() -> None:
    ticks = iter([100.0, 100.0, 101.5])
    clock = fake_clock(
        datetime(2026, 3, 29, 0, 59, tzinfo=UTC), speed=60, monotonic=lambda: next(ticks)
    )
    assert clock() == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert clock() == datetime(2026, 3, 29, 1, 0, 30, tzinfo=UTC)


def test_clock_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_FAKE_NOW", "2026-03-29 00:59")
    settings = load_settings()
    assert settings.scheduler.fake_now == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert abs(make_clock(settings)() - settings.scheduler.fake_now) < timedelta(seconds=5)
    monkeypatch.setenv("NEWSLETTER_FAKE_NOW", "2026-03-29T01:59+01:00")
    assert load_settings().scheduler.fake_now == datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    monkeypatch.delenv("NEWSLETTER_FAKE_NOW")
    assert make_clock(load_settings()) is utcnow
    monkeypatch.setenv("NEWSLETTER_CLOCK_SPEED", "0")
    with pytest.raises(ConfigError, match="NEWSLETTER_CLOCK_SPEED"):
        load_settings()
    monkeypatch.delenv("NEWSLETTER_CLOCK_SPEED")
    monkeypatch.setenv("NEWSLETTER_MAX_LATENESS_HOURS", "-1")
    with pytest.raises(ConfigError, match="NEWSLETTER_MAX_LATENESS_HOURS"):
        load_settings()
