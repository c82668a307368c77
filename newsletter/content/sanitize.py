"""Clean outside HTML against an allowlist before it is stored, and read its text."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import nh3

ALLOWED_TAGS: frozenset[str] = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "caption",
        "cite",
        "code",
        "dd",
        "del",
        "div",
        "dl",
        "dt",
        "em",
        "figcaption",
        "figure",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "ins",
        "kbd",
        "li",
        "mark",
        "ol",
        "p",
        "pre",
        "q",
        "s",
        "small",
        "span",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "time",
        "tr",
        "u",
        "ul",
    }
)

# Removed together with everything inside them: their content is code, chrome or a form,
# never part of the story.
DROPPED_WITH_CONTENT: frozenset[str] = frozenset(
    {
        "applet",
        "audio",
        "button",
        "canvas",
        "embed",
        "form",
        "frame",
        "frameset",
        "head",
        "iframe",
        "math",
        "noembed",
        "noframes",
        "noscript",
        "object",
        "script",
        "select",
        "style",
        "svg",
        "template",
        "textarea",
        "title",
        "video",
    }
)

ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title", "hreflang"},
    # ``style`` is kept (width and height only) just long enough to spot tracking pixels.
    "img": {"src", "alt", "title", "width", "height", "style"},
    "abbr": {"title"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan", "headers"},
    "th": {"colspan", "rowspan", "headers", "scope"},
}

URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer"

# nh3 always serialises attributes as name="value" with '"' escaped, so this is exact.
_IMG_TAG = re.compile(r'<img((?:\s+[^\s="\'>/]+(?:="[^"]*")?)*)\s*/?>')
_ATTR = re.compile(r'([^\s="\'>/]+)(?:="([^"]*)")?')
_STYLE_SIZE = re.compile(r"(?:^|;)\s*(width|height)\s*:\s*([^;]*)", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Return ``html`` with everything outside the allowlist removed.

    Scripts, styles, frames, forms, event handlers, ``javascript:`` and ``data:`` URLs
    and 1x1 tracking images are dropped; relative links and images are resolved against
    ``base_url`` when it is an absolute http(s) URL; links get ``rel="noopener noreferrer"``.
    """
    html = flatten_deep_nesting(html)
    relative: object = "pass_through"
    if base_url and _is_absolute_http(base_url):
        relative = ("rewrite_with_base", base_url.strip())
    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={tag: set(attrs) for tag, attrs in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        attribute_filter=_keep_image_size_style,
        url_relative=relative,  # type: ignore[arg-type]
        strip_comments=True,
    )
    return _IMG_TAG.sub(_rewrite_img, cleaned)


MAX_NESTING = 256  # browsers stop nesting deeper than about 512; stories never get near
_TAG_TOKEN = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^<>]*?(/?)>")
_VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
_SELF_CLOSING = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option"})


def flatten_deep_nesting(html: str, limit: int = MAX_NESTING) -> str:
    """Drop start tags nested deeper than ``limit`` (and their end tags), in linear time.

    The HTML5 parser under ``nh3`` takes time quadratic in nesting depth (30,000 nested
    ``<div>`` took 3 s, a 5 MB feed of them hours); the text of dropped tags is kept.
    """
    if html.count("<") <= limit or (limit >= 1 and _flat_blocks(html) is not None):
        # Blocks side by side (what the text reader writes) nest one deep: nothing to drop,
        # found in 0.4 ms instead of 2 for the largest development page's story.
        return html
    return _flatten(html, limit)


def _flatten(html: str, limit: int) -> str:
    """``flatten_deep_nesting`` by walking every tag."""
    stack: list[str] = []
    dropped = 0  # unclosed start tags removed beyond the limit
    out: list[str] = []
    last = 0
    for match in _TAG_TOKEN.finditer(html):
        closing, name, self_closed = match.group(1), match.group(2).lower(), match.group(3)
        keep = True
        if closing:
            if name in stack[-16:]:
                while stack and stack.pop() != name:
                    pass
            elif dropped:
                dropped -= 1
                keep = False
        elif name not in _VOID_TAGS and not self_closed:
            if name in _SELF_CLOSING and stack and stack[-1] == name:
                stack.pop()
            if len(stack) >= limit:
                dropped += 1
                keep = False
            else:
                stack.append(name)
        if not keep:
            out.append(html[last : match.start()])
            last = match.end()
    if last == 0:
        return html
    out.append(html[last:])
    return "".join(out)


def is_tracking_image(width: str | None, height: str | None, style: str | None = None) -> bool:
    """Return whether an image's declared size makes it an invisible tracking pixel."""
    sizes = [width, height]
    for match in _STYLE_SIZE.finditer(style or ""):
        sizes.append(match.group(2))
    for size in sizes:
        number = _LEADING_NUMBER.match(size or "")
        if number and float(number.group(1)) <= 1:
            return True
    return False


