"""Fuzzing CSV import: any file gives a report or one ImportFileError, never a hang; a refused
file writes nothing (no rows, no rejects file, no ``.partial`` left behind)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from newsletter.db import make_engine, session_scope
from subscribers import service
from subscribers.errors import ImportFileError
from subscribers.importer import import_csv
from tests.conftest import NOW
from tests.fuzzing import (
    IN_PROCESS,
    THROUGH_CLI,
    assert_clean_exit,
    deadline,
    run_cli,
    snapshot,
)
from tests.helpers import seed_list

COLUMNS = ["email", "name", "topics", "cadence", "weekday", "timezone", "send_hour", "status"]
CELLS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "=1+1",
            "\t=1+1",
            "'=2",
            "+A1",
            "@SUM(A1)",
            "-1",
            "a@example.com",
            "tech;science",
            "weekly",
            "Europe",
            "Europe/Paris",
            "x" * 300,
            "99999999999999999999",
            "-3",
            "25",
            "\x00",
            '"',
            '""',
            "\r\n",
            "unsubscribed",
            "pending",
            "é@example.com",
        ]
    ),
)


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    columns = draw(
        st.lists(st.one_of(st.sampled_from(COLUMNS), st.text(max_size=10)), min_size=1, max_size=10)
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    rows = draw(st.lists(st.lists(CELLS, min_size=0, max_size=len(columns) + 2), max_size=8))

    def line(cells: list[str]) -> str:
        quoted = [
            f'"{c.replace(chr(34), chr(34) * 2)}"' if draw(st.booleans()) else c for c in cells
        ]
        return delimiter.join(quoted)

    text = "\n".join([line(columns), *(line(r) for r in rows)])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return text.encode(encoding, "replace")


FILES = st.one_of(st.binary(max_size=2000), csv_files())


@pytest.fixture
def seeded(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech", "science"])
    yield engine
    engine.dispose()


def _import(engine: Engine, path: Path, rejects: Path) -> None:
    with session_scope(engine) as session:
        import_csv(
            session,
            path=path,
            mailing_list=service.get_list(session, slug="daily"),
            now=NOW,
            secret=b"fuzz-secret-0123456789",
            rejects_path=rejects,
        )


def _check(engine: Engine, folder: Path, data: bytes) -> None:
    for stale in folder.iterdir():
        stale.unlink()
    path, rejects = folder / "people.csv", folder / "rejects.csv"
    path.write_bytes(data)
    before = snapshot(engine)
    try:
        with deadline():
            _import(engine, path, rejects)
    except ImportFileError as exc:
        assert "\n" not in str(exc)
        assert snapshot(engine) == before
        assert sorted(p.name for p in folder.iterdir()) == ["people.csv"]
    else:
        assert rejects.exists()
        assert not list(folder.glob(".*partial"))


@IN_PROCESS
@given(data=FILES)
def test_any_csv_file(seeded: Engine, tmp_path: Path, data: bytes) -> None:
    _check(seeded, tmp_path, data)


@pytest.mark.parametrize(
    "data",
    [
        b"email," + b",".join(b"c%d" % i for i in range(100_000)) + b"\na@example.com\n",
        b"email,name\n" + b"a@example.com," + b"x" * 2_000_000 + b"\n",
        b"email,name\n" + b'"' * 500_000 + b"\n",
        b"email\n" + b"a@example.com\n" * 5 + b"\xff\xfe broken utf-8\n",
        "email,name\n".encode("utf-16"),
        b"\xef\xbb\xbfemail;name;topics\n=cmd@example.com;\t=1+1;tech\n",
        b"email,email\na@example.com,b@example.com\n",
        b"",
        b"\n\n\n",
    ],
    ids=[
        "100k-columns",
        "2MB-field",
        "quotes",
        "bad-utf8-late",
        "utf16",
        "formulas",
        "duplicate-column",
        "empty",
        "blank-lines",
    ],
)
def test_hostile_csv_shapes(seeded: Engine, tmp_path: Path, data: bytes) -> None:
    _check(seeded, tmp_path, data)


@THROUGH_CLI
@given(data=FILES)
def test_import_through_the_cli(seeded: Engine, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(data)
    url = str(seeded.url)
    before = snapshot(seeded)
    result = run_cli(url, "subscribers", "import", str(path), "--list", "daily")
    assert_clean_exit(result)
    if result.returncode != 0:
        assert snapshot(seeded) == before
