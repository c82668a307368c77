"""Tests for plain-text summaries."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsletter.content.summary import (
    ELLIPSIS,
    _cut_on_sentence,
    _cut_on_word,
    _leading_plain,
    _plain,
    plain_text,
    sentence_ends,
    summarise,
)

STORY = (
    "The council approved the plan on Tuesday. It will build 12km of cycle lanes over "
    "three years. Taxi drivers objected, saying that the lanes would remove loading bays "
    "and make it harder to pick up passengers with limited mobility."
)


def test_short_text_is_returned_whole() -> None:
    assert summarise("A short summary.") == "A short summary."


def test_whitespace_is_collapsed() -> None:
    assert summarise("  A\n\nshort \t summary.  ") == "A short summary."


def test_markup_is_removed() -> None:
    html = "<p>The <b>council</b> approved the plan.</p><script>x()</script><p>Next &amp; last.</p>"
    assert summarise(html) == "The council approved the plan. Next & last."


def test_escaped_markup_does_not_come_back() -> None:
    assert summarise("&lt;b&gt;Bold&lt;/b&gt; claim.") == "Bold claim."


def test_cut_on_sentence_boundary() -> None:
    assert summarise(STORY, limit=100) == (
        "The council approved the plan on Tuesday. "
        "It will build 12km of cycle lanes over three years."
    )


def test_cut_on_word_boundary_with_ellipsis_when_first_sentence_is_too_long() -> None:
    result = summarise(STORY, limit=30)
    assert result == "The council approved the plan…"
    assert len(result) <= 30


def test_tiny_first_sentence_is_not_enough() -> None:
    text = "Yes. " + "word " * 100
    result = summarise(text, limit=100)
    assert result.endswith(ELLIPSIS)
    assert len(result) > 50


def test_abbreviations_do_not_end_sentences() -> None:
    text = "Mr. Smith met U.S. officials on Tuesday. They talked for an hour about trade and fish."
    assert sentence_ends(text)[0] == text.index("Tuesday.") + len("Tuesday.")
    assert summarise(text, limit=60) == "Mr. Smith met U.S. officials on Tuesday."


def test_quotes_close_the_sentence() -> None:
    text = '"We will fight this," she said. "It is not over." Then she left the hall at once.'
    assert summarise(text, limit=50) == '"We will fight this," she said. "It is not over."'


def test_single_giant_word_gives_empty_summary() -> None:
    assert summarise("x" * 400, limit=300) == ""


def test_trailing_punctuation_is_dropped_before_ellipsis() -> None:
    assert summarise("alpha beta, gamma delta epsilon", limit=12) == "alpha beta…"


@pytest.mark.parametrize("limit", [0, 1])
def test_tiny_limits(limit: int) -> None:
    assert summarise(STORY, limit=limit) == ""


def test_default_limit_is_300() -> None:
    long_text = " ".join(["Sentence number one is here."] * 40)
    assert len(summarise(long_text)) <= 300


# Property tests.

_words = st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=15)
_separators = st.sampled_from(
    [" ", "  ", "\n", ". ", ", ", "! ", "? ", "\n\n", " <b>", "</b> ", "<p>", "&amp; "]
)
_texts = st.lists(st.tuples(_words, _separators), max_size=80).map(
    lambda pairs: "".join(word + sep for word, sep in pairs)
)
_TAG = re.compile(r"<[A-Za-z/!?][^<>]*>")


@given(text=_texts | st.text(), limit=st.integers(min_value=0, max_value=400))
@example(text=STORY, limit=300)
@example(text="<p>" + "word " * 200 + "</p>", limit=37)
def test_summary_invariants(text: str, limit: int) -> None:
    result = summarise(text, limit)
    assert len(result) <= limit
    assert not _TAG.search(result)
    assert result == result.strip()
    plain = plain_text(text)
    body = result.removesuffix(ELLIPSIS)
    # The summary is the start of the text, cut where a word ends.
    assert plain.startswith(body)
    if body and len(body) < len(plain):
        assert not (body[-1].isalnum() and plain[len(body)].isalnum())


@given(text=_texts)
def test_summary_of_fitting_text_is_the_whole_text(text: str) -> None:
    plain = plain_text(text)
    assert summarise(text, limit=len(plain)) == plain


def test_the_articles_language_brings_its_abbreviations() -> None:
    text = "Sra. García habló con el alcalde. Luego se fue a casa."
    assert sentence_ends(text)[0] == len("Sra.")  # English rules: "Sra." ends a sentence
    assert sentence_ends(text, "es")[0] == len("Sra. García habló con el alcalde.")
    assert summarise(text, limit=40, language="es") == "Sra. García habló con el alcalde."
    assert sentence_ends("Dott. Rossi parla. Poi va.", "it")[0] == len("Dott. Rossi parla.")


_LONG_PIECES = [
    *"ab .\n\t\f\r\u00a0\u2028;#&!?…",
    "Mr. ",
    "word ",
    "Read more »",
    "[…]",
    "&amp;",
    "&lt;b&gt;",
    "&amp;lt;i&amp;gt;",
    "&#60;",
    "&#x3c;",
    "&nbsp;",
    "&notit;",
    "&lt",
    "The post X appeared first on Y.",
]
_long_texts = st.tuples(
    st.lists(st.sampled_from(_LONG_PIECES), max_size=40).map("".join),
    st.integers(min_value=0, max_value=120),
    st.lists(st.sampled_from(_LONG_PIECES), max_size=40).map("".join),
).map(lambda parts: parts[0] * parts[1] + parts[2])


@settings(max_examples=400)
@given(text=_long_texts | _texts, limit=st.integers(min_value=0, max_value=400))
@example(text="word " * 400 + "&lt;b " + "x " * 400 + "&gt;", limit=300)
@example(text=("A sentence &amp; more. " * 60) + "Read more »", limit=300)
def test_the_start_of_a_long_text_is_what_the_whole_text_gives(text: str, limit: int) -> None:
    """The summary of a long text from its start alone equals the one from the whole."""
    head = _leading_plain(text, limit)
    if head is not None:
        whole = _plain(text)
        assert len(whole) > limit
        assert whole[: len(head)] == head
        assert len(head) >= limit + 9
    assert summarise(text, limit) == _summarise_whole(text, limit)


def _summarise_whole(text: str, limit: int) -> str:
    """``summarise`` as it was before it read only the start of long texts."""
    plain = _plain(text)
    if len(plain) <= limit:
        return plain
    by_sentence = _cut_on_sentence(plain[: limit + 8], limit, None)
    if by_sentence and len(by_sentence) >= limit * 0.4:
        return by_sentence
    return _cut_on_word(plain, limit)


def test_the_story_body_is_summarised_from_its_start() -> None:
    text = "A first sentence of the story &amp; its start. " * 200
    assert _leading_plain(text, 300) is not None
    assert summarise(text) == _summarise_whole(text, 300)
    assert _leading_plain("<p>" + text + "</p>", 300) is None
