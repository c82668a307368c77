"""Start-up cost of the CLI: light commands import neither the web app, the ML stack nor SMTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Libraries that cost tens to hundreds of ms to import and that light commands never use.
HEAVY = (
    "fastapi",
    "starlette",
    "uvicorn",
    "newsletter.web",
    "argon2",
    "sklearn",
    "numpy",
    "scipy",
    "joblib",
    "trafilatura",
    "feedparser",
    "lxml",
    "premailer",
    "cssutils",
    "aiosmtplib",
    "aiosmtpd",
    "dkim",
    "alembic",
    "apscheduler",
    "httpx",
)
# ``--help`` needs no database and no settings either.
HELP_HEAVY = (*HEAVY, "sqlalchemy", "sqlmodel", "pydantic_settings", "newsletter.runtime")

PROBE = """
import json, sys
sys.argv = ["newsletter", *json.loads(sys.argv[1])]
from newsletter.cli.app import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("\\nMODULES " + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def imported_by(*args: str, database_url: str | None = None) -> tuple[int, set[str]]:
    """Run ``newsletter ARGS`` in a fresh interpreter; its exit code and every module it loaded."""
    env = {**os.environ}
    if database_url is not None:
        env["NEWSLETTER_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    report = json.loads(done.stdout.rsplit("\nMODULES ", 1)[1])
    return report["code"], set(report["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The ``names`` (packages or modules) present in ``modules``."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


def test_help_imports_neither_the_web_app_nor_the_ml_stack_nor_the_database() -> None:
    code, modules = imported_by("--help")
    assert code == 0
    assert loaded(modules, HELP_HEAVY) == []
    assert "typer" in modules  # the probe did run the CLI


def test_probe_sees_heavy_imports_when_a_command_needs_them() -> None:
    # a control for the tests above: the same probe does see what a heavier command loads
    code, modules = imported_by("users", "ls", database_url="sqlite:////nonexistent/x.db")
    assert code == 1
    assert "argon2" in loaded(modules, HEAVY)


@pytest.mark.parametrize(
    "command", [("topics", "ls"), ("lists", "ls"), ("runs", "ls"), ("schedule", "status")]
)
def test_light_commands_load_only_what_they_use(sqlite_url: str, command: tuple[str, ...]) -> None:
    code, modules = imported_by(*command, database_url=sqlite_url)
    assert code == 0
    assert loaded(modules, HEAVY) == []


def test_every_command_runs_through_the_lazy_group() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "db", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "upgrade" in done.stdout and "backup" in done.stdout


def test_a_mistyped_command_gets_a_suggestion_from_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", "lsts"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "Did you mean 'lists'?" in done.stderr
