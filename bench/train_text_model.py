"""Train the plain-text reader's story model on the development pages; write its weights.

Usage: python bench/train_text_model.py [DATA_DIR] [--folds 5] [--grid]

Only the ``dev`` split of ``bench/text_extraction.py`` is read (the held-out pages never
are). A unit is labelled story text when most of its word 4-grams (for short units: the
unit as a whole line) appear in the page's hand-marked main text. Gradient-boosted trees
(scikit-learn's HistGradientBoostingClassifier, no early stopping, fixed seed) are fitted
over each unit's features and those of its neighbours; their nodes go to
``newsletter/content/textmodel.json``, and running this again gives the same file.
``--folds`` first reports a cross-validated score within the dev pages (trained on four
fifths, scored on the other fifth, by page), for choosing features and settings without
looking at the held-out pages; ``--grid`` does so for each of the tree settings in
``GRID`` (the shipped ones are ``PARAMS``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

# One OpenMP thread: the trees come out the same, and on a shared 2-core machine training
# takes 15 s instead of 40 to 90 s (threads spinning while waiting for a busy core).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from text_extraction import DEFAULT_DATA, extract, load_scorer, split_of  # noqa: E402

from newsletter.content import textarticle  # noqa: E402
from newsletter.content.parsed import NoArticleFound  # noqa: E402
from newsletter.content.textarticle import analyse  # noqa: E402
from newsletter.content.textmodel import MODEL_PATH, as_arrays, features, tree_logits  # noqa: E402

_TOKEN = re.compile(r"\w+")
Page = tuple[str, list[Any], int, np.ndarray, list[int]]


def _grams(tokens: list[str], n: int = 4) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def label(unit_text: str, truth_grams: set[tuple[str, ...]], truth_lines: set[str]) -> int:
    """1 when the unit is part of the marked main text."""
    tokens = _TOKEN.findall(unit_text.lower())
    if len(tokens) >= 6:
        grams = _grams(tokens)
        return int(len(grams & truth_grams) / len(grams) >= 0.5)
    return int(" ".join(tokens) in truth_lines)


def load_pages(data: Path, truth: dict[str, Any]) -> list[Page]:
    pages = []
    for key in sorted(k for k in truth if split_of(k) == "dev"):
        text = (data / "txt" / f"{key}.txt").read_text(encoding="utf-8")
        body = truth[key]["articleBody"].lower()
        grams = _grams(_TOKEN.findall(body))
        lines = {" ".join(_TOKEN.findall(line)) for line in body.splitlines()}
        try:
            units, title_at = analyse(text)
        except NoArticleFound:
            continue
        labels = [label(u.text, grams, lines) for u in units]
        pages.append((key, units, title_at, features(units, title_at), labels))
    return pages


# The shipped settings, chosen among GRID by ``--grid`` (5-fold cross-validation within dev).
PARAMS: dict[str, Any] = {
    "max_iter": 150,
    "max_depth": 5,
    "max_leaf_nodes": 16,
    "learning_rate": 0.1,
}
GRID: list[dict[str, Any]] = [
    PARAMS,
    {**PARAMS, "max_iter": 300, "learning_rate": 0.05, "l2_regularization": 1.0},
]


def fit(
    rows: np.ndarray, labels: list[int], params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fit the trees and return them as flat node arrays (see ``textmodel.tree_logits``)."""
    settings = params or PARAMS
    model = HistGradientBoostingClassifier(**settings, early_stopping=False, random_state=0)
    model.fit(rows, np.array(labels))
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []
    roots: list[int] = []
    for (tree,) in model._predictors:
        base = len(feature)
        roots.append(base)
        for node in tree.nodes:
            if node["is_leaf"]:
                here = len(feature)
                feature.append(0)
                threshold.append(float("inf"))
                left.append(here)
                right.append(here)
            else:
                feature.append(int(node["feature_idx"]))
                threshold.append(float(node["num_threshold"]))
                left.append(base + int(node["left"]))
                right.append(base + int(node["right"]))
            value.append(round(float(node["value"]), 6) if node["is_leaf"] else 0.0)
    exported = {
        "depth": int(settings["max_depth"]),
        "baseline": float(model._baseline_prediction.ravel()[0]),
        "roots": roots,
        "feature": feature,
        # JSON has no infinity: a leaf's threshold is written as a huge number.
        "threshold": [t if t != float("inf") else 1e300 for t in threshold],
        "left": left,
        "right": right,
        "value": value,
    }
    # The flat walk must give what scikit-learn gives (up to rounding of leaf values).
    mine = tree_logits(as_arrays(exported), rows[:2000])
    theirs = model.decision_function(rows[:2000])
    assert np.abs(mine - theirs).max() < 1e-3, np.abs(mine - theirs).max()
    return exported


