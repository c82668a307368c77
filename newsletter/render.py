"""Render digests with Jinja and inline their CSS with premailer (pure, once per digest)."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cssutils
import premailer
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

#: A random value drawn once per process. Personal markers carry it, so no article, feed or
#: list name can contain a marker: content is written before the process starts and the value
#: never leaves it (every marker is substituted before a byte is sent or stored). Rendering and
#: substitution always happen in the same process (digests are re-rendered from their articles).
MARKER_NONCE = secrets.token_hex(12)
#: The placeholder names of the per-subscriber values, as ``delivery.qp`` templates take them.
PLACEHOLDER_NAMES = {
    "name": f"NAME.{MARKER_NONCE}",
    "unsubscribe_url": f"UNSUB_URL.{MARKER_NONCE}",
    "preferences_url": f"PREFS_URL.{MARKER_NONCE}",
}
#: Markers the templates print where per-subscriber values go after inlining.
PERSONAL_MARKERS = {key: f"@@{name}@@" for key, name in PLACEHOLDER_NAMES.items()}
_MARKER_KEYS = {marker: key for key, marker in PERSONAL_MARKERS.items()}
_MARKER_PATTERN = re.compile("|".join(re.escape(marker) for marker in _MARKER_KEYS))


@dataclass(frozen=True)
class ArticleView:
    """What a template shows of one article."""

    title: str
    url: str
    summary: str
    source: str
    published: str


@dataclass(frozen=True)
class SectionView:
    """One topic section of a digest."""

    topic: str
    topic_name: str
    articles: tuple[ArticleView, ...]


@dataclass(frozen=True)
class DigestView:
    """Everything shared by all recipients of one distinct digest."""

    list_name: str
    sender_name: str
    sender_address: str
    sections: tuple[SectionView, ...]
    view_url: str


@dataclass(frozen=True)
class RenderedDigest:
    """A digest's subject, preheader, inlined HTML and text, with personal markers in place."""

    subject: str
    preheader: str
    html: str
    text: str


def make_environment(templates_dir: Path = TEMPLATES) -> Environment:
    """The Jinja environment for e-mail and pages: autoescape on, undefined names are errors."""
    # cssutils logs every property it does not know (mso-*, prefers-color-scheme) at WARNING.
    cssutils.log.setLevel(logging.CRITICAL)
    return Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=select_autoescape(["html", "html.j2", "htm"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def format_date(moment: datetime) -> str:
    """A short date such as ``25 Nov 2026``."""
    return f"{moment.day} {moment:%b %Y}"


def subject_for(digest: DigestView) -> str:
    """``List name: first headline (+N more)``."""
    articles = [article for section in digest.sections for article in section.articles]
    if not articles:
        return digest.list_name
    more = f" (+{len(articles) - 1} more)" if len(articles) > 1 else ""
    return f"{digest.list_name}: {articles[0].title}{more}"


def preheader_for(digest: DigestView) -> str:
    """An honest preview line: how many articles in which topics."""
    count = sum(len(section.articles) for section in digest.sections)
    topics = ", ".join(section.topic_name for section in digest.sections)
    noun = "article" if count == 1 else "articles"
    return f"{count} new {noun} in {topics}"


def inline_css(html: str) -> str:
    """Inline the stylesheet into the HTML, keeping @media rules and !important in <style>."""
    inliner = premailer.Premailer(
        html,
        allow_network=False,
        strip_important=False,
        keep_style_tags=False,
        remove_classes=False,
        disable_validation=True,
        cssutils_logging_level=logging.CRITICAL,
    )
    return str(inliner.transform(pretty_print=False))


def render_digest(env: Environment, digest: DigestView) -> RenderedDigest:
    """Render both parts and inline the HTML's CSS; personal values stay as markers."""
    css = env.loader.get_source(env, "email/digest.css")[0] if env.loader else ""
    subject, preheader = subject_for(digest), preheader_for(digest)
    context = {
        "subject": subject,
        "preheader": preheader,
        "css": css,
        "list_name": digest.list_name,
        "sender_name": digest.sender_name,
        "sender_address": digest.sender_address,
        "sections": digest.sections,
        "view_url": digest.view_url,
        "personal": PERSONAL_MARKERS,
    }
    html = env.get_template("email/digest.html.j2").render(context)
    text = env.get_template("email/digest.txt.j2").render(context)
    return RenderedDigest(
        subject=subject,
        preheader=preheader,
        html=inline_css(html),
        text=text,
    )


def fill_markers(text: str, values: dict[str, str]) -> str:
    """Replace personal markers in rendered text (used for previews and archives).

    One pass by position: a value that looks like a marker is never substituted again.
    """
    return _MARKER_PATTERN.sub(lambda match: values.get(_MARKER_KEYS[match.group()], ""), text)


def sections_with_topics(
    sections: Sequence[tuple[str, Sequence[ArticleView]]], topic_names: dict[str, str]
) -> tuple[SectionView, ...]:
    """Build section views, naming each topic."""
    return tuple(
        SectionView(topic=topic, topic_name=topic_names.get(topic, topic), articles=tuple(items))
        for topic, items in sections
    )
