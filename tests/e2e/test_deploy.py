"""The example systemd units in deploy/: valid for systemd, and their commands exist."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("newsletter-web.service", "newsletter-scheduler.service")
INSTALLED = "/opt/newsletter/bin/newsletter"
HERE = str(Path(sys.executable).parent / "newsletter")


def directives(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (DEPLOY / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def verify(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", *(str(folder / unit) for unit in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def copies(tmp_path: Path, *, replace: tuple[str, str] | None = None) -> Path:
    """The units with ExecStart pointing at this checkout's ``newsletter`` (verify checks it)."""
    for unit in UNITS:
        text = (DEPLOY / unit).read_text().replace(INSTALLED, HERE)
        if replace is not None:
            text = text.replace(*replace)
        (tmp_path / unit).write_text(text)
    return tmp_path


@pytest.mark.parametrize("unit", UNITS)
def test_units_restart_run_as_their_own_user_and_read_the_environment_file(unit: str) -> None:
    found = directives(unit)
    assert found["Restart"][0] in ("on-failure", "always")
    assert found["User"] == ["newsletter"] and found["Group"] == ["newsletter"]
    assert found["EnvironmentFile"] == ["/etc/newsletter/newsletter.env"]
    for command in found.get("ExecStartPre", []) + found["ExecStart"]:
        program, *args = shlex.split(command)
        assert program == INSTALLED
        done = subprocess.run([HERE, *args, "--help"], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stderr)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed"
)
def test_systemd_analyze_verify_accepts_the_units_without_a_warning(tmp_path: Path) -> None:
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = verify(copies(tmp_path / "good"))
    assert good.returncode == 0 and good.stderr == "", good.stderr
    bad = verify(copies(tmp_path / "bad", replace=("Restart=on-failure", "Restart=sometimes")))
    assert "sometimes" in bad.stderr  # the check above would have seen a mistake
