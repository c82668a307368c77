"""Every email template in Chromium as mail clients show it: 600 and 375 px wide, light and dark,
with the <style> block and without it (Gmail's mobile web and others drop it), and in
Outlook.com's dark mode (which ignores prefers-color-scheme and marks the elements it recolours
with data-ogsc and data-ogsb: here every element is marked).

Checks that nothing overflows the viewport and that every visible text reaches 4.5:1 contrast
against the background it is drawn on; screenshots land in test-output/email/. Images are
served from memory (no request leaves the machine).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.email_samples import html_samples

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "email"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
# A 1x1 grey PNG for every image URL.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cff0bf1e0005ff02fe8d2c9e1c0000000049454e44ae426082"
)
SAMPLES = dict(html_samples())

MEASURE = """() => {
  const width = document.documentElement.clientWidth;
  const overflow = [];
  const lowContrast = [];
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const ch = (v) => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * ch(r) + 0.7152 * ch(g) + 0.0722 * ch(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right > width + 0.5 || box.left < -0.5) {
      const where = `${Math.round(box.left)}..${Math.round(box.right)}`;
      overflow.push(`${el.tagName}.${el.className} ${where}`);
    }
    const ownText = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!ownText) continue;
    const fg = lum(rgb(getComputedStyle(el).color).slice(0, 3));
    const bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    if (ratio < 4.5) lowContrast.push(`${el.tagName}.${el.className} ${ratio.toFixed(2)}`);
  }
  return {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    overflow: overflow.slice(0, 5),
    lowContrast: lowContrast.slice(0, 5),
    pageBackground: lum(background(document.body.querySelector('table'))),
  };
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, never a downloaded browser."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: run `make system-deps`")
        pytest.skip("/usr/bin/chromium is missing: run `make system-deps`")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


# What Outlook.com's dark mode leaves for a stylesheet to act on: the data-ogsc (text) and
# data-ogsb (background) marks, here on every element so each [data-og*] rule can match.
OUTLOOK_MARKS = """() => {
  for (const el of [document.documentElement, ...document.querySelectorAll('*')]) {
    el.setAttribute('data-ogsc', '');
    el.setAttribute('data-ogsb', '');
  }
}"""


def without_style(html: str) -> str:
    """The HTML as a client that drops <style> shows it (inline styles only)."""
    return re.sub(r"<style\b.*?</style>", "", html, flags=re.S | re.I)


# Outlook.com keeps the <style> block, so its dark mode is only tried with it.
VIEWS = [
    pytest.param(scheme, styled, id=f"{scheme}-{'style' if styled else 'no-style'}")
    for scheme in ("light", "dark", "outlook-dark")
    for styled in (True, False)
    if styled or scheme != "outlook-dark"
]


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("width", [600, 375])
@pytest.mark.parametrize(("scheme", "styled"), VIEWS)
def test_nothing_overflows_and_text_stays_readable(
    browser: Any, name: str, width: int, scheme: str, styled: bool
) -> None:
    html = SAMPLES[name] if styled else without_style(SAMPLES[name])
    color_scheme = "light" if scheme == "outlook-dark" else scheme
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=color_scheme
    )
    try:
        page = context.new_page()
        requested: list[str] = []

        def serve(route: Any) -> None:
            requested.append(route.request.url)
            route.fulfill(status=200, content_type="image/png", body=PNG)

        page.route("**/*", serve)
        page.set_content(html, wait_until="load")
        if scheme == "outlook-dark":
            page.evaluate(OUTLOOK_MARKS)
        found = page.evaluate(MEASURE)
        page.screenshot(
            path=str(SHOTS / f"{name}-{width}-{scheme}-{'style' if styled else 'nostyle'}.png"),
            full_page=True,
        )
    finally:
        context.close()
    assert found["scrollWidth"] <= found["width"], found
    assert found["overflow"] == [], found
    assert found["lowContrast"] == [], found
    if scheme != "light" and styled:
        assert found["pageBackground"] < 0.05, found  # the whole page goes dark, not only a card
    assert all(url.startswith("https://cdn.example.org/") for url in requested), requested
