"""Tests for HTML sanitising and text extraction."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsletter.content.sanitize import html_to_text, is_tracking_image, sanitize_html

BASE = "https://news.example/world/story.html"


@pytest.mark.parametrize(
    "dirty",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        "<style>body{display:none}</style>",
        '<iframe src="https://evil.example"></iframe>',
        '<form action="/x"><input name="a"><button>Go</button></form>',
        "<object data='x.swf'></object><embed src='x.swf'>",
        "<svg><script>alert(1)</script></svg>",
        "<noscript><img src=x></noscript>",
    ],
)
def test_dangerous_elements_are_removed_with_their_content(dirty: str) -> None:
    cleaned = sanitize_html(f"<p>before</p>{dirty}<p>after</p>")
    assert cleaned == "<p>before</p><p>after</p>"


def test_form_text_is_dropped_but_surrounding_text_kept() -> None:
    cleaned = sanitize_html(
        "<p>Story.</p><form><label>Email</label><button>Sign up</button></form>"
    )
    assert html_to_text(cleaned) == "Story."


@pytest.mark.parametrize(
    "attribute",
    ['onclick="steal()"', "onerror=alert(1)", 'ONMOUSEOVER="x"', 'style="color:red"', 'class="a"'],
)
def test_event_handlers_and_presentation_attributes_are_removed(attribute: str) -> None:
    cleaned = sanitize_html(f"<p {attribute}>text</p>")
    assert cleaned == "<p>text</p>"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "&#106;avascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
    ],
)
def test_dangerous_link_urls_are_removed(url: str) -> None:
    cleaned = sanitize_html(f'<a href="{url}">x</a>', base_url=BASE)
    assert "href" not in cleaned
    assert "x</a>" in cleaned


def test_data_image_is_removed() -> None:
    assert (
        sanitize_html('<p><img src="data:image/png;base64,iVBORw0KGgo=" alt="x"></p>') == "<p></p>"
    )


@pytest.mark.parametrize(
    "img",
    [
        '<img src="https://t.example/p.gif" width="1" height="1">',
        '<img src="https://t.example/p.gif" width="0" height="0">',
        '<img src="https://t.example/p.gif" width="1px" height="1px">',
        '<img src="https://t.example/p.gif" height="1">',
        '<img src="https://t.example/p.gif" style="width:1px;height:1px;border:0">',
        '<img src="https://t.example/p.gif" style="WIDTH: 0; HEIGHT: 0">',
    ],
)
def test_tracking_pixels_are_removed(img: str) -> None:
    assert sanitize_html(f"<p>text{img}</p>") == "<p>text</p>"


def test_real_images_keep_size_and_lose_style() -> None:
    cleaned = sanitize_html(
        '<img src="/pic.jpg" alt="A &quot;quoted&quot; pic" width="640" height="360" '
        'style="width:640px" onerror="x()">',
        base_url=BASE,
    )
    assert cleaned == (
        '<img src="https://news.example/pic.jpg" alt="A &quot;quoted&quot; pic" '
        'width="640" height="360">'
    )


def test_relative_links_and_images_become_absolute() -> None:
    cleaned = sanitize_html(
        '<a href="other.html">o</a><a href="/root">r</a><a href="//cdn.example/c">c</a>'
        '<img src="img/a.png" alt="">',
        base_url=BASE,
    )
    assert 'href="https://news.example/world/other.html"' in cleaned
    assert 'href="https://news.example/root"' in cleaned
    assert 'href="https://cdn.example/c"' in cleaned
    assert 'src="https://news.example/world/img/a.png"' in cleaned


def test_relative_links_are_left_alone_without_a_usable_base() -> None:
    assert 'href="/root"' in sanitize_html('<a href="/root">r</a>')
    assert 'href="/root"' in sanitize_html('<a href="/root">r</a>', base_url="not a url")


def test_links_get_noopener() -> None:
    cleaned = sanitize_html('<a href="https://x.example/" target="_blank" rel="opener">x</a>')
    assert cleaned == '<a href="https://x.example/" rel="noopener noreferrer">x</a>'


def test_mailto_links_are_kept() -> None:
    assert 'href="mailto:desk@news.example"' in sanitize_html(
        '<a href="mailto:desk@news.example">m</a>'
    )


def test_allowed_structure_survives() -> None:
    html = (
        "<h2>Heading</h2><p><strong>bold</strong> <em>em</em> <code>x</code></p>"
        "<ul><li>one</li></ul><blockquote>quote</blockquote>"
        "<table><tbody><tr><td>cell</td></tr></tbody></table>"
    )
    assert sanitize_html(html) == html


def test_comments_are_removed() -> None:
    assert sanitize_html("<p>a<!-- [if IE]><script>x</script><![endif] -->b</p>") == "<p>ab</p>"


@pytest.mark.parametrize(
    ("width", "height", "style", "expected"),
    [
        ("1", "1", None, True),
        ("0", None, None, True),
        (None, None, "height: 1px", True),
        ("600", "400", None, False),
        (None, None, None, False),
        ("auto", "100%", None, False),
        ("10", "10", "width:100%", False),
    ],
)
def test_is_tracking_image(
    width: str | None, height: str | None, style: str | None, expected: bool
) -> None:
    assert is_tracking_image(width, height, style) is expected


def test_html_to_text_separates_paragraphs() -> None:
    html = (
        "<h1>Title</h1><p>First  para\n graph.</p><div>Second<br>line two</div>"
        "<ul><li>a</li><li>b</li></ul>"
    )
    assert html_to_text(html) == "Title\n\nFirst para graph.\n\nSecond\nline two\n\na\n\nb"


def test_html_to_text_unescapes_and_hides_code() -> None:
    html = (
        "<p>Fish &amp; chips&nbsp;&mdash; 5&lt;6</p><script>var x = 1;</script><style>p{}</style>"
    )
    assert html_to_text(html) == "Fish & chips — 5<6"


def test_html_to_text_of_plain_text() -> None:
    assert html_to_text("just text, AT&T and a < b") == "just text, AT&T and a < b"
    assert html_to_text("") == ""


# Property tests: whatever the input, nothing executable survives.

_TAGS = ["p", "a", "img", "script", "style", "iframe", "form", "input", "div", "svg", "b", "object"]
_ATTRS = ["href", "src", "onclick", "onerror", "onload", "style", "formaction", "width", "alt"]
_VALUES = [
    "javascript:alert(1)",
    "JAVASCRIPT:x",
    "jav&#x09;ascript:alert(1)",
    "data:text/html,<script>x</script>",
    "/relative",
    "https://ok.example/",
    "alert(1)",
    "1",
    "",
]

_fragments = st.recursive(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20)
    | st.sampled_from(["<", ">", "&", '"', "'", "=", "<!--", "-->", "</", "/>"]),
    lambda children: st.builds(
        lambda tag, attrs, inner, close: (
            f"<{tag}"
            + "".join(
                f' {name}="{value}"' if quote else f" {name}={value}"
                for name, value, quote in attrs
            )
            + f">{inner}"
            + (f"</{tag}>" if close else "")
        ),
        st.sampled_from(_TAGS + [t.upper() for t in _TAGS]),
        st.lists(
            st.tuples(st.sampled_from(_ATTRS), st.sampled_from(_VALUES), st.booleans()), max_size=3
        ),
        st.lists(children, max_size=3).map("".join),
        st.booleans(),
    ),
    max_leaves=12,
)

_FORBIDDEN_TAGS = {"script", "style", "iframe", "form", "input", "object", "embed", "svg", "button"}


class _TagRecorder(HTMLParser):
    """Records every tag and attribute a browser would see in the output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _tags_of(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    recorder = _TagRecorder()
    recorder.feed(html)
    recorder.close()
    return recorder.tags


@settings(max_examples=300)
@given(html=_fragments, base=st.sampled_from([None, BASE]))
def test_sanitised_html_never_contains_script_handlers_or_bad_urls(
    html: str, base: str | None
) -> None:
    for tag, attrs in _tags_of(sanitize_html(html, base_url=base)):
        assert tag not in _FORBIDDEN_TAGS
        if tag == "img":
            sizes = dict(attrs)
            assert sizes.get("src")
            assert not is_tracking_image(sizes.get("width"), sizes.get("height"))
        for name, value in attrs:
            assert not name.startswith("on")
            assert name not in ("style", "formaction", "srcdoc")
            if name in ("href", "src", "cite"):
                scheme = re.sub(r"[\x00-\x20]", "", value or "").lower()
                assert not scheme.startswith(("javascript:", "data:", "vbscript:"))


@settings(max_examples=200)
@given(html=_fragments)
def test_sanitising_is_stable(html: str) -> None:
    once = sanitize_html(html, base_url=BASE)
    assert sanitize_html(once, base_url=BASE) == once


@given(text=st.text())
def test_html_to_text_never_raises_and_has_no_blank_runs(text: str) -> None:
    result = html_to_text(text)
    assert "\n\n\n" not in result
    assert result == result.strip()


PIECES = [*"ab \n\r\t\u00a0\u2028x.;\"'>=/!-\x0b\x0c&#19", "amp", "lt", "nbsp", "eacute", "x27"]


@given(st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_text_without_tags_reads_as_the_parser_reads_it(text: str) -> None:
    from newsletter.content.sanitize import _TextCollector

    collector = _TextCollector()
    collector.feed(text)
    collector.close()
    collector.flush()
    assert html_to_text(text) == "\n\n".join(collector.paragraphs)


_BLOCK_PIECES = [*PIECES, "é", "\u0130", "\u2029", "\x85", "&#x20;", "&lt;p&gt;"]


def _blocks(tags: list[str], texts: list[str], tails: list[str]) -> st.SearchStrategy[str]:
    block = st.tuples(
        st.sampled_from([" ", "\n", "\r\n", "", "\t", "\u00a0"]),
        st.sampled_from(tags),
        st.lists(st.sampled_from(texts), max_size=20).map("".join),
        st.sampled_from(tails),
    )
    return st.lists(block, max_size=12).map(
        lambda blocks: "".join(f"{pad}<{tag}>{text}</{tag}>{end}" for pad, tag, text, end in blocks)
    )


# Flat blocks (the fast reading), and the same with what makes it hand over to the parser.
_flat_html = _blocks(["p", "h2", "li", "blockquote", "pre"], _BLOCK_PIECES, [""]) | _blocks(
    ["p", "h2", "hr", "script", "span", "P", "br"],
    [*_BLOCK_PIECES, "<", "</", "</p>", "<b>"],
    ["", "x", "<b>", "</p>", "&amp;"],
)


@settings(max_examples=400)
@given(html=_flat_html)
def test_blocks_of_plain_text_read_as_the_parser_reads_them(html: str) -> None:
    """The parser-free reading of flat blocks (``_flat_blocks_text``) is the parser's."""
    from newsletter.content.sanitize import _TextCollector

    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    collector.flush()
    assert html_to_text(html) == "\n\n".join(collector.paragraphs)


def test_the_story_readers_html_takes_the_fast_reading() -> None:
    from newsletter.content.sanitize import _flat_blocks_text

    html = "<p>One &amp; two.</p>\n<h2>Sub head</h2>\n<p>\u00a0</p>\n<p>Three\n four.</p>\n"
    assert _flat_blocks_text(html) == "One & two.\n\nSub head\n\nThree four."
    assert _flat_blocks_text('<p class="x">a</p>') is None
    assert _flat_blocks_text("<p>a</p>b") is None


def test_every_white_space_but_the_space_is_unprintable() -> None:
    """What ``collapse_spaces`` relies on to skip collapsed text."""
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert [ch for ch in spaces if ch.isprintable()] == [" "]


@given(
    st.lists(st.sampled_from([*PIECES, " ", "  ", "é", "\u3000", "\x85"]), max_size=30).map("".join)
)
def test_collapsing_spaces_is_splitting_and_joining(text: str) -> None:
    from newsletter.content.sanitize import collapse_spaces

    assert collapse_spaces(text) == " ".join(text.split())


@settings(max_examples=300)
@given(html=_flat_html, limit=st.integers(min_value=0, max_value=3))
def test_flat_blocks_are_left_as_the_tag_walk_leaves_them(html: str, limit: int) -> None:
    """Skipping the walk for flat blocks changes nothing (``_flatten`` walks every tag)."""
    from newsletter.content.sanitize import _flatten, flatten_deep_nesting

    assert flatten_deep_nesting(html, limit) == (
        html if html.count("<") <= limit else _flatten(html, limit)
    )