def train(pages: list[Page], params: dict[str, Any] | None = None) -> dict[str, Any]:
    rows = np.vstack([page[3] for page in pages])
    labels = [y for page in pages for y in page[4]]
    return fit(rows, labels, params)


SHARES = (0.1, 0.2, 0.3, 0.5)  # other shares of the continuation rule cross-validated
# Other settings of the main block cross-validated: (BLOCK_OUTSIDE, BLOCK_INSIDE).
BLOCKS = ((0.8, 0.2), (0.9, 0.35), (1.01, 0.2), (0.9, 0.0))


def cross_validate(
    data: Path,
    truth: dict[str, Any],
    pages: list[Page],
    folds: int,
    params: dict[str, Any] | None = None,
    variants: dict[str, dict[str, float]] | None = None,
) -> None:
    """Print the F1 of each way of reading (``variants``) with trees trained on other folds."""
    # Ways of combining the rules with the model, scored on the same folds.
    variants = variants or {
        "shipped": {},
        "before: no main block": {"BLOCK_OUTSIDE": None},
        "no main block, no continuation": {"BLOCK_OUTSIDE": None, "CONTINUE_FLOOR": None},
        "main block, no continuation": {"CONTINUE_FLOOR": None},
        **{
            f"main block: {outside} outside, {inside} inside": {
                "BLOCK_OUTSIDE": outside,
                "BLOCK_INSIDE": inside,
            }
            for outside, inside in BLOCKS
        },
        **{
            f"a doubted paragraph continues the story ({share:.0%} of its words)": {
                "CONTINUE_SHARE": share
            }
            for share in SHARES
        },
    }
    predicted: dict[str, dict[str, str]] = {name: {} for name in variants}
    names = {name for settings in variants.values() for name in settings}
    shipped = {name: getattr(textarticle, name) for name in names}

    def fold_of(key: str) -> int:
        return hashlib.sha256(b"fold" + key.encode()).digest()[0] % folds

    for fold in range(folds):
        model = as_arrays(train([p for p in pages if fold_of(p[0]) != fold], params))
        for key in (k for k in truth if split_of(k) == "dev" and fold_of(k) == fold):
            text = (data / "txt" / f"{key}.txt").read_text(encoding="utf-8")
            for name, settings in variants.items():
                for setting, value in {**shipped, **settings}.items():
                    setattr(textarticle, setting, value)
                predicted[name][key] = extract(text, model)
            for setting, value in shipped.items():
                setattr(textarticle, setting, value)
    dev_truth = {k: v for k, v in truth.items() if split_of(k) == "dev"}
    scorer = load_scorer()
    for name in variants:
        f1, precision, recall, _ = scorer.score(dev_truth, predicted[name])
        # The F1 of each fold's pages on its own, to see whether a change helps everywhere.
        per_fold = [
            scorer.score(
                {k: v for k, v in dev_truth.items() if fold_of(k) == fold}, predicted[name]
            )[0]
            for fold in range(folds)
        ]
        print(
            f"{folds}-fold within dev, {name}: "
            f"F1 {f1:.4f}  precision {precision:.4f}  recall {recall:.4f}  "
            f"(folds {' '.join(f'{x:.4f}' for x in per_fold)})",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=0)
    parser.add_argument(
        "--grid", action="store_true", help="cross-validate each of GRID's settings first"
    )
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    pages = load_pages(args.data, truth)
    if args.grid:
        for params in GRID:
            print(json.dumps(params), flush=True)
            cross_validate(args.data, truth, pages, args.folds or 5, params, {"shipped": {}})
    if args.folds:
        cross_validate(args.data, truth, pages, args.folds)
    model = train(pages)
    document = {"trained_on": "shared/data/article-text, dev split (bench/text_extraction.py)"}
    MODEL_PATH.write_text(
        json.dumps({**document, **model}, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    units = sum(len(p[4]) for p in pages)
    print(f"{len(pages)} pages, {units} units; threshold {textarticle.STORY_THRESHOLD}")
    print(f"wrote {MODEL_PATH.relative_to(REPO_ROOT)} ({MODEL_PATH.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
