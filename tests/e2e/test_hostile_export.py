"""Exports to a bad target or with a bad status, and huge ids (issue 11 item 9).

``newsletter subscribers export --out`` in a real process: a folder, a missing folder or a bad
status gives one ``error:`` line, exit code 1 and no file at all (no stray ``.partial`` with
subscriber data); the console's export and its id routes answer an error page, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from newsletter.db import make_engine
from newsletter.web.app import create_app
from tests.cli_helpers import cli
from tests.conftest import NOW, make_runtime, make_settings
from tests.helpers import seed_list, subscribe
from tests.webapp import ADMIN, WebEnv, add_users, login


@pytest.fixture
def seeded(sqlite_url: str) -> str:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech"])
    subscribe(engine, NOW, "alice@example.com", ["tech"], name="Alice")
    engine.dispose()
    return sqlite_url


def _files(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*")}


@pytest.mark.parametrize(
    ("target", "status", "says"),
    [
        ("existing-folder", "active", "is a folder"),
        ("existing-folder", "all", "is a folder"),
        ("missing-folder/export.csv", "active", "does not exist"),
        ("export.csv", "bogus", "status must be one of"),
        ("export.csv", "x" * 300, "status must be one of"),
    ],
)
def test_a_refused_export_leaves_no_file(
    seeded: str, tmp_path: Path, target: str, status: str, says: str
) -> None:
    work = tmp_path / "work"
    (work / "existing-folder").mkdir(parents=True)
    before = _files(work)
    result = cli(
        seeded, "subscribers", "export", "--list", "daily", "--status", status,
        "--out", str(work / target),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines
    assert "Traceback" not in result.stderr and len(lines[0]) < 200
    assert _files(work) == before  # nothing written, no .partial anywhere
    assert not list(tmp_path.rglob("*.partial"))


def test_an_export_replaces_the_file_whole(seeded: str, tmp_path: Path) -> None:
    out = tmp_path / "export.csv"
    out.write_text("old contents\n", encoding="utf-8")
    result = cli(seeded, "subscribers", "export", "--list", "daily", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("alice@example.com,Alice,")
    assert _files(tmp_path) == {Path("export.csv"), Path("newsletter.db")}


@pytest.fixture
def web(sqlite_url: str) -> Iterator[WebEnv]:
    runtime = make_runtime(make_settings(sqlite_url, base_url="http://testserver"))
    seed_list(runtime.engine, runtime.clock(), ["tech"])
    subscribe(runtime.engine, runtime.clock(), "alice@example.com", ["tech"], name="Alice")
    add_users(runtime)
    with TestClient(create_app(runtime)) as client:
        yield WebEnv(runtime=runtime, client=client)
    runtime.dispose()


@pytest.mark.parametrize(
    "status", ["bogus", "active\r\nSet-Cookie: x=1", "x" * 5000, "\x00", "²", "9" * 25]
)
def test_the_console_export_refuses_a_bad_status(web: WebEnv, status: str) -> None:
    login(web.client, ADMIN)
    response = web.client.get(
        "/admin/subscribers/export", params={"list": "daily", "status": status}
    )
    # a number beyond 64 bits is refused first, as in every URL (404)
    expected = (
        (404, "Page not found")
        if status.isascii() and status.isdigit()
        else (400, "status must be one of")
    )
    assert (response.status_code, expected[1] in response.text) == (expected[0], True)
    assert "x=1" not in response.headers.get("set-cookie", "")


@pytest.mark.parametrize("status", [" Active ", "ALL", "pending"])
def test_the_console_export_file_is_named_after_the_parsed_status(web: WebEnv, status: str) -> None:
    login(web.client, ADMIN)
    response = web.client.get(
        "/admin/subscribers/export", params={"list": "daily", "status": status}
    )
    assert response.status_code == 200
    name = status.strip().lower()
    assert response.headers["content-disposition"] == f'attachment; filename="daily-{name}.csv"'


HUGE = ["9223372036854775808", "99999999999999999999999999", "-9223372036854775809"]
ID_ROUTES = [
    "/admin/runs/{}/pause",
    "/admin/runs/{}/retry",
    "/admin/users/{}",
    "/admin/schedule/{}/cancel",
    "/admin/articles/{}",
]


def test_huge_ids_in_console_posts_are_not_found(web: WebEnv) -> None:
    csrf = login(web.client, ADMIN)
    for path in ID_ROUTES:
        for number in HUGE:
            response = web.client.post(path.format(number), data={"csrf": csrf, "action": "x"})
            assert response.status_code == 404 and "Page not found" in response.text, path
