"""``newsletter users create`` and ``newsletter web`` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from newsletter.db import make_engine, session_scope
from newsletter.models import User

ROOT = Path(__file__).resolve().parents[2]


def _cli(sqlite_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "NEWSLETTER_DATABASE_URL": sqlite_url,
        "NEWSLETTER_SECRET_KEY": "test-secret-key-0123456789",
    }
    env.pop("NEWSLETTER_NEW_USER_PASSWORD", None)
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def test_users_create_prompts_for_the_password_and_stores_an_argon2_hash(sqlite_url: str) -> None:
    done = _cli(
        sqlite_url,
        "users",
        "create",
        "Boss@Example.org",
        "--role",
        "admin",
        stdin="a-good-password\na-good-password\n",
    )
    assert done.returncode == 0, done.stderr
    assert "user boss@example.org created with role admin" in done.stdout
    assert "a-good-password" not in done.stdout
    engine = make_engine(sqlite_url)
    with session_scope(engine) as session:
        user = session.exec(select(User)).one()
        assert user.role == "admin" and user.password_hash.startswith("$argon2id$")
    engine.dispose()
    again = _cli(sqlite_url, "users", "create", "boss@example.org", stdin="another-pass\n" * 2)
    assert again.returncode == 1
    assert (
        again.stderr.strip().splitlines()[-1] == "error: a user 'boss@example.org' already exists"
    )
    listed = _cli(sqlite_url, "users", "ls")
    assert "boss@example.org  admin" in listed.stdout


def test_users_create_refuses_bad_roles_and_short_passwords(sqlite_url: str) -> None:
    role = _cli(
        sqlite_url,
        "users",
        "create",
        "x@example.org",
        "--role",
        "boss",
        stdin="long-enough-1\n" * 2,
    )
    assert role.returncode == 1 and "unknown role 'boss'" in role.stderr
    short = _cli(sqlite_url, "users", "create", "x@example.org", stdin="short\nshort\n")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr


def test_web_command_is_registered(sqlite_url: str) -> None:
    shown = _cli(sqlite_url, "web", "--help")
    assert shown.returncode == 0 and "--host" in shown.stdout and "--port" in shown.stdout
