"""Render digests with Jinja and inline their CSS with premailer (pure, once per digest).

The same template renders the email (personal markers in place) and the reader's web copy
(``render_web_issue``: no personal links, a subscribe button, the stylesheet kept in <style>).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import ModuleType

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from newsletter.publish.brand import DARK, LIGHT, Brand
from newsletter.publish.mailparts import HTML_PART_BUDGET, fits_gmail


def _templates_dir() -> Path:
    """``newsletter/templates`` in an installed wheel, else the clone's top-level ``templates/``."""
    packaged = Path(__file__).resolve().parents[1] / "templates"
    return packaged if packaged.is_dir() else packaged.parent.parent / "templates"


TEMPLATES = _templates_dir()

#: A random value drawn once per process. Personal markers carry it, so no article, feed or
#: list name can contain a marker: content is written before the process starts and the value
#: never leaves it (every marker is substituted before a byte is sent or stored). Rendering and
#: substitution always happen in the same process (digests are re-rendered from their articles).
MARKER_NONCE = secrets.token_hex(12)
#: The placeholder names of the per-subscriber values, as ``mime.qp`` templates take them.
PLACEHOLDER_NAMES = {
    "name": f"NAME.{MARKER_NONCE}",
    "unsubscribe_url": f"UNSUB_URL.{MARKER_NONCE}",
    "preferences_url": f"PREFS_URL.{MARKER_NONCE}",
}
#: Markers the templates print where per-subscriber values go after inlining.
PERSONAL_MARKERS = {key: f"@@{name}@@" for key, name in PLACEHOLDER_NAMES.items()}
_MARKER_KEYS = {marker: key for key, marker in PERSONAL_MARKERS.items()}
_MARKER_PATTERN = re.compile("|".join(re.escape(marker) for marker in _MARKER_KEYS))


#: Repeated on every cell (Yahoo drops <body>); kept short because it is inlined ~100 times: a
#: longer stack with CJK family names made a 20-article Japanese digest 14 % larger.
FONTS = "-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"


@dataclass(frozen=True)
class ArticleView:
    """What a template shows of one article."""

    title: str
    url: str
    summary: str
    source: str
    published: str
    image_url: str = ""  # absolute https only (compose checks); shown when the list enables it
    lang: str = ""  # BCP 47 tag when known; the cell gets dir="auto" either way


@dataclass(frozen=True)
class SectionView:
    """One topic section of a digest."""

    topic: str
    topic_name: str
    articles: tuple[ArticleView, ...]
    url: str = ""  # the list's topic page in the archive, when known
    more: int = 0  # eligible articles the caps left out (counted as offered)


@dataclass(frozen=True)
class DigestView:
    """Everything shared by all recipients of one distinct digest."""

    list_name: str
    sender_name: str
    sender_address: str
    sections: tuple[SectionView, ...]
    view_url: str
    brand: Brand | None = None  # None: the default look, named after the list
    note_html: str = ""  # the editor's note, already sanitised (newsletter.publish.notes)
    note_text: str = ""
    lead: ArticleView | None = None
    subscribe_url: str = ""
    archive_url: str = ""  # empty when the list's archive is private
    lang: str = "en"


@dataclass(frozen=True)
class RenderedDigest:
    """A digest's subject, preheader, inlined HTML and text, with personal markers in place."""

    subject: str
    preheader: str
    html: str
    text: str
    dropped: int = 0  # articles moved into "N more" to keep the HTML under Gmail's clipping size


