"""Daemon entry point: ``python scheduler.py`` (the same as ``newsletter schedule run``)."""

from __future__ import annotations

import sys

from newsletter.config import load_settings
from newsletter.errors import NewsletterError
from newsletter.schedule.daemon import run_daemon


def main() -> int:
    """Build the settings, run the daemon, turn configuration mistakes into one line."""
    try:
        return run_daemon(load_settings())
    except NewsletterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
