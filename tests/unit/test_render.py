"""Rendering: golden files, escaping, inlined CSS that keeps @media and !important."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

from newsletter.digest.render import (
    PERSONAL_MARKERS,
    ArticleView,
    DigestView,
    SectionView,
    fill_markers,
    make_environment,
    render_digest,
    render_web_issue,
)
from newsletter.publish.brand import LIGHT, Brand, contrast

GOLDEN = Path(__file__).parents[1] / "fixtures" / "golden"


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
    # hybrid fluid: 100% up to 600px everywhere, a fixed 600px table for Outlook only
    assert 'class="container" width="100%"' in html
    assert "; width:100%; max-width:600px" in html
    assert '<!--[if mso]><table role="presentation" align="center" width="600"' in html
    assert "<!--[if mso]></td></tr></table><![endif]-->" in html
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


def test_fonts_on_cells_dark_mode_and_an_honest_preheader() -> None:
    html = render_digest(make_environment(), sample_digest()).html
    outside_comments = re.sub(r"<!--.*?-->", "", html, flags=re.S)
    cells = re.findall(r"<td\b[^>]*>", outside_comments)
    assert cells and all(
        "font-family:-apple-system" in cell for cell in cells
    )  # Yahoo drops <body>
    assert all("mso-line-height-rule:exactly" in cell for cell in cells)
    assert "<div" not in html.split("</div>", 1)[1]  # only the preheader is a div: padding on cells
    preheader = re.search(r'<div class="preheader" style="([^"]*)">([^<]*)</div>', html)
    assert preheader is not None
    assert "color" not in preheader.group(1)  # no text coloured like its background
    assert preheader.group(2).startswith("3 new articles in Technology, World\u200c\u00a0")
    dark = html[html.index("@media (prefers-color-scheme: dark)") :]
    for selector in ("body, .wrapper, .page-cell", ".footer", ".article-meta", "border-top-color"):
        assert selector in dark


def test_brand_note_lead_and_images() -> None:
    base = sample_digest()
    lead = ArticleView(
        "Lead <story>",
        "https://news.example.org/lead",
        "Why it matters.",
        "Desk",
        "24 Nov 2026",
        image_url="https://cdn.example.org/lead.jpg",
    )
    digest = dataclasses.replace(
        base,
        brand=Brand(
            name="The Example Daily",
            accent="#fde047",
            logo_url="https://cdn.example.org/l.png",
            footer_text="Line one\nLine <two>",
            postal_address="1 Example St",
            show_images=True,
        ),
        note_html="<p>Hello <strong>readers</strong></p>",
        note_text="Hello **readers**",
        lead=lead,
        archive_url="https://news.example.test/l/daily/archive",
    )
    rendered = render_digest(make_environment(), digest)
    assert rendered.subject.startswith("The Example Daily: Lead <story> (+3 more)")
    assert "Line one<br>Line &lt;two&gt;" in rendered.html
    image = re.search(r'<img class="lead-image"[^>]*>', rendered.html)
    assert image is not None
    for attribute in (
        'src="https://cdn.example.org/lead.jpg"',
        'width="552"',
        'height="289"',
        'alt="Lead &lt;story&gt;"',
    ):
        assert attribute in image.group(0)  # og:image's 1.91:1; CSS height:auto keeps the ratio
    assert "Hello <strong>readers</strong>" in rendered.html
    yellow = Brand(name="x", accent="#fde047")
    assert f"color:{yellow.accent_light}" in rendered.html  # a pale accent is darkened on white
    assert contrast(yellow.accent_light, LIGHT["card"]) >= 4.5
    assert (
        "FROM THE EDITOR" in rendered.text
        and "Past issues: https://news.example.test" in rendered.text
    )
    assert "\n-- \n" in rendered.text  # the signature separator, with its space


def test_web_issue_has_no_personal_markers_and_a_subscribe_button() -> None:
    digest = dataclasses.replace(sample_digest(), subscribe_url="https://news.example.test/l/daily")
    html = render_web_issue(make_environment(), digest, label="Issue of 25 Nov 2026")
    assert "@@" not in html and "Unsubscribe" not in html
    assert 'class="button" href="https://news.example.test/l/daily"' in html
    assert "<style>" in html and "@media (prefers-color-scheme: dark)" in html


def test_lang_and_direction_per_article() -> None:
    from tests.email_samples import digest

    html = render_digest(make_environment(), digest(True)).html
    assert html.count('lang="ja" dir="auto"') == 1  # the one Japanese article
    assert html.count('dir="auto"') == 10  # nine articles and the lead
