"""Every email template, as the bytes a reader gets, scores below 0 in SpamAssassin (-L -t).

Debian's ``spamassassin`` with its shipped rules, local tests only (no DNS, no network).
``make system-deps`` installs it; CI fails without it, a developer's run skips.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.email_samples import messages

pytestmark = pytest.mark.slow

SPAMASSASSIN = shutil.which("spamassassin")
# _TESTSSCORES_ lists every rule that fired with its exact score (the summary rounds to 0.1).
REPORT = "add_header all Tests _TESTSSCORES(,)_"


def scores(message: bytes) -> dict[str, float]:
    result = subprocess.run(
        [str(SPAMASSASSIN), "-L", "-t", f"--cf={REPORT}"],
        input=message,
        capture_output=True,
        timeout=120,
        check=True,
    )
    headers = result.stdout.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0].decode()
    found = re.search(r"^X-Spam-Tests: (.*(?:\n[ \t].*)*)", headers, re.M)
    assert found is not None, headers[:2000]
    rules = re.sub(r"\s+", "", found.group(1))
    return {name: float(value) for name, value in (item.split("=") for item in rules.split(","))}


@pytest.mark.parametrize("name", [name for name, _ in messages()])
def test_every_template_scores_below_zero(name: str) -> None:
    if SPAMASSASSIN is None:
        if os.environ.get("CI"):
            pytest.fail("spamassassin is missing: run `make system-deps`")
        pytest.skip("spamassassin is missing: run `make system-deps`")
    message = dict(messages())[name]
    fired = scores(message)
    assert sum(fired.values()) < 0, fired
    # no content rule at all: only informational ones (HTML_MESSAGE is 0.001)
    assert all(score <= 0.01 for score in fired.values()), fired
    assert "HTML_FONT_LOW_CONTRAST" not in fired and "HTML_MIME_NO_HTML_TAG" not in fired
