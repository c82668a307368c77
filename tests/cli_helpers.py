"""Running the ``newsletter`` CLI in a real process, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.smtpserver import RecordingServer

SECRET = "cli-test-secret-0123456789"


def cli(
    url: str, *args: str, smtp: RecordingServer | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_FIRST_DIGEST_LOOKBACK_DAYS": "3650",
        **env,
    }
    if smtp is not None:
        environment["NEWSLETTER_SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}"
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
