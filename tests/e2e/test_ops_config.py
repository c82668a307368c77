"""``newsletter init`` and ``newsletter config show`` in real processes."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

from newsletter.config import SettingsInput


def run(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **env},
        timeout=60,
    )


def uncommented(template: str) -> str:
    """Every ``# name = value`` line of the template made live (unset-by-default ones left)."""
    live = []
    for line in template.splitlines():
        found = re.fullmatch(r"# ([a-z_]+) = (.*)", line)
        if (
            found
            and found.group(1) in SettingsInput.model_fields
            and "(unset by default)" not in line
        ):
            live.append(f"{found.group(1)} = {found.group(2)}")
        else:
            live.append(line)
    return "\n".join(live)


def test_init_writes_every_setting_with_its_default(tmp_path: Path) -> None:
    done = run("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    path = tmp_path / "newsletter.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = path.read_text()
    for name in SettingsInput.model_fields:
        assert re.search(rf"^(# )?{name} = ", written, re.MULTILINE), name
        assert f"NEWSLETTER_{name.upper()}" in written
    # as written, only the fresh secret is live
    live = tomllib.loads(written)
    assert list(live) == ["secret_key"] and len(live["secret_key"]) >= 40
    # every default, once uncommented, parses and equals the built-in default
    values = tomllib.loads(uncommented(written))
    defaults = SettingsInput.model_construct()
    for name, value in values.items():
        if name != "secret_key":
            assert SettingsInput.model_validate({name: value}).model_dump()[name] == getattr(
                defaults, name
            ), name
    # and the file loads as a whole
    shown = run("config", "show", cwd=tmp_path, NEWSLETTER_CONFIG=str(path))
    assert shown.returncode == 0, shown.stderr


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "newsletter.toml").write_text("keep me")
    done = run("init", cwd=tmp_path)
    assert done.returncode == 1
    assert (
        done.stderr.strip() == "error: newsletter.toml already exists (use --force to overwrite it)"
    )
    assert (tmp_path / "newsletter.toml").read_text() == "keep me"
    assert run("init", "--force", cwd=tmp_path).returncode == 0
    assert "keep me" not in (tmp_path / "newsletter.toml").read_text()


def test_config_show_masks_secrets_and_names_each_source(tmp_path: Path) -> None:
    path = tmp_path / "custom.toml"
    path.write_text(
        'secret_key = "file-secret-0123456789abcdef"\nmax_articles_total = 12\nsmtp_pool_size = 2\n'
    )
    done = run(
        "config",
        "show",
        cwd=tmp_path,
        NEWSLETTER_CONFIG=str(path),
        NEWSLETTER_SMTP_POOL_SIZE="7",
        NEWSLETTER_DATABASE_URL="postgresql://app:db-pass-42@127.0.0.1:5432/news",
        NEWSLETTER_SMTP_URL="smtp+starttls://mailer:smtp-pass-42@relay.example.org:587",
    )
    assert done.returncode == 0, done.stderr
    lines = {line.split(" = ")[0]: line for line in done.stdout.splitlines()}
    assert set(lines) == set(SettingsInput.model_fields)
    for secret in ("file-secret-0123456789abcdef", "db-pass-42", "smtp-pass-42"):
        assert secret not in done.stdout
    assert lines["secret_key"] == f'secret_key = "********"  # file ({path})'
    assert lines["max_articles_total"] == f"max_articles_total = 12  # file ({path})"
    assert lines["smtp_pool_size"] == (
        "smtp_pool_size = 7  # environment (NEWSLETTER_SMTP_POOL_SIZE)"
    )
    assert lines["database_url"].startswith(
        'database_url = "postgresql://app:********@127.0.0.1:5432/news"  # environment'
    )
    assert "mailer:********@relay.example.org:587" in lines["smtp_url"]
    assert lines["max_articles_per_topic"] == "max_articles_per_topic = 5  # default"


def test_config_show_gives_one_line_for_a_bad_setting(tmp_path: Path) -> None:
    done = run("config", "show", cwd=tmp_path, NEWSLETTER_METRICS_PORT="99999")
    assert done.returncode == 1
    assert done.stderr.startswith("error: NEWSLETTER_METRICS_PORT:")
    assert len(done.stderr.strip().splitlines()) == 1
