"""Which units of a saved page are story text: small boosted trees over unit features.

Each unit (a paragraph or a line, as ``textarticle`` cuts and classes them) is described
by its shape (length, punctuation, capitals, stop words), the class the rules gave it,
its place on the page (position, prose mass around it, repetition, likeness to the
headline) and the shape and class of the three units on each side (story text comes in
runs of long, punctuated units). The trees live in ``textmodel.json`` beside this module,
trained on pages of the development set by ``bench/train_text_model.py`` (scikit-learn's
histogram gradient boosting); scoring walks every tree at once with numpy (about 1 ms a
page), so ingest never imports a machine-learning library.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

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
_NOT_WORD = re.compile(r"[^\w ]|_")
_SEPARATORS = re.compile(r"[|»›•]")
_WORD_START = re.compile(r"(?<!\S)\S")  # the first character of each word of str.split()
_DIGITS = re.compile(r"\d+")


class UnitLike(Protocol):
    """What the model reads of a unit."""

    @property
    def text(self) -> str: ...

    @property
    def kind_name(self) -> str: ...


def _shape(text: str, tokens: list[str]) -> list[float]:
    """Features of one unit on its own (``tokens``: its lower-cased words)."""
    words = text.split()
    n = len(words)
    chars = max(1, len(text))
    # Digits and other non-letters counted by regular expression (they are sparse): a third
    # of the CPU of a str.isalpha per character on the largest page (239 KB).
    digits = sum(map(len, _DIGITS.findall(text)))
    others = len(_NOT_WORD.findall(text))  # neither letter, digit nor space
    capitals = sum(map(str.isupper, "".join(_WORD_START.findall(text))))
    return [
        math.log1p(n),
        math.log1p(len(text)),
        1.0 if _SENTENCE_END.search(text) else 0.0,
        sum(map(_STOP_WORDS.__contains__, tokens)) / max(1, len(tokens)),
        capitals / max(1, n),
        digits / chars,
        others / chars,
        text.count(",") / max(1, n),
        1.0 if text[:1].islower() else 0.0,
        1.0 if _SEPARATORS.search(text) else 0.0,
        1.0 if text.isupper() and n > 0 else 0.0,
        1.0 if text.endswith(":") else 0.0,
        1.0 if n >= 20 else 0.0,
    ]


SHAPE_SIZE = len(_shape("x", ["x"]))
OWN_SIZE = SHAPE_SIZE + len(KINDS)  # the columns a neighbour lends to a unit's row
_KIND_ROWS = {name: [1.0 if name == other else 0.0 for other in KINDS] for name in KINDS}


def _window_sum(values: np.ndarray, reach: int) -> np.ndarray:
    """Sum of ``values`` over each position and ``reach`` positions on each side."""
    padded = np.concatenate([[0.0], np.cumsum(values)])
    total = len(values)
    upper = np.minimum(np.arange(total) + reach + 1, total)
    lower = np.maximum(np.arange(total) - reach, 0)
    summed: np.ndarray = padded[upper] - padded[lower]
    return summed


def _place(
    units: Sequence[UnitLike], keys: list[str], mine: np.ndarray, title_at: int | None
) -> np.ndarray:
    """Where each unit sits: position, prose mass and runs around it, repetition, headline."""
    total = len(units)
    is_prose = np.array([u.kind_name == "prose" for u in units], dtype=bool)
    # Words of prose units (0 elsewhere), from the shape's log1p(word count).
    prose_words = np.where(is_prose, np.rint(np.expm1(mine[:, 0])), 0.0)
    mass = _window_sum(prose_words, 2 * CONTEXT)
    top = mass.max(initial=0.0) or 1.0
    cumulative = (np.cumsum(prose_words) - prose_words) / (prose_words.sum() or 1.0)
    # Length of the run of sentence-ending prose units each unit belongs to.
    in_run = is_prose & (mine[:, 2] > 0)
    runs = [0] * total
    start = 0
    for i, inside in enumerate([*in_run.tolist(), False]):
        if not inside:
            runs[start:i] = [i - start] * (i - start)
            start = i + 1
    counts = Counter(keys)
    title_words = set(keys[title_at].split()) if title_at is not None else set()
    repeated = [1.0 if counts[key] > 1 else 0.0 for key in keys]
    overlap = [0.0] * total
    if title_words:
        for i, key in enumerate(keys):
            if key:
                unit_words = set(key.split())
                overlap[i] = len(unit_words & title_words) / len(unit_words | title_words)
    # Mean length and sentence ends over the unit and CONTEXT units on each side.
    reach = np.minimum(np.arange(total) + CONTEXT + 1, total) - np.maximum(
        np.arange(total) - CONTEXT, 0
    )
    position = np.arange(total) / max(1, total - 1)
    after_title = np.zeros(total)
    at_title = np.zeros(total)
    if title_at is not None:
        after_title[title_at + 1 :] = 1.0
        at_title[title_at] = 1.0
    columns = [
        position,
        after_title,
        at_title,
        mass / top,
        cumulative,
        np.array(repeated),
        np.array(overlap),
        _window_sum(mine[:, 0], CONTEXT) / reach,
        _window_sum(mine[:, 2], CONTEXT) / reach,
        np.log1p(np.array(runs, dtype=float)),
    ]
    return np.stack(columns, axis=1)


def features(units: Sequence[UnitLike], title_at: int | None) -> np.ndarray:
    """Return one feature row per unit: its own, its place, and its neighbours' own."""
    total = len(units)
    keys, own = [], []
    for unit in units:
        tokens = _WORD.findall(unit.text.lower())
        keys.append(" ".join(tokens))
        own.append(_shape(unit.text, tokens) + _KIND_ROWS.get(unit.kind_name, [0.0] * len(KINDS)))
    mine = np.array(own, dtype=float).reshape(total, OWN_SIZE)
    parts = [mine, _place(units, keys, mine, title_at)]
    for offset in [*range(-CONTEXT, 0), *range(1, CONTEXT + 1)]:
        lent = np.full((total, OWN_SIZE), -1.0)  # -1: no unit there (page edge)
        if abs(offset) >= total:
            pass
        elif offset < 0:
            lent[-offset:] = mine[: total + offset]
        else:
            lent[: total - offset] = mine[offset:]
        parts.append(lent)
    return np.hstack(parts)


