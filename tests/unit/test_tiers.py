"""Every test module lives in a tier: `pytest` collects only tests/unit, tests/integration and
tests/e2e (pyproject.toml's testpaths), so a module left directly in tests/ would never run."""

from __future__ import annotations

import tomllib
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = ("unit", "integration", "e2e")


def test_no_test_module_outside_the_tiers() -> None:
    strays = sorted(p.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py"))
    strays = [p for p in strays if p.split("/", 1)[0] not in TIERS]
    assert strays == []


def test_pytest_collects_every_tier_fastest_first() -> None:
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())
    testpaths = config["tool"]["pytest"]["ini_options"]["testpaths"]
    assert testpaths == [f"tests/{tier}" for tier in TIERS]
