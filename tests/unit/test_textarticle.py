"""Tests for reading plain-text articles saved from news sites."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from newsletter.content import textarticle
from newsletter.content.parsed import NoArticleFound
from newsletter.content.sanitize import html_to_text
from newsletter.content.textarticle import (
    Kind,
    Unit,
    _story,
    classify,
    main_block,
    parse_text_article,
    split_units,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "articles"
TEXT_FIXTURES = sorted(p.stem for p in FIXTURES.glob("*.txt"))

STORY_1 = (
    "The ferry company said on Monday that the new vessels would enter service next spring, "
    "two years later than first planned, because of delays at the shipyard."
)
STORY_2 = (
    "Islanders have complained for years about cancelled sailings, and the local council said "
    "it would ask ministers to pay compensation to businesses that lost trade."
)


def test_there_are_at_least_three_furnished_fixtures() -> None:
    assert len(TEXT_FIXTURES) >= 4


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_fixture_matches_expected(name: str) -> None:
    text = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")
    expected = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    article = parse_text_article(text)
    assert article.title == expected["title"]
    assert article.standfirst == expected["standfirst"]
    assert article.author == expected["author"]
    published = expected["published"]
    assert article.published_at == (datetime.fromisoformat(published) if published else None)
    assert html_to_text(article.body_html).split("\n\n") == expected["paragraphs"]
    assert article.canonical_url is None
    assert article.image_url is None


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_fixture_survives_windows_line_endings(name: str) -> None:
    text = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")
    assert parse_text_article(text.replace("\n", "\r\n")) == parse_text_article(text)


def test_title_and_paragraphs_only() -> None:
    article = parse_text_article(f"Ferry delays\n\n{STORY_1}\n\n{STORY_2}\n")
    assert article.title == "Ferry delays"
    assert article.standfirst is None
    assert article.body_html == f"<p>{STORY_1}</p>\n<p>{STORY_2}</p>"


def test_paragraphs_one_per_line_are_not_joined() -> None:
    article = parse_text_article(f"Ferry delays\n{STORY_1}\n{STORY_2}\n")
    assert html_to_text(article.body_html).split("\n\n") == [STORY_1, STORY_2]


def test_hard_wrapped_paragraphs_are_rejoined() -> None:
    wrapped = (
        "The ferry company said on Monday that the new vessels would\n"
        "enter service next spring, two years later than first planned,\n"
        "because of delays at the shipyard."
    )
    article = parse_text_article(f"Ferry delays\n\n{wrapped}\n\n{STORY_2}")
    assert html_to_text(article.body_html).split("\n\n") == [STORY_1, STORY_2]


def test_markup_characters_are_escaped() -> None:
    article = parse_text_article(f"Q&A: <what> next\n\n{STORY_1} A & B <c>.")
    assert article.title == "Q&A: <what> next"
    assert "A &amp; B &lt;c&gt;." in article.body_html


def test_short_unpunctuated_line_inside_the_story_is_a_subheading() -> None:
    article = parse_text_article(f"Ferry delays\n\n{STORY_1}\n\nWhat happens next\n\n{STORY_2}")
    assert "<h2>What happens next</h2>" in article.body_html


def test_bbc_style_image_source_and_caption_lines_are_dropped() -> None:
    text = (
        "Ferry operator apologises for winter of cancellations\n\n"
        "Image source, Getty Images\n"
        "Image caption,\n"
        "The MV Glen Sannox at the shipyard in Port Glasgow\n\n"
        f"{STORY_1}\n\n{STORY_2}\n"
    )
    article = parse_text_article(text)
    assert article.title == "Ferry operator apologises for winter of cancellations"
    assert html_to_text(article.body_html).split("\n\n") == [STORY_1, STORY_2]


def test_caption_with_credit_in_brackets_and_its_repeat_are_dropped() -> None:
    text = (
        "Ferry delays\n\n"
        "The new ferry at the quayside (Photo: Ferry Company)\n\n"
        f"{STORY_1}\n\n"
        "The new ferry at the quayside\n\n"
        f"{STORY_2}"
    )
    assert html_to_text(parse_text_article(text).body_html).split("\n\n") == [STORY_1, STORY_2]


def test_credit_on_its_own_line_takes_the_caption_above_with_it() -> None:
    text = (
        "Ferry delays\n\n"
        "Passengers queue at Ardrossan harbour\nPhotograph: Jane Roe/PA\n\n"
        f"{STORY_1}\n\n{STORY_2}"
    )
    assert html_to_text(parse_text_article(text).body_html).split("\n\n") == [STORY_1, STORY_2]


@pytest.mark.parametrize(
    "furniture",
    [
        "Skip to main content",
        "Jump to navigation",
        "Home | News | Sport | Weather",
        "Related: Ferry timetable changes announced",
        "Read more: Islands demand new ferries",
        "More from Scotland",
        "Sign up to our daily newsletter",
        "Subscribe now",
        "Enter your email address",
        "Share this article",
        "Share on Facebook",
        "Advertisement",
        "Listen to this article",
        "5 min read",
        "Tags: ferries, islands",
        "© 2024 Island News Ltd",
        "Copyright 2024 Island News. All rights reserved.",
    ],
)
def test_furniture_lines_are_dropped(furniture: str) -> None:
    text = f"Ferry delays\n\n{STORY_1}\n\n{furniture}\n\n{STORY_2}"
    article = parse_text_article(text)
    assert html_to_text(article.body_html).split("\n\n") == [STORY_1, STORY_2]


@pytest.mark.parametrize(
    "form",
    [
        "Leave a Reply\nYour email address will not be published. Required fields are marked *",
        "Leave a comment",
        "12 comments",
        "Comments (3)",
    ],
)
def test_comment_section_ends_the_story(form: str) -> None:
    comment = (
        "I have waited for this ferry for years and it is still not here, which is a disgrace."
    )
    text = (
        f"Ferry delays\n\n{STORY_1}\n\n{STORY_2}\n\n{form}\n\n"
        f"Angus says:\n{comment}\n\nPost Comment"
    )
    article = parse_text_article(text)
    assert html_to_text(article.body_html).split("\n\n") == [STORY_1, STORY_2]


def test_teaser_list_after_a_header_is_dropped_until_the_story_resumes() -> None:
    text = (
        f"Ferry delays\n\n{STORY_1}\n\nMost read\n"
        "Man rescued from cliff\nStorm closes schools\nNew bridge opens\n\n"
        f"{STORY_2}"
    )
    assert html_to_text(parse_text_article(text).body_html).split("\n\n") == [STORY_1, STORY_2]


def test_vertical_menu_before_headline_is_dropped() -> None:
    menu = "Island News\nHome\nNews\nFerries\nWeather\nContact us"
    text = f"{menu}\n\nFerry delays hit islanders\n\n{STORY_1}"
    article = parse_text_article(text)
    assert article.title == "Ferry delays hit islanders"


def test_standfirst_needs_metadata_between_it_and_the_story() -> None:
    summary = "Islanders face another winter of disruption."
    with_byline = parse_text_article(
        f"Ferry delays\n\n{summary}\n\nBy Iona MacLeod\n\n{STORY_1}\n\n{STORY_2}"
    )
    assert with_byline.standfirst == summary
    assert with_byline.author == "Iona MacLeod"
    assert summary not in with_byline.body_html
    without = parse_text_article(f"Ferry delays\n\n{summary}\n\n{STORY_1}\n\n{STORY_2}")
    assert without.standfirst is None
    assert summary in without.body_html


@pytest.mark.parametrize(
    ("line", "author"),
    [
        ("By Iona MacLeod", "Iona MacLeod"),
        ("By Iona MacLeod, Highlands reporter", "Iona MacLeod"),
        ("By Iona MacLeod | 3 June 2024", "Iona MacLeod"),
        ("Iona MacLeod, Transport correspondent", "Iona MacLeod"),
        ("Iona MacLeod Transport correspondent", "Iona MacLeod"),
    ],
)
def test_bylines(line: str, author: str) -> None:
    article = parse_text_article(f"Ferry delays\n\n{line}\n\n{STORY_1}")
    assert article.author == author


def test_file_starting_with_prose_uses_first_unit_as_title() -> None:
    article = parse_text_article(f"{STORY_1}\n\n{STORY_2}")
    assert article.title == STORY_1
    assert html_to_text(article.body_html) == STORY_2


@pytest.mark.parametrize(
    "text",
    ["", "   \n\n  ", "Skip to content\nHome | News | Sport\nShare this", "Just a headline"],
)
def test_text_without_a_story_is_refused(text: str) -> None:
    with pytest.raises(NoArticleFound):
        parse_text_article(text)


def test_split_units_and_classify() -> None:
    units = classify(split_units("Skip to content\n\nHeadline here\n\nBy A Writer\n\n" + STORY_1))
    assert [u.kind for u in units] == [Kind.FURNITURE, Kind.PROSE, Kind.BYLINE, Kind.PROSE]


_lines = st.lists(
    st.sampled_from(
        [
            "Skip to content",
            "Home | News | Sport",
            "By Ann Lee",
            "Published 3 June 2024",
            "Photo: Reuters",
            "Related: Another story",
            "Leave a Reply",
            "Share this",
            "A headline about something",
            STORY_1,
            STORY_2,
            "",
        ]
    )
    | st.text(max_size=80),
    max_size=25,
)


@given(lines=_lines, separator=st.sampled_from(["\n", "\n\n", "\r\n"]))
def test_any_text_gives_an_article_or_no_article_found(lines: list[str], separator: str) -> None:
    try:
        article = parse_text_article(separator.join(lines))
    except NoArticleFound:
        return
    assert article.title
    assert article.body_html
    assert "Skip to content" not in article.body_html
    assert "Leave a Reply" not in article.body_html


_CREDIT_PIECES = [
    "Photo: ",
    "Image credit: ",
    "(Image: Shelfie Robotics)",
    "(Jane Roe — AFP/Getty Images)",
    " – JANE ROE/REUTERS",
    " - A. N. Other/PA Media",
    "Photograph",
    ":",
    "/",
    "(",
    ")",
    " ",
    "  ",
    "\n",
    "\u00a0",
    ".",
    "—",
    "word ",
    "x" * 30,
    "A long sentence of the story that goes on. " * 2,
]


@given(st.lists(st.sampled_from(_CREDIT_PIECES), max_size=25).map("".join))
@example("The view. Photo: " + "x" * 79 + "  ")
@example("The view. Photo: " + "x" * 81)
@example("The view (Photo credit: " + "x" * 100 + ") ")
@example("The view – JANE ROE/REUTERS")
def test_the_credit_prefilter_never_hides_a_credit(text: str) -> None:
    """``_ends_in_credit`` skips the search only where it cannot match."""
    from newsletter.content.textunits import _CREDIT, CREDIT_TAIL_CHARS, _ends_in_credit

    assert _ends_in_credit(text) == (_CREDIT.search(text[-CREDIT_TAIL_CHARS:]) is not None)


def _words(count: int, word: str) -> str:
    """A paragraph of ``count`` words of one kind, ending like a sentence."""
    return " ".join([word] * count) + "."


def test_main_block_spans_captions_but_not_a_long_doubted_run() -> None:
    units = [
        Unit(_words(30, "ferry"), Kind.PROSE),  # 180 characters: +72
        Unit(_words(30, "caption"), Kind.CAPTION),  # weighs nothing: it interrupts a story
        Unit(_words(30, "sailing"), Kind.PROSE),  # 240 characters: +72
        Unit(_words(40, "teaser"), Kind.FURNITURE),  # 280 characters: -112
        Unit(_words(20, "harbour"), Kind.PROSE),  # 160 characters: +32, less than lost
    ]
    assert main_block(units, [0.9, 0.0, 0.8, 0.1, 0.7]) == (0, 2)
    # Nothing above 0.5: no block, and the units are judged as without one.
    assert main_block(units, [0.4, 0.0, 0.3, 0.1, 0.5]) is None


def test_the_main_block_keeps_doubted_prose_in_it_and_drops_prose_outside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    units = [
        Unit(_words(40, "ferry"), Kind.PROSE),
        Unit(_words(25, "island"), Kind.PROSE),  # doubted, but inside the block
        Unit(_words(40, "vessel"), Kind.PROSE),
        Unit(_words(60, "promotion"), Kind.FURNITURE),
        Unit(_words(25, "subscribe"), Kind.PROSE),  # likely, but outside the block
        Unit(_words(25, "certain"), Kind.PROSE),  # near certain: kept outside it too
    ]
    probabilities = [0.95, 0.3, 0.9, 0.02, 0.7, 0.95]
    assert main_block(units, probabilities) == (0, 2)
    kept = _story(units, probabilities)
    assert kept == [units[i].text for i in (0, 1, 2, 5)]
    monkeypatch.setattr(textarticle, "BLOCK_OUTSIDE", None)
    assert main_block(units, probabilities) is None
    assert _story(units, probabilities) == [units[i].text for i in (0, 2, 4, 5)]


@given(
    st.lists(
        st.tuples(
            st.integers(1, 60),
            st.sampled_from(list(Kind)),
            st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]) | st.floats(0.0, 1.0),
        ),
        max_size=30,
    )
)
def test_main_block_is_the_run_with_the_largest_sum(rows: list[tuple[int, Kind, float]]) -> None:
    units = [Unit(" ".join(["word"] * words), kind) for words, kind, _ in rows]
    probabilities = [probability for _, _, probability in rows]
    gains = [
        0.0 if unit.kind in textarticle.NEVER_STORY else (probability - 0.5) * len(unit.text)
        for unit, probability in zip(units, probabilities, strict=True)
    ]
    runs = {
        (first, last): math.fsum(gains[first : last + 1])
        for first in range(len(gains))
        for last in range(first, len(gains))
    }
    best = max(runs.values(), default=0.0)
    block = main_block(units, probabilities)
    # Up to rounding: runs that sum alike may tie either way.
    if block is None:
        assert best <= 1e-6
    else:
        assert runs[block] > 0.0
        assert runs[block] >= best - 1e-6
