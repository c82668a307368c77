"""Pure parts of publishing: contrast, the note's sanitiser, list headers, encodings, feed, URLs."""

from __future__ import annotations

import base64
import quopri
from datetime import UTC, datetime

import feedparser
import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.digest.mime.qp import encode_qp_template
from newsletter.publish.atom import FeedEntry, FeedInfo, atom_feed
from newsletter.publish.brand import DARK, LIGHT, MIN_CONTRAST, Brand, contrast, readable_on
from newsletter.publish.lang import article_lang, guess_lang
from newsletter.publish.mailparts import (
    HTML_PART_BUDGET,
    TransferEncoding,
    encoded_sizes,
    fits_gmail,
    html_part_octets,
    list_headers,
    transfer_encoding,
)
from newsletter.publish.notes import NoteTooLong, check_note, note_html
from newsletter.publish.urls import check_topic_signature, topic_signature, topic_url
from subscribers.errors import InvalidPreference
from subscribers.lists import check_colour, check_logo_url, check_text

colours = st.from_regex(r"#[0-9a-f]{6}", fullmatch=True)


def test_the_fixed_palette_reaches_4_5_to_1_in_light_and_dark() -> None:
    for palette in (LIGHT, DARK):
        for background in ("card", "note"):
            for text in ("text", "muted"):
                assert contrast(palette[text], palette[background]) >= MIN_CONTRAST
        assert contrast(palette["muted"], palette["page"]) >= MIN_CONTRAST
    assert contrast("#ffffff", "#000000") == pytest.approx(21)


@given(colours)
def test_any_accent_becomes_readable_on_both_cards(accent: str) -> None:
    brand = Brand(name="x", accent=accent)
    for background in (LIGHT["card"], LIGHT["note"]):
        assert contrast(brand.accent_light, background) >= MIN_CONTRAST
        assert contrast("#ffffff", brand.accent_light) >= MIN_CONTRAST  # button text
    for background in (DARK["card"], DARK["note"]):
        assert contrast(brand.accent_dark, background) >= MIN_CONTRAST
    assert contrast(brand.button_text_dark, brand.accent_dark) >= MIN_CONTRAST


def test_a_readable_colour_is_left_alone() -> None:
    assert readable_on("#1d4ed8", "#ffffff") == "#1d4ed8"
    assert readable_on("#fde047", "#ffffff") != "#fde047"


@given(st.text(max_size=30))
def test_colour_and_logo_parsers_answer_in_one_line(value: str) -> None:
    for check in (check_colour, check_logo_url):
        try:
            check(value)
        except InvalidPreference as exc:
            assert "\n" not in str(exc)


def test_colour_logo_and_text_rules() -> None:
    assert check_colour(" #ABC ") == "#aabbcc"
    for bad in ("red", "#12345g", "#1234567", "javascript:"):
        with pytest.raises(InvalidPreference):
            check_colour(bad)
    assert check_logo_url("") is None
    assert check_logo_url("https://cdn.example.org/l.png") == "https://cdn.example.org/l.png"
    for bad in ("http://cdn.example.org/l.png", "//cdn.example.org/x", 'https://a.b/"x', "data:x"):
        with pytest.raises(InvalidPreference):
            check_logo_url(bad)
    assert check_text("a\r\nb ", field="footer text") == "a\nb"
    with pytest.raises(InvalidPreference):
        check_text("a\x00b", field="footer text")
    with pytest.raises(InvalidPreference):
        check_text("x" * 1001, field="footer text")


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        '<img src=x onerror="alert(1)">',
        '<a href="https://a.b" onclick="x()">y</a>',
        "<style>body{display:none}</style>",
        "<iframe src=https://evil.example></iframe>",
    ],
)
def test_the_note_keeps_no_script_handler_or_foreign_tag(markdown: str) -> None:
    html = note_html(markdown).lower()
    for banned in ("<script", "javascript:", "onerror", "onclick", "<img", "<style", "<iframe"):
        assert banned not in html


def test_the_note_keeps_emphasis_lists_and_https_links() -> None:
    html = note_html("Hi **you**\n\n- one\n- two\n\n[site](https://news.example.org)")
    assert "<strong>you</strong>" in html and "<li>one</li>" in html
    assert '<a href="https://news.example.org" rel="noopener">site</a>' in html
    assert note_html("   ") == ""
    with pytest.raises(NoteTooLong):
        check_note("x" * 5001)


@given(st.text(max_size=300))
def test_the_encoding_chosen_is_the_smaller_and_both_round_trip(body: str) -> None:
    sizes = encoded_sizes(body)
    chosen = transfer_encoding(body)
    assert sizes[chosen] == min(sizes.values())
    raw = body.replace("\r\n", "\n").encode("utf-8", "surrogatepass")
    assert base64.b64decode(base64.b64encode(raw)) == raw
    assert quopri.decodestring(quopri.encodestring(raw)) == raw


def test_japanese_goes_base64_and_latin_stays_quoted_printable() -> None:
    japanese = "東京で新しい技術の発表がありました。" * 200
    latin = "Servers add one-click unsubscribe; élections à Paris. " * 200
    assert transfer_encoding(japanese) == TransferEncoding.BASE64
    assert transfer_encoding(latin) == TransferEncoding.QUOTED_PRINTABLE
    sizes = encoded_sizes(japanese)
    assert sizes[TransferEncoding.BASE64] < 0.6 * sizes[TransferEncoding.QUOTED_PRINTABLE]


