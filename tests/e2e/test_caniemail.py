"""Every email template against the caniemail.com support data, for Gmail, Apple Mail, Outlook
(Windows, Windows Mail, macOS, iOS, Android) and Yahoo.

Runs ``npm run check`` in tools/caniemail (``@jsx-email/doiuse-email``, pinned in its
package-lock.json; ``npm ci`` there installs it, and this test does so when it is missing).
Every feature the data reports unsupported somewhere must be a known progressive enhancement
listed below with the fallback that makes the layout hold without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.email_samples import html_samples

pytestmark = pytest.mark.slow

TOOL = Path(__file__).resolve().parents[2] / "tools" / "caniemail"
NPM = shutil.which("npm")

#: Unsupported somewhere, and why the layout does not rely on it.
ENHANCEMENTS = {
    "<body> element": "page colour and fonts are on the wrapper table and on every cell",
    "@media": "phone and dark-mode refinements only; the layout is fluid without them",
    "Attribute selector": "[data-ogsc]/[data-ogsb]: Outlook.com's dark mode only, which sets them",
    "Class selector": "the <style> block refines; every rule is also inlined",
    "Descendant combinator": "the <style> block refines; every rule is also inlined",
    "Type selector": "the <style> block refines; every rule is also inlined",
    "border-radius": "the button is square in Outlook for Windows",
    "display:none": "the preheader is also max-height:0, 1px text and mso-hide:all",
    "opacity": "the preheader is also max-height:0, 1px text and mso-hide:all",
    "overflow": "the preheader is also max-height:0, 1px text and mso-hide:all",
    "role attribute": "an accessibility hint for screen readers",
    "word-break": "long words wrap where supported; text has no unbroken long tokens otherwise",
}


def _tool_ready() -> None:
    if NPM is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are missing: run `make system-deps`")
        pytest.skip("node and npm are missing: run `make system-deps`")
    if not (TOOL / "node_modules" / "@jsx-email" / "doiuse-email").exists():
        subprocess.run(
            [str(NPM), "ci", "--no-audit", "--no-fund", "--silent"],
            cwd=TOOL,
            check=True,
            timeout=300,
            capture_output=True,
        )


def test_no_feature_the_layout_relies_on_is_unsupported(tmp_path: Path) -> None:
    _tool_ready()
    files = []
    for name, html in html_samples():
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        files.append(str(path))
    result = subprocess.run(
        [str(NPM), "run", "--silent", "check", "--", *files],
        cwd=TOOL,
        check=True,
        timeout=300,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    assert set(report) == set(files)
    unsupported: dict[str, set[str]] = {}
    for verdict in report.values():
        for error in verdict["errors"]:
            found = re.fullmatch(r"`(.+)` is not supported by `(.+)`", error)
            assert found is not None, error
            unsupported.setdefault(found.group(1), set()).add(found.group(2))
    relied_on = {
        feature: clients for feature, clients in unsupported.items() if feature not in ENHANCEMENTS
    }
    assert relied_on == {}, relied_on
    # the data was really consulted: the known gaps of Outlook for Windows show up
    assert "outlook.windows" in unsupported["@media"]