def _keep_image_size_style(tag: str, attribute: str, value: str) -> str | None:
    """Reduce an image's style to its width and height, which betray tracking pixels."""
    if tag != "img" or attribute != "style":
        return value
    sizes = [f"{m.group(1).lower()}:{m.group(2).strip()}" for m in _STYLE_SIZE.finditer(value)]
    return ";".join(sizes) or None


def _rewrite_img(match: re.Match[str]) -> str:
    """Drop tracking pixels and images without a source; strip the temporary style."""
    attrs = {name.lower(): value for name, value in _ATTR.findall(match.group(1))}
    src = attrs.get("src")
    if not src:
        return ""
    if is_tracking_image(
        _unescape_or_none(attrs.get("width")),
        _unescape_or_none(attrs.get("height")),
        _unescape_or_none(attrs.get("style")),
    ):
        return ""
    kept = "".join(f' {name}="{value}"' for name, value in attrs.items() if name != "style")
    return f"<img{kept}>"


def _unescape_or_none(value: str | None) -> str | None:
    """Unescape an attribute value as serialised by nh3."""
    return None if value is None else html_lib.unescape(value)


def _is_absolute_http(url: str) -> bool:
    """Return whether ``url`` can serve as a base for relative links."""
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
_INVISIBLE_TAGS = frozenset(DROPPED_WITH_CONTENT)


class _TextCollector(HTMLParser):
    """Collects visible text, one entry per block-level element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._lines: list[list[str]] = [[]]  # a <br> starts a new line in the paragraph
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth += 1
        elif tag == "br":
            self._lines.append([])
        elif tag in ("td", "th"):
            self._lines[-1].append(" ")
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # A self-closed element has no content, so it never opens a hidden region.
        if tag not in _INVISIBLE_TAGS:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE_TAGS:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCK_TAGS:
            self.flush()

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self._lines[-1].append(data)

    def flush(self) -> None:
        """End the current paragraph."""
        lines = (" ".join("".join(parts).split()) for parts in self._lines)
        self._lines = [[]]
        text = "\n".join(line for line in lines if line)
        if text:
            self.paragraphs.append(text)


# A block of text alone in one plain block element (no attribute, no inner tag), after
# optional blank space: what the plain-text and Markdown readers write.
_FLAT_BLOCK = re.compile(r"[ \t\r\n]*<([a-z][a-z0-9]*)>([^<]*)</\1>")
_FLAT_TAGS = _BLOCK_TAGS - _INVISIBLE_TAGS - {"hr"}


def html_to_text(html: str) -> str:
    """Return the readable text of HTML, paragraphs separated by blank lines."""
    if "<" not in html:
        # No tag: the parser would hand the text over as data, character references decoded,
        # in one paragraph (the summary of a 212 KB plain body: 1 ms instead of 5).
        return " ".join(html_lib.unescape(html).split())
    flat = _flat_blocks_text(html)
    if flat is not None:
        return flat
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    collector.flush()
    return "\n\n".join(collector.paragraphs)


def _flat_blocks(html: str) -> list[tuple[str, str]] | None:
    """Return the (tag, text) blocks of HTML that is only flat blocks, or None."""
    blocks = []
    at = 0
    for match in _FLAT_BLOCK.finditer(html):
        if match.start() != at:
            return None
        at = match.end()
        blocks.append((match.group(1), match.group(2)))
    if html[at:].strip(" \t\r\n"):
        return None
    return blocks


def _flat_blocks_text(html: str) -> str | None:
    """Return what ``html_to_text`` gives for a run of flat blocks, or None for other HTML.

    The parser would decode each block's text, collapse its white space and end the
    paragraph at the block's end; the blank space between blocks is in no paragraph. Done
    here without it: the 1,034 paragraphs of the largest development page in 1 ms
    instead of 9 (tests/unit/test_sanitize.py compares the two on generated HTML).
    """
    blocks = _flat_blocks(html)
    if blocks is None or any(tag not in _FLAT_TAGS for tag, _ in blocks):
        return None
    paragraphs = (collapse_spaces(html_lib.unescape(text)) for _, text in blocks)
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def collapse_spaces(text: str) -> str:
    """Return ``" ".join(text.split())``, without splitting text that is collapsed already.

    Every white space character but the ASCII space is unprintable (tests/unit/test_sanitize.py
    checks all of Unicode), so printable text with no double, leading or trailing space
    has nothing to collapse: a scan instead of a split and a join (the story paragraphs
    of the largest development page: 0.3 ms instead of 1.9).
    """
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())
