"""Which units of a saved page are story text: a small logistic model over unit features.

Each unit (a paragraph or a line, as ``textarticle`` cuts and classes them) is described
by its shape (length, punctuation, capitals, stop words), the class the rules gave it,
its place on the page and its neighbours (story text comes in runs of long, punctuated
units). The weights live in ``textmodel.json`` beside this module, trained on pages of
the development set by ``bench/train_text_model.py``; scoring is a dot product in pure
Python (about 1 ms a page), so ingest never imports a machine-learning library.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

MODEL_PATH = Path(__file__).with_name("textmodel.json")
CONTEXT = 3  # units on each side that describe a unit's surroundings
KINDS = ("prose", "furniture", "byline", "dateline", "caption", "teaser header", "end")

_STOP_WORDS = frozenset(
    [
        "the",
        "a",
        "an",
        "of",
        "to",
        "and",
        "in",
        "is",
        "that",
        "for",
        "on",
        "with",
        "was",
        "as",
        "it",
        "by",
        "at",
        "from",
        "he",
        "she",
        "they",
        "said",
        "his",
        "her",
        "their",
        "has",
        "have",
        "had",
        "be",
        "been",
        "are",
        "were",
        "will",
        "would",
        "this",
        "which",
        "who",
        "but",
        "not",
        "or",
        "its",
        "also",
        "after",
        "than",
        "more",
        "about",
        "over",
        "into",
        "when",
        "there",
        "one",
        "we",
        "i",
        "you",
        "our",
        "up",
        "out",
        "new",
        "could",
        "may",
    ]
)
_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*$")


class UnitLike(Protocol):
    """What the model reads of a unit."""

    @property
    def text(self) -> str: ...

    @property
    def kind_name(self) -> str: ...


def _shape(text: str) -> list[float]:
    """Features of one unit on its own."""
    words = text.split()
    n = len(words)
    tokens = _WORD.findall(text.lower())
    chars = max(1, len(text))
    # map() over str methods: half the CPU of generator expressions on long pages.
    letters = sum(map(str.isalpha, text))
    capitals = sum(map(str.isupper, (w[:1] for w in words)))
    return [
        math.log1p(n),
        math.log1p(len(text)),
        1.0 if _SENTENCE_END.search(text) else 0.0,
        sum(map(_STOP_WORDS.__contains__, tokens)) / max(1, len(tokens)),
        capitals / max(1, n),
        sum(map(str.isdigit, text)) / chars,
        (chars - letters - text.count(" ")) / chars,
        text.count(",") / max(1, n),
        1.0 if text[:1].islower() else 0.0,
        1.0 if any(sep in text for sep in ("|", "»", "›", "•")) else 0.0,
        1.0 if text.isupper() and n > 0 else 0.0,
        1.0 if text.endswith(":") else 0.0,
        1.0 if n >= 20 else 0.0,
    ]


SHAPE_SIZE = len(_shape("x"))


def features(units: Sequence[UnitLike], title_at: int | None) -> list[list[float]]:
    """Return one feature vector per unit."""
    shapes = [_shape(u.text) for u in units]
    total = len(units)
    long_words = [len(u.text.split()) if u.kind_name == "prose" else 0 for u in units]
    # Where the prose mass is: words of prose within CONTEXT*2 units, over the page's best.
    window = 2 * CONTEXT
    mass = [sum(long_words[max(0, i - window) : i + window + 1]) for i in range(total)]
    top = max(mass, default=0) or 1
    cumulative, seen = [], 0
    all_words = sum(long_words) or 1
    for words in long_words:
        cumulative.append(seen / all_words)
        seen += words
    counts = Counter(" ".join(_WORD.findall(u.text.lower())) for u in units)
    title_words = (
        set(_WORD.findall(units[title_at].text.lower())) if title_at is not None else set()
    )
    rows = []
    for i, unit in enumerate(units):
        kind = [1.0 if unit.kind_name == name else 0.0 for name in KINDS]
        around = []
        for offset in (-2, -1, 1, 2):
            j = i + offset
            if 0 <= j < total:
                around += [
                    shapes[j][0],
                    shapes[j][2],
                    1.0 if units[j].kind_name == "prose" else 0.0,
                ]
            else:
                around += [0.0, 0.0, 0.0]
        near = shapes[max(0, i - CONTEXT) : i + CONTEXT + 1]
        mean_len = sum(s[0] for s in near) / len(near)
        mean_end = sum(s[2] for s in near) / len(near)
        unit_words = set(_WORD.findall(unit.text.lower()))
        overlap = (
            len(unit_words & title_words) / len(unit_words | title_words) if unit_words else 0.0
        )
        place = [
            i / max(1, total - 1),
            1.0 if title_at is not None and i > title_at else 0.0,
            1.0 if title_at is not None and i == title_at else 0.0,
            mass[i] / top,
            cumulative[i],
            1.0 if counts[" ".join(_WORD.findall(unit.text.lower()))] > 1 else 0.0,
            overlap,
            mean_len,
            mean_end,
        ]
        rows.append(shapes[i] + kind + around + place)
    return rows


def context_features(logits: Sequence[float], units: Sequence[UnitLike]) -> list[list[float]]:
    """Second-stage features: a unit's first-stage score and those of its neighbours."""
    total = len(logits)
    # Best score before and after each unit, in one pass each way (not a max per unit).
    before_best, after_best = [-5.0] * total, [-5.0] * total
    for i in range(1, total):
        before_best[i] = max(before_best[i - 1], logits[i - 1])
    for i in range(total - 2, -1, -1):
        after_best[i] = max(after_best[i + 1], logits[i + 1])
    rows = []
    for i, unit in enumerate(units):
        near = [logits[j] if 0 <= j < total else -5.0 for j in range(i - CONTEXT, i + CONTEXT + 1)]
        wide = logits[max(0, i - 3 * CONTEXT) : i + 3 * CONTEXT + 1]
        before, after = before_best[i], after_best[i]
        rows.append(
            [
                *near,
                sum(wide) / len(wide),
                before,
                after,
                math.log1p(len(unit.text.split())),
                1.0 if unit.kind_name == "prose" else 0.0,
            ]
        )
    return rows


# A stage's weights, intercept and the scaling the training applied, by stage name.
StoryModel = dict[str, dict[str, list[float]]]


@cache
def _model() -> StoryModel:
    """The trained stages, as shipped beside this module."""
    loaded: StoryModel = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return loaded


def linear(stage: dict[str, list[float]], rows: list[list[float]]) -> list[float]:
    """Return the logit of each row under one stage's standardised weights."""
    coef, mean, scale = stage["coef"], stage["mean"], stage["scale"]
    (intercept,) = stage["intercept"]
    return [
        intercept + sum(w * (x - m) / s for w, x, m, s in zip(coef, row, mean, scale, strict=True))
        for row in rows
    ]


def story_probabilities(
    units: Sequence[UnitLike], title_at: int | None, model: StoryModel | None = None
) -> list[float]:
    """Return for each unit the model's probability that it is story text."""
    model = model or _model()
    logits = linear(model["units"], features(units, title_at))
    if "context" in model:
        logits = linear(model["context"], context_features(logits, units))
    return [1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z)))) for z in logits]