def make_environment(templates_dir: Path = TEMPLATES) -> Environment:
    """The Jinja environment for e-mail and pages: autoescape on, undefined names are errors."""
    environment = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(["html", "html.j2", "htm"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["nl2br"] = nl2br
    # The stylesheet's defaults, for templates that include it without a brand (confirmation).
    default = Brand(name="")
    environment.globals.update(
        light=LIGHT,
        dark=DARK,
        fonts=FONTS,
        accent=default.accent_light,
        accent_dark=default.accent_dark,
    )
    return environment


def nl2br(value: str) -> Markup:
    """Escape ``value`` and turn its line breaks into ``<br>`` (footer text, postal address)."""
    return Markup("<br>").join(escape(line) for line in str(value).splitlines())


def format_date(moment: datetime) -> str:
    """A short date such as ``25 Nov 2026``."""
    return f"{moment.day} {moment:%b %Y}"


def subject_for(digest: DigestView) -> str:
    """``List name: first headline (+N more)``."""
    articles = [article for section in digest.sections for article in section.articles]
    if digest.lead is not None:
        articles.insert(0, digest.lead)
    if not articles:
        return digest.list_name
    more = f" (+{len(articles) - 1} more)" if len(articles) > 1 else ""
    return f"{digest.list_name}: {articles[0].title}{more}"


def preheader_for(digest: DigestView) -> str:
    """An honest preview line: how many articles in which topics."""
    count = sum(len(section.articles) for section in digest.sections) + (digest.lead is not None)
    topics = ", ".join(section.topic_name for section in digest.sections)
    noun = "article" if count == 1 else "articles"
    return f"{count} new {noun} in {topics}"


@functools.cache
def _premailer() -> ModuleType:
    """premailer, imported on first use (with cssutils and lxml it costs ~0.1 s at start-up)."""
    import cssutils
    import premailer

    # cssutils logs every property it does not know (mso-*, prefers-color-scheme) at WARNING.
    cssutils.log.setLevel(logging.CRITICAL)
    return premailer


def inline_css(html: str) -> str:
    """Inline the stylesheet into the HTML, keeping @media rules and !important in <style>."""
    inliner = _premailer().Premailer(
        html,
        allow_network=False,
        strip_important=False,
        keep_style_tags=False,
        remove_classes=False,
        disable_validation=True,
        # keep the templates' own width/height attributes (Outlook sizes by them); CSS such as
        # `height:auto` must not overwrite them as height="auto"
        disable_basic_attributes=["width", "height"],
        cssutils_logging_level=logging.CRITICAL,
    )
    return str(inliner.transform(pretty_print=False))


#: Fills the inbox preview after the preheader, so it does not run on into "View in your
#: browser": zero-width non-joiners and no-break spaces (no text coloured like its background).
PREHEADER_FILLER = Markup("&zwnj;&nbsp;" * 90)


def brand_of(digest: DigestView) -> Brand:
    """The digest's brand, or the default look named after the list."""
    return digest.brand if digest.brand is not None else Brand(name=digest.list_name)


def render_css(env: Environment, brand: Brand, name: str = "email/digest.css") -> str:
    """The digest stylesheet with the list's accent (4.5:1 on the card in light and dark);
    ``email/outlook.css`` is the dark palette for Outlook.com's data-ogsc/data-ogsb marks."""
    return env.get_template(name).render(
        light=LIGHT,
        dark=DARK,
        fonts=FONTS,
        accent=brand.accent_light,
        accent_dark=brand.accent_dark,
    )


def _context(env: Environment, digest: DigestView, *, web: bool) -> dict[str, object]:
    brand = brand_of(digest)
    return {
        "subject": subject_for(digest),
        "preheader": preheader_for(digest),
        "filler": PREHEADER_FILLER,
        "css": Markup(render_css(env, brand)),
        "outlook_css": Markup(render_css(env, brand, "email/outlook.css")),
        "light": LIGHT,
        "brand": brand,
        "lang": digest.lang,
        "list_name": digest.list_name,
        "sender_name": digest.sender_name,
        "sender_address": digest.sender_address,
        "sections": digest.sections,
        "view_url": digest.view_url,
        "note_html": Markup(digest.note_html),
        "note_text": digest.note_text,
        "lead": digest.lead,
        "subscribe_url": digest.subscribe_url,
        "archive_url": digest.archive_url,
        "personal": None if web else PERSONAL_MARKERS,
        "web": web,
        "issue_label": "",
    }


def _render(env: Environment, digest: DigestView, dropped: int) -> RenderedDigest:
    context = _context(env, digest, web=False)
    html = env.get_template("email/digest.html.j2").render(context)
    text = env.get_template("email/digest.txt.j2").render(context)
    return RenderedDigest(
        subject=str(context["subject"]),
        preheader=str(context["preheader"]),
        html=inline_css(html),
        text=text,
        dropped=dropped,
    )


def render_digest(
    env: Environment, digest: DigestView, *, budget: int = HTML_PART_BUDGET
) -> RenderedDigest:
    """Render both parts and inline the HTML's CSS; personal values stay as markers.

    A digest whose HTML part would pass ``budget`` octets on the wire (Gmail clips at about
    102 KB and hides the rest, unsubscribe link included) shows fewer articles: the fewest
    dropped that make it fit (a binary search, one render each), taken from the end of the
    longest sections and counted in their "N more in Topic" lines. They stay in the digest's
    offered articles, like those the per-topic cap leaves out."""
    rendered = _render(env, digest, 0)
    if fits_gmail(rendered.html, budget):
        return rendered
    order = drop_order(digest)
    low, high = 1, len(order)
    best: RenderedDigest | None = None
    while low <= high:
        middle = (low + high) // 2
        candidate = _render(env, without(digest, order[:middle]), middle)
        if fits_gmail(candidate.html, budget):
            best, high = candidate, middle - 1
        else:
            low = middle + 1
    return best or _render(env, without(digest, order), len(order))


def drop_order(digest: DigestView) -> list[tuple[int, int]]:
    """(section, article) positions in the order the size cap drops them: always the last
    article of the section that shows the most (the later section on a tie)."""
    shown = [len(section.articles) for section in digest.sections]
    order: list[tuple[int, int]] = []
    while any(shown):
        index = max(range(len(shown)), key=lambda i: (shown[i], i))
        shown[index] -= 1
        order.append((index, shown[index]))
    return order


def without(digest: DigestView, positions: Sequence[tuple[int, int]]) -> DigestView:
    """``digest`` without the articles at ``positions``, each counted in its section's more."""
    gone: dict[int, set[int]] = {}
    for section, article in positions:
        gone.setdefault(section, set()).add(article)
    sections = tuple(
        dataclasses.replace(
            section,
            articles=tuple(a for i, a in enumerate(section.articles) if i not in gone.get(n, ())),
            more=section.more + len(gone.get(n, ())),
        )
        for n, section in enumerate(digest.sections)
    )
    return dataclasses.replace(digest, sections=sections)


def render_welcome(
    env: Environment,
    *,
    list_name: str,
    sender_name: str,
    sender_address: str,
    topics: Sequence[str],
    welcome_text: str,
    welcome_html: str,
) -> RenderedDigest:
    """The welcome email after a confirmation: the list's own words (Markdown, sanitised into
    ``welcome_html``), with the personal markers a digest has."""
    subject = f"Welcome to {list_name}"
    context = {
        "subject": subject,
        "preheader": f"You are subscribed to {list_name}.",
        "list_name": list_name,
        "sender_name": sender_name,
        "sender_address": sender_address,
        "topics": list(topics),
        "welcome_text": welcome_text,
        "welcome_html": Markup(welcome_html),
        "personal": PERSONAL_MARKERS,
    }
    html = env.get_template("email/welcome.html.j2").render(context)
    text = env.get_template("email/welcome.txt.j2").render(context)
    return RenderedDigest(
        subject=subject, preheader=str(context["preheader"]), html=inline_css(html), text=text
    )


def render_web_issue(env: Environment, digest: DigestView, *, label: str) -> str:
    """The reader's copy for a browser: working links, a subscribe button, no personal links."""
    context = _context(env, digest, web=True) | {"issue_label": label}
    # inlined like the email, so it reads the same in a browser with styles blocked
    return inline_css(env.get_template("email/digest.html.j2").render(context))


def fill_markers(text: str, values: dict[str, str]) -> str:
    """Replace personal markers in rendered text (used for previews and archives).

    One pass by position: a value that looks like a marker is never substituted again.
    """
    return _MARKER_PATTERN.sub(lambda match: values.get(_MARKER_KEYS[match.group()], ""), text)


def sections_with_topics(
    sections: Sequence[tuple[str, Sequence[ArticleView]]],
    topic_names: dict[str, str],
    topic_urls: dict[str, str] | None = None,
    more: Mapping[str, int] | None = None,
) -> tuple[SectionView, ...]:
    """Build section views, naming each topic and saying how many more it has."""
    return tuple(
        SectionView(
            topic=topic,
            topic_name=topic_names.get(topic, topic),
            articles=tuple(items),
            url=(topic_urls or {}).get(topic, ""),
            more=(more or {}).get(topic, 0),
        )
        for topic, items in sections
    )
