"""What the fuzz tests share: their budget, a per-input deadline, database snapshots, the CLI.

The budget is small in ``make test`` and large in ``make fuzz``:
``NEWSLETTER_FUZZ_EXAMPLES`` (in-process examples per test, default 25) and
``NEWSLETTER_FUZZ_CLI_EXAMPLES`` (examples per test that start a real ``newsletter`` process,
default 4).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, MetaData, select

from tests.cli_helpers import SECRET

EXAMPLES = int(os.environ.get("NEWSLETTER_FUZZ_EXAMPLES", "25"))
CLI_EXAMPLES = int(os.environ.get("NEWSLETTER_FUZZ_CLI_EXAMPLES", "4"))
#: Seconds any one input may take, in-process or through the CLI, before it counts as a hang.
PER_INPUT_SECONDS = float(os.environ.get("NEWSLETTER_FUZZ_DEADLINE", "20"))

IN_PROCESS = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the SIGALRM deadline below also catches inputs that never return
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
THROUGH_CLI = settings(
    max_examples=CLI_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Hang(AssertionError):
    """An input ran past its deadline."""


@contextmanager
def deadline(seconds: float = PER_INPUT_SECONDS) -> Iterator[None]:
    """Fail with Hang when the block runs longer than ``seconds`` (main thread only)."""

    def expired(signum: int, frame: object) -> None:
        raise Hang(f"input still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to compare before and after a refused input."""
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as connection:
        return {
            name: sorted(
                (tuple(repr(v) for v in row) for row in connection.execute(select(table))),
            )
            for name, table in sorted(meta.tables.items())
            if name != "alembic_version"
        }


def run_cli(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``newsletter ARGS`` in a real process; a run past the deadline is a Hang."""
    environment = {
        **os.environ,
        "NEWSLETTER_DATABASE_URL": url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        **env,
    }
    try:
        return subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=PER_INPUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise Hang(f"newsletter {' '.join(args)[:200]} still running after the deadline") from None


def assert_clean_exit(result: subprocess.CompletedProcess[str]) -> None:
    """Success, or a refusal of one line on stderr with exit code 1 or 2; never a traceback."""
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (0, 1, 2), (result.returncode, result.stderr[-2000:])
    if result.returncode == 1:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
