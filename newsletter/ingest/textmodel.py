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
_LETTERS = re.compile(r"[^\W\d_]+")
_DIGITS = re.compile(r"\d+")


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
    # Letters and digits counted by regular expression: a third of the CPU of a
    # str.isalpha per character on the largest page (239 KB).
    letters = sum(map(len, _LETTERS.findall(text)))
    digits = sum(map(len, _DIGITS.findall(text)))
    capitals = sum(map(str.isupper, (w[:1] for w in words)))
    return [
        math.log1p(n),
        math.log1p(len(text)),
        1.0 if _SENTENCE_END.search(text) else 0.0,
        sum(map(_STOP_WORDS.__contains__, tokens)) / max(1, len(tokens)),
        capitals / max(1, n),
        digits / chars,
        (chars - letters - digits - text.count(" ")) / chars,
        text.count(",") / max(1, n),
        1.0 if text[:1].islower() else 0.0,
        1.0 if any(sep in text for sep in ("|", "»", "›", "•")) else 0.0,
        1.0 if text.isupper() and n > 0 else 0.0,
        1.0 if text.endswith(":") else 0.0,
        1.0 if n >= 20 else 0.0,
    ]


SHAPE_SIZE = len(_shape("x"))
OWN_SIZE = SHAPE_SIZE + len(KINDS)  # the columns a neighbour lends to a unit's row


def _own(units: Sequence[UnitLike]) -> list[list[float]]:
    """Shape and rule class of each unit."""
    return [_shape(u.text) + [1.0 if u.kind_name == name else 0.0 for name in KINDS] for u in units]


def _place(units: Sequence[UnitLike], own: list[list[float]], title_at: int | None) -> np.ndarray:
    """Where each unit sits: position, prose mass and runs around it, repetition, headline."""
    total = len(units)
    keys = [" ".join(_WORD.findall(u.text.lower())) for u in units]
    prose_words = [
        len(u.text.split()) if u.kind_name == "prose" else 0 for u in units
    ]  # words of prose units, 0 elsewhere
    window = 2 * CONTEXT
    mass = [sum(prose_words[max(0, i - window) : i + window + 1]) for i in range(total)]
    top = max(mass, default=0) or 1
    cumulative, seen = [], 0
    all_words = sum(prose_words) or 1
    for words in prose_words:
        cumulative.append(seen / all_words)
        seen += words
    # Length of the run of sentence-ending prose units each unit belongs to.
    runs = [0] * total
    start = 0
    for i in range(total + 1):
        if i == total or not (own[i][2] and units[i].kind_name == "prose"):
            for j in range(start, i):
                runs[j] = i - start
            start = i + 1
    counts = Counter(keys)
    title_words = set(keys[title_at].split()) if title_at is not None else set()
    rows = []
    for i in range(total):
        unit_words = set(keys[i].split())
        overlap = (
            len(unit_words & title_words) / len(unit_words | title_words) if unit_words else 0.0
        )
        near = own[max(0, i - CONTEXT) : i + CONTEXT + 1]
        rows.append(
            [
                i / max(1, total - 1),
                1.0 if title_at is not None and i > title_at else 0.0,
                1.0 if title_at is not None and i == title_at else 0.0,
                mass[i] / top,
                cumulative[i],
                1.0 if counts[keys[i]] > 1 else 0.0,
                overlap,
                sum(s[0] for s in near) / len(near),
                sum(s[2] for s in near) / len(near),
                math.log1p(runs[i]),
            ]
        )
    return np.array(rows, dtype=float).reshape(total, -1)


def features(units: Sequence[UnitLike], title_at: int | None) -> np.ndarray:
    """Return one feature row per unit: its own, its place, and its neighbours' own."""
    own = _own(units)
    mine = np.array(own, dtype=float).reshape(len(units), OWN_SIZE)
    total = len(units)
    parts = [mine, _place(units, own, title_at)]
    for offset in [*range(-CONTEXT, 0), *range(1, CONTEXT + 1)]:
        lent = np.full((total, OWN_SIZE), -1.0)  # -1: no unit there (page edge)
        if offset < 0:
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
    return [1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, float(z))))) for z in logits]