def test_list_headers_point_at_the_lists_pages() -> None:
    public = dict(list_headers(base_url="https://n.example", slug="daily", archive_public=True))
    assert public == {
        "List-Help": "<https://n.example/l/daily/help>",
        "List-Subscribe": "<https://n.example/l/daily>",
        "List-Archive": "<https://n.example/l/daily/archive>",
    }
    private = dict(list_headers(base_url="https://n.example", slug="daily", archive_public=False))
    assert "List-Archive" not in private


def test_topic_links_are_signed_per_list_and_topic() -> None:
    url = topic_url("https://n.example", b"k" * 32, "daily", "tech", anchor=7)
    signature = topic_signature(b"k" * 32, "daily", "tech")
    assert url == f"https://n.example/l/daily/topics/tech?k={signature}#a7"
    assert check_topic_signature(b"k" * 32, "daily", "tech", signature)
    assert not check_topic_signature(b"k" * 32, "daily", "science", signature)
    assert not check_topic_signature(b"k" * 32, "daily", "tech", "é" * 16)


def test_the_feed_escapes_everything_and_parses() -> None:
    moment = datetime(2026, 11, 25, 8, tzinfo=UTC)
    info = FeedInfo(
        url="https://n.example/l/daily/feed.xml",
        archive_url="https://n.example/l/daily/archive",
        title="Tom & Jerry <Daily>",
        subtitle="",
        author="Desk",
        updated=moment,
    )
    entry = FeedEntry(
        url="https://n.example/l/daily/archive/3",
        title='25 Nov: <b>bold</b> & "quoted"',
        published=moment,
        summary="3 articles",
        content_html="<ul><li>A &amp; B</li></ul>",
    )
    parsed = feedparser.parse(atom_feed(info, [entry]))
    assert not parsed.bozo and parsed.version == "atom10"
    assert parsed.feed.title == "Tom & Jerry <Daily>"
    assert parsed.entries[0].title == '25 Nov: <b>bold</b> & "quoted"'
    assert parsed.entries[0].content[0].value == "<ul><li>A &amp; B</li></ul>"
    assert parsed.feed.updated == "2026-11-25T08:00:00Z"


def test_gmail_budget_uses_the_smaller_encoding() -> None:
    japanese = "東京で新しい技術の発表がありました。" * 1800  # ~97 KB UTF-8
    sizes = encoded_sizes(japanese)
    assert sizes[TransferEncoding.QUOTED_PRINTABLE] > HTML_PART_BUDGET
    assert html_part_octets(japanese) == sizes[TransferEncoding.BASE64]
    assert fits_gmail("<p>short</p>") and not fits_gmail("x" * 100_000)


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        ("東京の研究者が新しい電池技術を発表しました", "ja"),
        ("北京今天发布了新的电池技术，研究团队表示容量是以前的两倍，充电时间减半。", "zh"),
        ("東京株式市場", ""),  # short and all Han: Japanese or Chinese, so no tag
        ("서울에서 새로운 배터리 기술이 발표되었습니다", "ko"),
        ("Η Αθήνα σήμερα", "el"),
        ("Servers add one-click unsubscribe", ""),
        ("Новости дня", ""),  # Russian, Ukrainian, Bulgarian...: no tag
        ("Tokyo: 東京 trip report for the weekend crowd", ""),
        ("", ""),
    ],
)
def test_lang_only_when_the_script_tells(text: str, tag: str) -> None:
    assert guess_lang(text) == tag


@given(st.text(max_size=200))
def test_lang_guess_is_a_known_tag_or_nothing(text: str) -> None:
    assert guess_lang(text) in {"", "ja", "ko", "zh", "el", "he", "th"}


@pytest.mark.parametrize(
    ("stored", "text", "tag"),
    [
        ("en", "Servers add one-click unsubscribe", "en"),  # the stored language tags Latin text
        ("ru", "Новости дня", "ru"),
        ("en", "東京の研究者が新しい電池技術を発表しました", "ja"),  # the script outweighs it
        (None, "Servers add one-click unsubscribe", ""),
        ("", "Servers add one-click unsubscribe", ""),
        ('en" onload="x', "Servers add one-click unsubscribe", ""),  # never a stray value
        ("EN", "Servers", "en"),
    ],
)
def test_an_articles_tag_is_its_script_else_its_stored_language(
    stored: str | None, text: str, tag: str
) -> None:
    assert article_lang(stored, text) == tag


@given(st.text(alphabet=st.sampled_from("ab =\t\n\r.東é"), max_size=600))
def test_counted_sizes_match_the_encoders_the_messages_use(body: str) -> None:
    raw = body.replace("\r\n", "\n").encode("utf-8")
    qp = len(b"".join(s for s in encode_qp_template(body, ()) if isinstance(s, bytes)))
    b64 = len(base64.encodebytes(raw).replace(b"\n", b"\r\n"))
    sizes = encoded_sizes(body)
    assert sizes[TransferEncoding.BASE64] == b64
    # the encoder breaks a line a little earlier when an escape would straddle column 75
    assert abs(sizes[TransferEncoding.QUOTED_PRINTABLE] - qp) <= 0.02 * qp + 3
