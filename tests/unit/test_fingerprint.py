"""Tests for near-duplicate story detection."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsletter.content.fingerprint import (
    first_words,
    jaccard,
    normalise_words,
    shingles,
    similar_stories,
    story_fingerprint,
    story_similarity,
)

TITLE = "Council approves 12km of segregated cycle lanes for city centre"
BODY = (
    "The city council's cabinet voted seven to two on Tuesday evening to build 12 kilometres "
    "of kerb-separated cycle lanes, the largest single expansion of the network since the "
    "railway path opened in the 1980s. Work on the first two routes, along Victoria Street "
    "and Temple Way, is expected to begin in September and take about eight months. The "
    "remaining four routes will follow over the next three years, subject to funding from "
    "the regional transport authority. Councillor Ruth Ndlovu said the lanes would make it "
    "safe enough for a twelve-year-old to cycle into the centre."
)
OTHER_TITLE = "Zoo announces birth of twin red pandas"
OTHER_BODY = (
    "Keepers at the city zoo said the twins were born last week and are feeding well. "
    "The cubs will stay in their nest box with their mother until the autumn, and visitors "
    "will be able to see them on a camera in the panda house."
)


def test_normalise_words_folds_case_accents_and_punctuation() -> None:
    assert normalise_words("Café’s “BIG” re-opening!") == ["cafes", "big", "re", "opening"]


def test_fingerprint_is_stable_and_ignores_formatting() -> None:
    a = story_fingerprint(TITLE, BODY)
    b = story_fingerprint(TITLE.upper() + "  ", BODY.replace(" ", "\n  "))
    assert a == b
    assert len(a) == 64
    assert a == story_fingerprint(TITLE, BODY)


def test_fingerprint_differs_for_different_stories() -> None:
    assert story_fingerprint(TITLE, BODY) != story_fingerprint(OTHER_TITLE, OTHER_BODY)
    assert story_fingerprint(TITLE, BODY) != story_fingerprint(OTHER_TITLE, BODY)


def test_fingerprint_ignores_the_tail_of_long_bodies() -> None:
    assert story_fingerprint(TITLE, BODY) == story_fingerprint(TITLE, BODY + " Extra update.")


def test_same_story_through_two_feeds_is_similar() -> None:
    feed_b_title = "Council approves 12km of segregated cycle lanes for city centre"
    feed_b_body = BODY.replace("Tuesday evening", "Tuesday night") + " Updated at 9pm."
    assert similar_stories(TITLE, BODY, feed_b_title, feed_b_body)


def test_teaser_and_full_body_of_one_story_are_similar() -> None:
    teaser = BODY[:260]
    assert similar_stories(TITLE, teaser, TITLE, BODY)


def test_different_stories_are_not_similar() -> None:
    assert not similar_stories(TITLE, BODY, OTHER_TITLE, OTHER_BODY)


def test_same_title_different_body_is_not_similar() -> None:
    assert not similar_stories("Live: latest updates", BODY, "Live: latest updates", OTHER_BODY)


def test_threshold_is_adjustable() -> None:
    score = story_similarity(TITLE, BODY, TITLE, BODY[: len(BODY) // 2] + OTHER_BODY)
    assert 0 < score < 1
    assert similar_stories(TITLE, BODY, TITLE, BODY[: len(BODY) // 2] + OTHER_BODY, threshold=score)


def test_shingles_and_jaccard() -> None:
    assert shingles(["a", "b", "c", "d"], 3) == {("a", "b", "c"), ("b", "c", "d")}
    assert shingles(["a"], 3) == {("a",)}
    assert shingles([], 3) == set()
    assert jaccard(set(), set()) == 1.0
    assert jaccard({("a",)}, {("b",)}) == 0.0


_story_text = st.text(alphabet=st.characters(categories=["L", "Zs", "P"]), max_size=400)


@given(title=_story_text, body=_story_text)
def test_a_story_is_similar_to_itself(title: str, body: str) -> None:
    assert similar_stories(title, body, title, body)
    assert story_fingerprint(title, body) == story_fingerprint(title, body)


@given(a=_story_text, b=_story_text, c=_story_text, d=_story_text)
def test_similarity_is_symmetric_and_bounded(a: str, b: str, c: str, d: str) -> None:
    score = story_similarity(a, b, c, d)
    assert 0.0 <= score <= 1.0
    assert score == story_similarity(c, d, a, b)


@given(
    st.text(alphabet=st.sampled_from(list("ab É’'_ \u00a0\u0301x\tß")), max_size=600),
    st.sampled_from([1, 3, 60]),
)
def test_first_words_are_the_start_of_all_the_words(text: str, count: int) -> None:
    assert first_words(text, count) == normalise_words(text)[:count]
