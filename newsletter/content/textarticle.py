"""Read a plain-text article saved from a news site: headline, standfirst, story; no furniture.

The text is cut into classed units (``textunits``). The headline is the last
headline-shaped unit before the first story paragraph; a short paragraph straight after
it, set off from the story by a byline or dateline, is the standfirst. Which units under
the headline are story text is decided by the rules and the story model (``textmodel``)
together, within the story's main block (the densest run of likely story text).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter

import numpy as np

from newsletter.content.parsed import NoArticleFound, ParsedArticle, parse_published
from newsletter.content.textmodel import StoryModel, story_probabilities
from newsletter.content.textunits import (
    BYLINE,
    HEADLINE_MAX_WORDS,
    STANDFIRST_MAX_CHARS,
    STORY_MIN_WORDS,
    Kind,
    Unit,
    classify,
    drop_repeated_captions,
    ends_sentence,
    is_hard_furniture,
    is_nav_line,
    role_byline_name,
    split_units,
    word_count,
)

__all__ = ["Kind", "Unit", "analyse", "classify", "parse_text_article", "split_units"]

STORY_THRESHOLD = 0.5  # the story model's probability above which a unit is story text
# Fewer units than this and the page is too short for the model (trained on whole pages,
# where place and neighbours say much): the rules' reading stands.
MODEL_MIN_UNITS = 12
STORY_OVERRULE = 0.8  # above this a unit the rules call furniture is story text after all
# Below this even a story-shaped paragraph is furniture (a teaser, a promo): the model alone
# decides over prose. Chosen by 5-fold cross-validation within the development pages (F1
# 0.893 against 0.887 for a floor of 0.2); with the rule below 0.8949 for a share of 0.15
# (0.10: 0.8943, 0.20: 0.8947, 0.25 to 0.50: 0.8928 to 0.8932, no share asked: 0.891).
STORY_KEEP = 0.5
# A doubted story-shaped paragraph (at least CONTINUE_FLOOR) after a kept one (no other
# story-shaped paragraph between) stays when at least CONTINUE_SHARE of its longer words
# (CONTINUE_WORD_CHARS letters or more) are in the story kept so far: it continues the
# story, as a last paragraph under a newsletter box does. None switches the rule off.
CONTINUE_FLOOR: float | None = 0.2
CONTINUE_SHARE = 0.15
CONTINUE_WORD_CHARS = 5
# The story is one main block: the run of units under the headline whose probabilities
# above 0.5, weighed by length in characters, sum highest (captions, bylines and datelines
# count for nothing: they interrupt a story without ending it). Outside it a unit needs the
# model's near certainty (BLOCK_OUTSIDE); inside it a prose unit needs only BLOCK_INSIDE.
# Chosen by 5-fold cross-validation within the development pages (``train_text_model.py
# --folds 5``): F1 0.8949 without the block, 0.9009 with 0.9 and 0.2, and 0.9000 to 0.9007
# for the other settings tried (0.8 to 1.0 outside, 0 to 0.35 inside, or no continuation).
# None switches the block off.
BLOCK_OUTSIDE: float | None = 0.9
BLOCK_INSIDE = 0.2
_WORD = re.compile(r"\w+")
_PROSE = Kind.PROSE  # a module global is read faster than an Enum member (95 ns each)
# Kinds kept out of the story whatever the model says: metadata and captions belong elsewhere.
NEVER_STORY = frozenset({Kind.CAPTION, Kind.TEASER_HEADER, Kind.BYLINE, Kind.DATELINE})
_NEVER_STORY_VALUES = frozenset(kind.value for kind in NEVER_STORY)
_TEXT, _KIND_VALUE = attrgetter("text"), attrgetter("kind._value_")


def parse_text_article(text: str, *, model: StoryModel | None = None) -> ParsedArticle:
    """Return the headline, standfirst and story paragraphs of a saved article.

    ``model`` replaces the shipped story model (for training and evaluation).
    """
    units, title_at = analyse(text)
    title = units[title_at].text
    after_title = units[title_at + 1 :]
    standfirst = _standfirst(after_title)
    paragraphs = []
    if len(units) >= MODEL_MIN_UNITS:
        probabilities = story_probabilities(units, title_at, model)
        paragraphs = _story(after_title, probabilities[title_at + 1 :])
    if not paragraphs and len(units) < MODEL_MIN_UNITS:
        # Too short for the model to judge: the rules' prose (short lines are subheadings).
        paragraphs = [u.text for u in after_title if u.kind is Kind.PROSE]
    if not paragraphs:
        paragraphs = [u.text for u in after_title if _is_story(u)]
    if standfirst is not None and paragraphs and paragraphs[0] == standfirst:
        paragraphs = paragraphs[1:]
    if not paragraphs:
        raise NoArticleFound(f"the text has no story under the headline {title!r}")
    return ParsedArticle(
        title=title,
        body_html="\n".join(_paragraph_html(p) for p in paragraphs),
        standfirst=standfirst,
        author=_author(units),
        published_at=_published(units),
    )


def _story(units: list[Unit], probabilities: Sequence[float]) -> list[str]:
    """Return the story paragraphs among ``units`` (those under the headline)."""
    paragraphs: list[str] = []
    story_words: set[str] = set()
    read = 0  # the paragraphs whose words are in ``story_words`` (gathered when needed)
    last_kept = False  # whether the last story-shaped paragraph went into the story
    block = main_block(units, probabilities)
    for at, (unit, probability) in enumerate(zip(units, probabilities, strict=True)):
        keep = _in_story(unit, probability, None if block is None else block[0] <= at <= block[1])
        if unit.kind is not _PROSE or not _is_story(unit):
            if keep:
                paragraphs.append(unit.text)
            continue
        if (
            not keep
            and last_kept
            and CONTINUE_FLOOR is not None
            and probability >= CONTINUE_FLOOR
            and not is_hard_furniture(unit.text)
        ):
            for paragraph in paragraphs[read:]:
                story_words.update(_content_words(paragraph))
            read = len(paragraphs)
            keep = _continues(unit.text, story_words)
        last_kept = keep
        if keep:
            paragraphs.append(unit.text)
    return paragraphs


def main_block(units: Sequence[Unit], probabilities: Sequence[float]) -> tuple[int, int] | None:
    """Return the first and last index of the story's main block among ``units``.

    The block is the run whose ``(probability - 0.5) * characters`` sums highest; units in
    ``NEVER_STORY`` weigh nothing. None when there is no block: no unit above 0.5, or the
    block switched off.
    """
    if BLOCK_OUTSIDE is None or not units:
        return None
    # Weighed by characters rather than words: 0.9009 against 0.9014 in cross-validation,
    # and on the largest development page the whole block takes 1.3 ms where counting the
    # units' words takes 4.6 ms (at load 2). C-level maps: an Enum member hashes in Python.
    total = len(units)
    lengths = np.fromiter(map(len, map(_TEXT, units)), dtype=float, count=total)
    kinds = map(_KIND_VALUE, units)
    never = np.fromiter(map(_NEVER_STORY_VALUES.__contains__, kinds), dtype=bool, count=total)
    gains = np.where(never, 0.0, (np.asarray(probabilities, dtype=float) - 0.5) * lengths)
    # The best run ending at each unit: the sum up to it less the lowest sum before its
    # start; the first best end, and its latest lowest start (a run summing to 0 is dropped).
    # Runs that sum alike may tie differently from a running sum (float rounding).
    sums = np.concatenate([[0.0], np.cumsum(gains)])
    lowest = np.minimum.accumulate(sums[:-1])
    last = int(np.argmax(sums[1:] - lowest))
    if sums[last + 1] - lowest[last] <= 0.0:
        return None
    first = last - int(np.argmin(sums[last::-1]))
    return first, last


def _content_words(text: str) -> set[str]:
    """The longer words of ``text``, lower-cased: what says what a paragraph is about."""
    return {w for w in _WORD.findall(text.lower()) if len(w) >= CONTINUE_WORD_CHARS}


def _continues(text: str, story_words: set[str]) -> bool:
    """Whether a paragraph shares enough of its longer words with the story kept so far."""
    words = _content_words(text)
    return bool(words) and len(words & story_words) >= CONTINUE_SHARE * len(words)


def _in_story(unit: Unit, probability: float, in_block: bool | None = None) -> bool:
    """Whether a unit under the headline is story text: the model decides, within the rules.

    The model overrules the softer furniture rules (menus, boilerplate, a comment marker
    met too early) only when it is sure. Units the rules know by what they say
    (promotions, share prompts, comment forms) and the kinds in ``NEVER_STORY`` (captions,
    bylines, datelines) never enter the story, however story-like the model finds them.
    Outside the main block (``in_block`` False) every unit needs ``BLOCK_OUTSIDE``; inside
    it (True) prose needs only ``BLOCK_INSIDE``; None: the page has no block.
    """
    outside = BLOCK_OUTSIDE if BLOCK_OUTSIDE is not None and in_block is False else 0.0
    # The cheapest test first (hashing an Enum member runs Python code).
    if unit.kind is not _PROSE:
        return (
            probability >= max(STORY_OVERRULE, outside)
            and unit.kind not in NEVER_STORY
            and not is_hard_furniture(unit.text)
        )
    needed = STORY_KEEP if _is_story(unit) else STORY_THRESHOLD
    if in_block:
        needed = min(needed, BLOCK_INSIDE)
    enough = probability >= max(needed, outside)
    # The content rules last: a dozen patterns, worth running only on units the model keeps.
    return enough and not is_hard_furniture(unit.text)


def analyse(text: str) -> tuple[list[Unit], int]:
    """Return the classified units of ``text`` and the index of the headline among them."""
    units = classify(split_units(text))
    units = drop_repeated_captions(units)
    story_start = next((i for i, u in enumerate(units) if _is_story(u)), None)
    if story_start is None:
        raise NoArticleFound("the text has no story paragraphs")
    head = units[:story_start]
    title_at = next(
        (i for i in range(len(head) - 1, -1, -1) if _is_headline(head[i])),
        None,
    )
    if title_at is None:
        # A file that starts straight with prose: its first line stands in as headline.
        title_at = next(i for i, u in enumerate(units) if u.kind is Kind.PROSE)
    return units, title_at


def _is_story(unit: Unit) -> bool:
    """Return whether ``unit`` is a paragraph of story text."""
    return unit.kind is Kind.PROSE and (
        word_count(unit.text) >= STORY_MIN_WORDS or ends_sentence(unit.text)
    )


def _is_headline(unit: Unit) -> bool:
    """Return whether ``unit`` is shaped like a headline."""
    words = word_count(unit.text)
    return (
        unit.kind is Kind.PROSE
        and 2 <= words <= HEADLINE_MAX_WORDS
        and not unit.text.endswith(".")
        and not is_nav_line(unit.text)
    )


def _standfirst(after_title: list[Unit]) -> str | None:
    """Return the summary paragraph under the headline, when metadata sets it apart."""
    prose = [i for i, u in enumerate(after_title) if u.kind is Kind.PROSE]
    if len(prose) < 2:
        return None
    first, second = prose[0], prose[1]
    candidate = after_title[first].text
    between = after_title[first + 1 : second]
    # Only a byline or dateline sets a standfirst apart; a caption can sit between any
    # two paragraphs.
    set_apart = any(u.kind in (Kind.BYLINE, Kind.DATELINE) for u in between)
    if set_apart and len(candidate) <= STANDFIRST_MAX_CHARS and ends_sentence(candidate):
        return candidate
    return None


def _author(units: list[Unit]) -> str | None:
    """Return the name in the first byline."""
    for unit in units:
        if unit.kind is not Kind.BYLINE:
            continue
        if match := BYLINE.match(unit.text):
            return match.group(1).strip()
        return role_byline_name(unit.text)
    return None


def _published(units: list[Unit]) -> datetime | None:
    """Return the first date in a dateline or byline."""
    for unit in units:
        if unit.kind in (Kind.DATELINE, Kind.BYLINE) and (date := parse_published(unit.text)):
            return date
    return None


def _paragraph_html(text: str) -> str:
    """Return one story paragraph as HTML; a short unpunctuated line is a subheading."""
    # At most 10 words: split no further than the eleventh (long paragraphs are common).
    if len(text.split(None, 10)) <= 10 and not ends_sentence(text) and not text.endswith(":"):
        return f"<h2>{html.escape(text, quote=False)}</h2>"
    return f"<p>{html.escape(text, quote=False)}</p>"
