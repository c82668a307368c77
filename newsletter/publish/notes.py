"""An editor's note: Markdown to sanitised HTML and to plain text (pure)."""

from __future__ import annotations

import markdown
import nh3

MAX_NOTE_CHARS = 5000
ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "a", "ul", "ol", "li", "blockquote", "code"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"https", "http", "mailto"}


class NoteTooLong(ValueError):
    """The note is longer than an email can carry comfortably."""


def check_note(source: str) -> str:
    """The note with normalised line ends and no trailing space, or NoteTooLong."""
    text = source.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_NOTE_CHARS:
        raise NoteTooLong(f"the editor's note has {len(text)} characters; at most {MAX_NOTE_CHARS}")
    return text


def note_html(source: str) -> str:
    """Markdown rendered, then cleaned with nh3: a few inline tags, http(s)/mailto links."""
    if not source.strip():
        return ""
    rendered = markdown.markdown(source, extensions=[], output_format="html")
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener",
        strip_comments=True,
    ).strip()


def note_text(source: str) -> str:
    """The note for the text part: its Markdown source with markup-only lines removed."""
    lines = [line.rstrip() for line in source.splitlines()]
    return "\n".join(lines).strip()
