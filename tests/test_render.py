"""Rendering: golden files, escaping, inlined CSS that keeps @media and !important."""

from __future__ import annotations

import os
from pathlib import Path

from newsletter.render import (
    PERSONAL_MARKERS,
    ArticleView,
    DigestView,
    SectionView,
    fill_markers,
    make_environment,
    render_digest,
)

GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def sample_digest() -> DigestView:
    tech = SectionView(
        topic="tech",
        topic_name="Technology",
        articles=(
            ArticleView(
                title="Servers add <one-click> unsubscribe & more",
                url="https://news.example.org/a?x=1&y=2",
                summary='RFC 8058 support lands in "major" servers.',
                source="Example Tech",
                published="23 Nov 2026",
            ),
            ArticleView(
                "Python 3.15 starts faster", "https://news.example.org/b", "", "", "22 Nov 2026"
            ),
        ),
    )
    world = SectionView(
        topic="world",
        topic_name="World",
        articles=(
            ArticleView(
                "Élections : la participation progresse",
                "https://news.example.org/c",
                "Turnout rose.",
                "Example World",
                "22 Nov 2026",
            ),
        ),
    )
    return DigestView(
        list_name="The Example Daily",
        sender_name="Example Newsroom",
        sender_address="digest@news.example.org",
        sections=(tech, world),
        view_url="https://news.example.test/v/1/abc",
    )


def check_golden(name: str, content: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(content, encoding="utf-8")
    assert content == path.read_text(encoding="utf-8"), f"{name} changed; UPDATE_GOLDEN=1 to accept"


# The markers carry a per-process nonce: the golden files show them by their stable names.
STABLE_MARKERS = {
    "name": "@@NAME@@",
    "unsubscribe_url": "@@UNSUB_URL@@",
    "preferences_url": "@@PREFS_URL@@",
}


def test_golden_html_and_text() -> None:
    rendered = render_digest(make_environment(), sample_digest())
    check_golden("digest.html", fill_markers(rendered.html, STABLE_MARKERS))
    check_golden("digest.txt", fill_markers(rendered.text, STABLE_MARKERS))
    assert (
        rendered.subject
        == "The Example Daily: Servers add <one-click> unsubscribe & more (+2 more)"
    )
    assert rendered.preheader == "3 new articles in Technology, World"


def test_escaping_inlining_and_structure() -> None:
    html = render_digest(make_environment(), sample_digest()).html
    assert "&lt;one-click&gt; unsubscribe &amp; more" in html  # autoescape on
    assert 'href="https://news.example.org/a?x=1&amp;y=2"' in html
    assert "@media only screen and (max-width: 620px)" in html  # kept for clients that honour it
    assert "!important" in html  # strip_important=False
    assert 'style="width:600px; max-width:600px' in html and 'width="600"' in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "3 new articles in Technology, World" in html  # preheader
    for marker in PERSONAL_MARKERS.values():
        assert marker in html  # personal parts go in after inlining
    assert len(html.encode()) < 100_000


def test_text_is_not_html_escaped() -> None:
    text = render_digest(make_environment(), sample_digest()).text
    assert "Servers add <one-click> unsubscribe & more" in text
    assert "https://news.example.org/a?x=1&y=2" in text
    assert all(len(line) <= 998 for line in text.splitlines())
