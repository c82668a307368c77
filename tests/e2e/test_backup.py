"""``newsletter db backup``: a consistent copy while another process keeps writing."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

WRITER = """
import sqlite3, sys, time
db, stop = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db, timeout=30, isolation_level=None)
conn.execute("PRAGMA busy_timeout=30000")
deadline = time.monotonic() + 60
INSERT = "INSERT INTO topics (slug, name, created_at) VALUES (?, 'T', '2026-01-01')"
i = 0
while time.monotonic() < deadline:
    try:
        open(stop).close()
        break
    except FileNotFoundError:
        pass
    # two rows per transaction: a consistent copy always holds both or neither
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(INSERT, (f"a-{i}",))
    conn.execute(INSERT, (f"b-{i}",))
    conn.execute("COMMIT")
    i += 1
print(i)
"""


def newsletter(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        capture_output=True,
        text=True,
        env={**env, "NEWSLETTER_DATABASE_URL": url},
        timeout=60,
    )


def pairs(path: Path) -> tuple[int, int, str]:
    with sqlite3.connect(path) as conn:
        a = conn.execute("SELECT count(*) FROM topics WHERE slug LIKE 'a-%'").fetchone()[0]
        b = conn.execute("SELECT count(*) FROM topics WHERE slug LIKE 'b-%'").fetchone()[0]
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return a, b, check


@pytest.mark.slow
def test_backup_is_consistent_while_another_process_writes(tmp_path: Path, sqlite_url: str) -> None:
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(database), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        while pairs(database)[0] < 20:
            time.sleep(0.05)
        copies = []
        for n in range(3):
            target = tmp_path / f"copy-{n}.db"
            done = newsletter("db", "backup", str(target), url=sqlite_url)
            assert done.returncode == 0, done.stderr
            assert "integrity ok" in done.stdout
            copies.append(pairs(target))
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=60)
    written = int(out)
    for a, b, check in copies:
        assert check == "ok"
        assert a == b > 0
    assert copies[0][0] <= copies[1][0] <= copies[2][0] <= written
    # the writer was not held up: it went on committing past the last copy
    assert written > copies[-1][0]
    assert not list(tmp_path.glob("*.partial"))
    # the copy is a complete database the CLI can use
    listed = newsletter("topics", "ls", url=f"sqlite:///{tmp_path / 'copy-2.db'}")
    assert listed.returncode == 0 and "a-0" in listed.stdout


def test_backup_refuses_postgres_an_existing_file_and_a_missing_database(tmp_path: Path) -> None:
    pg = newsletter("db", "backup", str(tmp_path / "x.db"), url="postgresql://u:pw@127.0.0.1/db")
    assert pg.returncode == 1
    assert pg.stderr.count("\n") == 1 and "pg_dump" in pg.stderr
    assert "pw" not in pg.stderr
    existing = tmp_path / "existing.db"
    existing.write_text("keep")
    source = tmp_path / "source.db"
    sqlite3.connect(source).close()
    done = newsletter("db", "backup", str(existing), url=f"sqlite:///{source}")
    assert done.returncode == 1 and "already exists" in done.stderr
    assert existing.read_text() == "keep"
    missing = newsletter("db", "backup", str(tmp_path / "y.db"), url="sqlite:////nonexistent/n.db")
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: NEWSLETTER_DATABASE_URL: no such database file")
    assert not (tmp_path / "y.db").exists()
