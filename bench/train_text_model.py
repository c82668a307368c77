"""Train the plain-text reader's story model on the development pages; write its weights.

Usage: python bench/train_text_model.py [DATA_DIR] [--folds 5]

Only the ``dev`` split of ``bench/text_extraction.py`` is read (the held-out pages never
are). A unit is labelled story text when most of its word 4-grams (for short units: the
unit as a whole line) appear in the page's hand-marked main text. Two standardised
logistic regressions (scikit-learn, lbfgs, no randomness) are fitted: one over each
unit's own features, one over the first one's scores of the unit and its neighbours.
Their weights go to ``newsletter/ingest/textmodel.json``; running this again gives the
same file. ``--folds`` first reports a cross-validated score within the dev pages
(trained on four fifths, scored on the other fifth, by page), for choosing features
without looking at the held-out pages.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.machinery
import importlib.util
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from text_extraction import DEFAULT_DATA, SCORER, extract, split_of  # noqa: E402

from newsletter.ingest import textarticle  # noqa: E402
from newsletter.ingest.parsed import NoArticleFound  # noqa: E402
from newsletter.ingest.textarticle import analyse  # noqa: E402
from newsletter.ingest.textmodel import MODEL_PATH, context_features, features, linear  # noqa: E402

_TOKEN = re.compile(r"\w+")
Page = tuple[str, list[Any], int, list[list[float]], list[int]]


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


def fit(rows: list[list[float]], labels: list[int], c: float) -> dict[str, list[float]]:
    x, y = np.array(rows), np.array(labels)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    model = LogisticRegression(C=c, max_iter=3000, solver="lbfgs")
    model.fit((x - mean) / scale, y)
    return {
        "coef": [round(float(w), 6) for w in model.coef_[0]],
        "intercept": [round(float(model.intercept_[0]), 6)],
        "mean": [round(float(m), 6) for m in mean],
        "scale": [round(float(s), 6) for s in scale],
    }


def train(pages: list[Page], c: float) -> dict[str, dict[str, list[float]]]:
    rows = [row for page in pages for row in page[3]]
    labels = [y for page in pages for y in page[4]]
    units_stage = fit(rows, labels, c)
    context_rows = []
    for _, units, _, page_rows, _ in pages:
        context_rows += context_features(linear(units_stage, page_rows), units)
    return {"units": units_stage, "context": fit(context_rows, labels, c)}


def _scorer() -> Any:
    loader = importlib.machinery.SourceFileLoader("extraction_f1", str(SCORER))
    spec = importlib.util.spec_from_loader("extraction_f1", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def cross_validate(
    data: Path, truth: dict[str, Any], pages: list[Page], folds: int, c: float
) -> None:
    predicted: dict[str, str] = {}
    for fold in range(folds):

        def in_fold(key: str, fold: int = fold) -> bool:
            return hashlib.sha256(b"fold" + key.encode()).digest()[0] % folds == fold

        model = train([p for p in pages if not in_fold(p[0])], c)
        for key in (k for k in truth if split_of(k) == "dev" and in_fold(k)):
            text = (data / "txt" / f"{key}.txt").read_text(encoding="utf-8")
            predicted[key] = extract(text, model)
    dev_truth = {k: v for k, v in truth.items() if split_of(k) == "dev"}
    f1, precision, recall, _ = _scorer().score(dev_truth, predicted)
    print(f"{folds}-fold within dev: F1 {f1:.3f}  precision {precision:.3f}  recall {recall:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--C", type=float, default=0.3)
    parser.add_argument("--folds", type=int, default=0)
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    pages = load_pages(args.data, truth)
    if args.folds:
        cross_validate(args.data, truth, pages, args.folds, args.C)
    model = train(pages, args.C)
    document = {"trained_on": "shared/data/article-text, dev split (bench/text_extraction.py)"}
    MODEL_PATH.write_text(json.dumps({**document, **model}, indent=1) + "\n", encoding="utf-8")
    units = sum(len(p[4]) for p in pages)
    print(f"{len(pages)} pages, {units} units; threshold {textarticle.STORY_THRESHOLD}")
    print(f"wrote {MODEL_PATH.relative_to(REPO_ROOT)} ({MODEL_PATH.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
