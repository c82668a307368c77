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
# ASCII letters to lower case, digits and "_" kept, everything else to a space: the words
# of lower-cased ASCII text are then what ``split`` finds (one table lookup a character:
# 4 ms instead of 6 for the 2,070 units of the largest development page).
_ASCII_LOWER_WORDS = str.maketrans(
    {
        chr(code): chr(code).lower() if chr(code).isalnum() or chr(code) == "_" else " "
        for code in range(128)
    }
)
_CLOSERS = "\"'”’)"  # may follow a sentence's last stop
_STOPS = frozenset(".!?…")


class UnitLike(Protocol):
    """What the model reads of a unit."""

    @property
    def text(self) -> str: ...

    @property
    def kind_name(self) -> str: ...


# Character classes of every code point of the Basic Multilingual Plane, as bit flags;
# characters beyond it (emoji, rare scripts) count as "other".
_DIGIT, _ALNUM, _SPACE, _UPPER, _LOWER, _SEPARATOR = 1, 2, 4, 8, 16, 32
_PLANE = 0x10000


@cache
def _char_flags() -> np.ndarray:
    """One byte of flags per BMP code point (built once, about 15 ms)."""
    chars = "".join(map(chr, range(_PLANE)))
    flags = np.zeros(_PLANE, dtype=np.uint8)
    for flag, test in (
        (_DIGIT, str.isdecimal),  # what ``\d`` matches
        (_ALNUM, str.isalnum),  # with "_", what ``\w`` matches
        (_SPACE, str.isspace),  # what str.split() splits on
        (_UPPER, str.isupper),
        (_LOWER, str.islower),
    ):
        flags[np.fromiter(map(test, chars), dtype=bool, count=_PLANE)] |= flag
    flags[[ord(ch) for ch in "|»›•"]] |= _SEPARATOR
    flags[_PLANE - 1] = 0  # U+FFFF stands for every character beyond the plane
    return flags


def _shapes(texts: Sequence[str], tokens: Sequence[list[str]]) -> np.ndarray:
    """Features of each unit on its own (``tokens``: its lower-cased words), one row each.

    Characters are classed for all units at once with numpy (a table lookup per code point)
    rather than with regular expressions per unit: on the largest development page (239 KB,
    2,070 units) 5 ms instead of 25 ms.
    """
    total = len(texts)
    if not total:
        return np.zeros((0, SHAPE_SIZE))
    joined = "\n".join(texts)  # units hold no newline: it separates them and is a space
    codes = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    flags = _char_flags()[np.minimum(codes, _PLANE - 1)]
    lengths = np.fromiter(map(len, texts), dtype=np.intp, count=total)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.intp)
    ends = starts + lengths
    space = (flags & _SPACE) > 0
    word_start = ~space & np.concatenate([[True], space[:-1]])
    upper = (flags & _UPPER) > 0
    # One row per count; each unit's columns run from its start to the next unit's (the
    # newline between them is in no count), summed in one pass.
    marks = np.zeros((8, len(codes) + 1), dtype=bool)
    marks[0, :-1] = word_start
    marks[1, :-1] = (flags & _DIGIT) > 0
    marks[2, :-1] = ((flags & _ALNUM) == 0) & (codes != ord(" ")) & (codes != ord("\n"))
    marks[3, :-1] = word_start & upper
    marks[4, :-1] = upper
    marks[5, :-1] = (flags & _LOWER) > 0
    marks[6, :-1] = codes == ord(",")
    marks[7, :-1] = (flags & _SEPARATOR) > 0
    # The last column stays False: an empty last unit starts there.
    counts = np.add.reduceat(marks, starts, axis=1, dtype=np.int64).astype(float)
    words, digits, others, capitals, uppers, lowers, commas, separators = counts
    nonempty = lengths > 0
    first = np.where(nonempty, np.append(flags, 0)[starts], 0)
    last = np.where(nonempty, np.append(codes, 0)[np.maximum(ends - 1, 0)], 0)
    chars = np.maximum(lengths, 1)
    stops = np.fromiter(
        (sum(map(_STOP_WORDS.__contains__, unit)) / max(1, len(unit)) for unit in tokens),
        dtype=float,
        count=total,
    )
    ends_sentence = np.fromiter(
        (1.0 if text.rstrip(_CLOSERS)[-1:] in _STOPS else 0.0 for text in texts),
        dtype=float,
        count=total,
    )
    columns = [
        # math.log1p, as the trees were trained with: numpy's can differ in the last bit,
        # and a threshold can sit exactly on a value (one word: log1p(1)).
        np.fromiter(map(math.log1p, words.tolist()), dtype=float, count=total),
        np.fromiter(map(math.log1p, lengths.tolist()), dtype=float, count=total),
        ends_sentence,
        stops,
        capitals / np.maximum(words, 1),
        digits / chars,
        others / chars,
        commas / np.maximum(words, 1),
        ((first & _LOWER) > 0).astype(float),
        (separators > 0).astype(float),
        ((uppers > 0) & (lowers == 0) & (words > 0)).astype(float),
        (last == ord(":")).astype(float),
        (words >= 20).astype(float),
    ]
    return np.stack(columns, axis=1).reshape(total, len(columns))


SHAPE_SIZE = 13
OWN_SIZE = SHAPE_SIZE + len(KINDS)  # the columns a neighbour lends to a unit's row
_KIND_INDEX = {name: index for index, name in enumerate(KINDS)}
_KIND_ONE_HOT = np.vstack([np.eye(len(KINDS)), np.zeros(len(KINDS))])


