"""The wheel: built from the checkout, installed into a fresh virtualenv, the demo run from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", "outbox", "preview", "*.db*"
)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    shutil.copytree(ROOT, source, ignore=SKIP)
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), "."], source)
    (wheel,) = dist.glob("newsletter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "newsletter/templates/email/digest.html.j2",
        "newsletter/templates/web/base.html.j2",
        "newsletter/migrations/script.py.mako",
        "newsletter/migrations/env.py",
        "newsletter/devtools/samples/subscribers.csv",
        "newsletter/web/ops.py",
        "subscribers/models.py",
    ):
        assert data in names, data

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = venv / "bin" / "python"
    run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path
    )
    # The pinned dependencies come from this interpreter's site-packages, appended after the
    # venv's own (a .pth line is a plain path: this project's editable hook is not loaded).
    site = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path
    )
    Path(site.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    work = tmp_path / "operator"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSLETTER_", "PYTHON"))}
    where = run(
        [
            str(python),
            "-c",
            "import newsletter.digest.render as r; print(r.__file__); print(r.TEMPLATES)",
        ],
        work,
        env,
    ).split()
    assert all(path.startswith(str(venv)) for path in where), where
    assert Path(where[1], "email", "digest.html.j2").is_file()

    newsletter = str(venv / "bin" / "newsletter")
    run([newsletter, "init"], work, env)
    demo = run([newsletter, "demo", "--workdir", str(work)], work, env)
    assert "digest(s) sent" in demo
    received = list((work / "outbox").rglob("new/*"))
    assert received, demo
    assert any(b"List-Unsubscribe-Post" in path.read_bytes() for path in received)
    fresh = {**env, "NEWSLETTER_DATABASE_URL": f"sqlite:///{work / 'fresh.db'}"}
    assert "at revision head" in run([newsletter, "db", "upgrade"], work, fresh)
    demo_db = {**env, "NEWSLETTER_DATABASE_URL": f"sqlite:///{work / 'demo.db'}", "COLUMNS": "200"}
    assert "daily" in run([newsletter, "lists", "ls"], work, demo_db)