# Every tree's nodes in flat arrays; a leaf points to itself, so all trees are walked
# together for ``depth`` steps. ``roots`` indexes each tree's first node.
StoryModel = dict[str, Any]


@cache
def _model() -> StoryModel:
    """The trained trees, as shipped beside this module."""
    loaded: StoryModel = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return as_arrays(loaded)


def as_arrays(model: StoryModel) -> StoryModel:
    """Return ``model`` with its node lists as numpy arrays (converted once, not per page)."""
    kinds: dict[str, Any] = {
        "feature": np.intp,
        "left": np.intp,
        "right": np.intp,
        "roots": np.intp,
    }
    kinds |= {"threshold": float, "value": float}
    return {**model, **{key: np.asarray(model[key], dtype=kind) for key, kind in kinds.items()}}


def tree_logits(model: StoryModel, rows: np.ndarray) -> np.ndarray:
    """Return the summed tree outputs (log-odds of story text) for each row."""
    feature, threshold = model["feature"], model["threshold"]
    left, right, value, roots = model["left"], model["right"], model["value"], model["roots"]
    node = np.broadcast_to(roots, (len(rows), len(roots))).copy()
    at = np.arange(len(rows))[:, None]
    for _ in range(int(model["depth"])):
        goes_left = rows[at, feature[node]] <= threshold[node]
        node = np.where(goes_left, left[node], right[node])
    logits: np.ndarray = float(model["baseline"]) + value[node].sum(axis=1)
    return logits


def story_probabilities(
    units: Sequence[UnitLike], title_at: int | None, model: StoryModel | None = None
) -> list[float]:
    """Return for each unit the model's probability that it is story text."""
    if not units:
        return []
    logits = tree_logits(model or _model(), features(units, title_at))
    probabilities: list[float] = (1.0 / (1.0 + np.exp(-np.clip(logits, -30.0, 30.0)))).tolist()
    return probabilities