def _window_sum(values: np.ndarray, reach: int) -> np.ndarray:
    """Sum of ``values`` over each position and ``reach`` positions on each side."""
    padded = np.concatenate([[0.0], np.cumsum(values)])
    total = len(values)
    upper = np.minimum(np.arange(total) + reach + 1, total)
    lower = np.maximum(np.arange(total) - reach, 0)
    summed: np.ndarray = padded[upper] - padded[lower]
    return summed


def _runs(inside: np.ndarray) -> np.ndarray:
    """For each position, the length of the run of True values it belongs to (0 outside)."""
    run_id = np.cumsum(~inside)  # constant along a run
    lengths = np.bincount(run_id[inside], minlength=len(inside) + 1)
    runs: np.ndarray = np.where(inside, lengths[run_id], 0)
    return runs


def _place(
    kinds: list[str],
    tokens: list[list[str]],
    keys: list[str],
    mine: np.ndarray,
    title_at: int | None,
) -> np.ndarray:
    """Where each unit sits: position, prose mass and runs around it, repetition, headline."""
    total = len(kinds)
    is_prose = np.array([kind == "prose" for kind in kinds], dtype=bool)
    # Words of prose units (0 elsewhere), from the shape's log1p(word count).
    words = np.rint(np.expm1(mine[:, 0]))
    prose_words = np.where(is_prose, words, 0.0)
    mass = _window_sum(prose_words, 2 * CONTEXT)
    top = mass.max(initial=0.0) or 1.0
    cumulative = (np.cumsum(prose_words) - prose_words) / (prose_words.sum() or 1.0)
    # Length of the run of sentence-ending prose units each unit belongs to.
    runs = _runs(is_prose & (mine[:, 2] > 0))
    counts = Counter(keys)
    repeated = np.array([counts[key] > 1 for key in keys], dtype=float)
    title_words = set(tokens[title_at]) if title_at is not None else set()
    overlap = np.zeros(total)
    if title_words:
        for i, unit in enumerate(tokens):
            if unit and not title_words.isdisjoint(unit):
                unit_words = set(unit)
                overlap[i] = len(unit_words & title_words) / len(unit_words | title_words)
    # Mean length and sentence ends over the unit and CONTEXT units on each side.
    reach = _window_sum(np.ones(total), CONTEXT)
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
        repeated,
        overlap,
        _window_sum(mine[:, 0], CONTEXT) / reach,
        _window_sum(mine[:, 2], CONTEXT) / reach,
        np.log1p(runs.astype(float)),
    ]
    return np.stack(columns, axis=1).reshape(total, len(columns))


def lower_words(text: str) -> list[str]:
    """Return the words (``\\w+``) of ``text`` lower-cased."""
    if text.isascii():
        return text.translate(_ASCII_LOWER_WORDS).split()
    return _WORD.findall(text.lower())


def features(units: Sequence[UnitLike], title_at: int | None) -> np.ndarray:
    """Return one feature row per unit: its own, its place, and its neighbours' own."""
    total = len(units)
    texts = [unit.text for unit in units]
    tokens = [lower_words(text) for text in texts]
    keys = [" ".join(unit) for unit in tokens]
    kinds = [unit.kind_name for unit in units]
    # One-hot rows picked from an identity matrix (its last row, all zero, for no kind).
    kind_rows = _KIND_ONE_HOT[[_KIND_INDEX.get(kind, len(KINDS)) for kind in kinds]]
    mine = np.hstack([_shapes(texts, tokens), kind_rows])
    parts = [mine, _place(kinds, tokens, keys, mine, title_at)]
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
    """Return ``model`` with its node lists as numpy arrays (converted once, not per page).

    ``children`` holds each node's left child at ``2 * node`` and its right child at
    ``2 * node + 1``, so a step of the walk is one lookup rather than a choice of two.
    """
    kinds: dict[str, Any] = {
        "feature": np.intp,
        "left": np.intp,
        "right": np.intp,
        "roots": np.intp,
    }
    kinds |= {"threshold": float, "value": float}
    arrays = {key: np.asarray(model[key], dtype=kind) for key, kind in kinds.items()}
    arrays["children"] = np.stack([arrays["left"], arrays["right"]], axis=1).ravel()
    return {**model, **arrays}


# Rows walked together: the walk's arrays (rows x trees) then stay in the processor's
# cache; on the largest development page (2,070 units) 7 ms instead of 10.6 for all at once.
TREE_ROWS = 128


def tree_logits(model: StoryModel, rows: np.ndarray) -> np.ndarray:
    """Return the summed tree outputs (log-odds of story text) for each row."""
    rows = np.ascontiguousarray(rows, dtype=float)
    if len(rows) <= TREE_ROWS:
        return _walk(model, rows)
    return np.concatenate(
        [_walk(model, rows[start : start + TREE_ROWS]) for start in range(0, len(rows), TREE_ROWS)]
    )


def _walk(model: StoryModel, rows: np.ndarray) -> np.ndarray:
    """``tree_logits`` of a C-contiguous block of rows."""
    feature, threshold = model["feature"], model["threshold"]
    children, value, roots = model["children"], model["value"], model["roots"]
    flat = rows.ravel()
    # Each row's offset in ``flat``; a node's feature is added to it.
    offsets = (np.arange(len(rows)) * rows.shape[1])[:, None]
    node = np.broadcast_to(roots, (len(rows), len(roots)))
    # ``take`` rather than indexing: the same gathers, 8% faster.
    for _ in range(int(model["depth"])):
        goes_right = flat.take(offsets + feature.take(node)) > threshold.take(node)
        node = children.take(2 * node + goes_right)
    logits: np.ndarray = float(model["baseline"]) + value.take(node).sum(axis=1)
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
