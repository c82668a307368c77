"""Fuzzing the CLI in real processes: arguments, article and JSON files, extreme dates and numbers.

Each input ends in success or one ``error:`` line with exit code 1 (2 for a usage error), never a
traceback or a hang, and a refused input leaves the database as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from newsletter.db import make_engine
from tests.conftest import NOW
from tests.fuzzing import THROUGH_CLI, assert_clean_exit, run_cli, snapshot
from tests.helpers import seed_list, subscribe

WORDS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
    st.sampled_from(
        [
            "Europe",
            "Mars/Base",
            "-1",
            "24",
            "99999999999999999999",
            "1e400",
            "NaN",
            "",
            "--",
            "--help",
            "=1+1",
            "a@example.com",
            "a@b",
            "é@例え.jp",
            "@",
            "weekly",
            "sun",
            "tech",
            "0001-01-01T00:00:00",
            "9999-12-31T23:59:59+14:00",
            "2026-02-30",
            "-999999-01-01",
        ]
    ),
)


@pytest.fixture
def seeded(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    seed_list(engine, NOW, ["tech", "science"])
    subscribe(engine, NOW, "alice@example.com", ["tech"], name="Alice")
    yield engine
    engine.dispose()


def _refused_writes_nothing(engine: Engine, *args: str) -> None:
    before = snapshot(engine)
    result = run_cli(str(engine.url), *args)
    assert_clean_exit(result)
    if result.returncode != 0:
        assert snapshot(engine) == before


@THROUGH_CLI
@given(email=WORDS, name=WORDS, topic=WORDS, hour=WORDS, zone=WORDS, weekday=WORDS)
def test_subscribers_add(
    seeded: Engine, email: str, name: str, topic: str, hour: str, zone: str, weekday: str
) -> None:
    _refused_writes_nothing(
        seeded,
        "subscribers",
        "add",
        email,
        "--list",
        "daily",
        "--name",
        name,
        "--topic",
        topic,
        "--send-hour",
        hour,
        "--timezone",
        zone,
        "--cadence",
        "weekly",
        "--weekday",
        weekday,
    )


@THROUGH_CLI
@given(
    command=st.sampled_from(
        [
            ("suppressions", "add"),
            ("suppressions", "remove"),
            ("subscribers", "show"),
            ("subscribers", "export", "--list", "daily", "--status"),
            ("lists", "show"),
            ("subscribers", "unsubscribe", "--list", "daily"),
        ]
    ),
    value=WORDS,
)
def test_one_value_commands(seeded: Engine, command: tuple[str, ...], value: str) -> None:
    _refused_writes_nothing(seeded, *command, value)


@st.composite
def article_files(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["json", "txt", "md", "html"]))
    if kind == "json":
        value = draw(
            st.recursive(
                st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | WORDS,
                lambda inner: (
                    st.lists(inner, max_size=4)
                    | st.dictionaries(
                        st.sampled_from(
                            [
                                "title",
                                "url",
                                "summary",
                                "published",
                                "items",
                                "topics",
                                "link",
                                "date",
                            ]
                        )
                        | st.text(max_size=5),
                        inner,
                        max_size=5,
                    )
                ),
                max_leaves=20,
            )
        )
        return kind, json.dumps(value, allow_nan=True).encode()
    text = "\n".join(draw(st.lists(WORDS, max_size=10)))
    return kind, text.encode("utf-8", "replace")


@THROUGH_CLI
@given(article=article_files(), published=st.none() | WORDS)
def test_ingest_article_and_json_files(
    seeded: Engine, tmp_path: Path, article: tuple[str, bytes], published: str | None
) -> None:
    kind, data = article
    path = tmp_path / f"input.{kind}"
    path.write_bytes(data)
    extra = ["--published", published] if published is not None else []
    _refused_writes_nothing(seeded, "ingest", str(path), "--topic", "tech", *extra)


# The worst cases of issue 11 items 5 and 9, each once more in a real process. 20,000 dots took
# 12 s of CPU in the picture-credit pattern (a hang at the fuzz deadline on a loaded machine);
# now milliseconds.
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("deep.json", b"[" * 100_000 + b"]" * 100_000),  # was a RecursionError traceback
        ("dots.txt", b"Title\n\n" + b"." * 20_000),  # was a quadratic regex: a hang
        pytest.param(
            "mr.txt", b"Title\n\n" + b"Mr. " * 40_000, marks=pytest.mark.slow
        ),  # was a quadratic summariser: a hang
        ("nul.md", b"# T\x00itle\n\nbody\x00"),
        ("huge-int.json", b'{"title": "t", "url": "https://x.example/a", "published": 1e999}'),
    ],
)
def test_hostile_article_files(seeded: Engine, tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    _refused_writes_nothing(seeded, "ingest", str(path), "--topic", "tech")
