"""The Atom feed (RFC 4287) of a list's issues, built with ElementTree so every value is escaped.

Follows the W3C feed validator's rules: feed and entries carry id, title and updated; the
feed names an author and links to itself; entries link to their stable issue page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class FeedEntry:
    """One issue in the feed."""

    url: str
    title: str
    published: datetime
    summary: str
    content_html: str


@dataclass(frozen=True)
class FeedInfo:
    """The feed's own fields."""

    url: str
    archive_url: str
    title: str
    subtitle: str
    author: str
    updated: datetime


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(parent: ET.Element, tag: str, value: str, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    element.text = value
    return element


def atom_feed(info: FeedInfo, entries: Sequence[FeedEntry]) -> bytes:
    """The feed document as UTF-8 bytes with an XML declaration."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", info.url)
    _text(feed, "title", info.title)
    if info.subtitle:
        _text(feed, "subtitle", info.subtitle)
    newest = max([info.updated, *(entry.published for entry in entries)])
    _text(feed, "updated", _stamp(newest))
    ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "href": info.url})
    ET.SubElement(
        feed, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": info.archive_url}
    )
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", info.author)
    _text(feed, "generator", "newsletter")
    for item in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", item.url)
        _text(entry, "title", item.title)
        _text(entry, "published", _stamp(item.published))
        _text(entry, "updated", _stamp(item.published))
        ET.SubElement(
            entry, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": item.url}
        )
        _text(entry, "summary", item.summary)
        _text(entry, "content", item.content_html, type="html")
    return bytes(ET.tostring(feed, encoding="utf-8", xml_declaration=True))
