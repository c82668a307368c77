"""Read a Markdown article file: optional front matter, a '# ' title and the body."""

from __future__ import annotations

import re

import markdown

from newsletter.content.parsed import (
    ArticleParseError,
    NoArticleFound,
    ParsedArticle,
    parse_published,
)

MARKDOWN_EXTENSIONS = ("extra", "sane_lists")

_FENCE = "---"
_KEY_VALUE = re.compile(r"([A-Za-z_][\w-]*)\s*:\s*(.*)")
_LIST_ITEM = re.compile(r"-\s+(.*)")
_ATX_TITLE = re.compile(r"#(?!#)\s*(.+?)\s*#*\s*")
_CODE_FENCE = re.compile(r"(```|~~~)")


def parse_markdown_article(text: str) -> ParsedArticle:
    """Return the article in Markdown ``text``; front matter values win over the body."""
    meta, body = split_front_matter(text)
    heading, body = _pop_title(body)
    title = _single(meta, "title") or heading
    if not title:
        raise NoArticleFound("Markdown article has no title: add a '# ' heading or 'title:'")
    if not body.strip():
        raise NoArticleFound(f"Markdown article {title!r} has no body")
    published_at = None
    if published := _single(meta, "published") or _single(meta, "date"):
        published_at = parse_published(published)
        if published_at is None:
            raise ArticleParseError(f"front matter 'published' is not a date: {published!r}")
    html = markdown.markdown(body, extensions=list(MARKDOWN_EXTENSIONS), output_format="html")
    return ParsedArticle(
        title=_plain_title(title),
        body_html=html,
        standfirst=_single(meta, "standfirst") or _single(meta, "summary"),
        author=_single(meta, "author"),
        published_at=published_at,
        canonical_url=_single(meta, "url") or _single(meta, "canonical_url"),
        image_url=_single(meta, "image"),
        topics=tuple(meta.get("topics", ())),
    )


def split_front_matter(text: str) -> tuple[dict[str, list[str]], str]:
    """Return the front matter (key -> values) and the rest of ``text``.

    Front matter is YAML-ish: ``key: value`` lines between two ``---`` lines at the very
    top; a value may be a ``[a, b]`` list, a comma-separated list (topics) or ``- item``
    lines under an empty ``key:``.
    """
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != _FENCE:
        return {}, text
    end = next((i for i in range(first + 1, len(lines)) if lines[i].strip() == _FENCE), None)
    if end is None:
        return {}, text
    meta: dict[str, list[str]] = {}
    key: str | None = None
    for line in lines[first + 1 : end]:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        item = _LIST_ITEM.fullmatch(stripped)
        pair = _KEY_VALUE.fullmatch(stripped)
        if item and key is not None:
            meta.setdefault(key, []).append(_unquote(item.group(1)))
        elif pair:
            key = pair.group(1).lower()
            meta[key] = _values(key, pair.group(2))
    return meta, "\n".join(lines[end + 1 :])


def _values(key: str, raw: str) -> list[str]:
    """Split one front-matter value into its items."""
    raw = raw.strip()
    if not raw:
        return []
    if raw.startswith("[") and raw.endswith("]"):
        items = raw[1:-1].split(",")
    elif key in ("topics", "tags"):
        items = raw.split(",")
    else:
        items = [raw]
    return [value for value in (_unquote(item) for item in items) if value]


def _unquote(value: str) -> str:
    """Strip surrounding whitespace and one pair of matching quotes."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value


def _single(meta: dict[str, list[str]], key: str) -> str | None:
    """Return the first value of ``key`` in the front matter, if any."""
    values = meta.get(key)
    return values[0] if values else None


def _pop_title(body: str) -> tuple[str | None, str]:
    """Return the first level-one ATX heading and the body without it."""
    lines = body.splitlines()
    in_code = False
    for index, line in enumerate(lines):
        if _CODE_FENCE.match(line.lstrip()):
            in_code = not in_code
            continue
        match = None if in_code else _ATX_TITLE.fullmatch(line.strip())
        # An indented line is a code block, not a heading.
        if match and not line.startswith(("    ", "\t")):
            return match.group(1), "\n".join(lines[:index] + lines[index + 1 :])
    return None, body


def _plain_title(title: str) -> str:
    """Return a title with inline Markdown emphasis and code marks removed."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    return " ".join(re.sub(r"(\*\*|__|\*|_|`)(.+?)\1", r"\2", title).split())
