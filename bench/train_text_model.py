"""Train the plain-text reader's story model on the development pages; write its weights.

Usage: python bench/train_text_model.py [DATA_DIR]

Only the ``dev`` split of ``bench/text_extraction.py`` is read (the held-out pages never
are). A unit is labelled story text when most of its word 4-grams (for short units: the
unit as a whole line) appear in the page's hand-marked main text. A standardised logistic
regression (scikit-learn, fixed solver, no randomness) is fitted and its weights written
to ``newsletter/ingest/textmodel.json``: running this again gives the same file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from text_extraction import DEFAULT_DATA, split_of  # noqa: E402

from newsletter.ingest.parsed import NoArticleFound  # noqa: E402
from newsletter.ingest.textarticle import analyse  # noqa: E402
from newsletter.ingest.textmodel import MODEL_PATH, features  # noqa: E402

_TOKEN = re.compile(r"\w+")


def _grams(tokens: list[str], n: int = 4) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def label(unit_text: str, truth_grams: set[tuple[str, ...]], truth_lines: set[str]) -> int:
    """1 when the unit is part of the marked main text."""
    tokens = _TOKEN.findall(unit_text.lower())
    if len(tokens) >= 6:
        grams = _grams(tokens)
        return int(len(grams & truth_grams) / len(grams) >= 0.5)
    return int(" ".join(tokens) in truth_lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--C", type=float, default=0.3)
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    rows: list[list[float]] = []
    labels: list[int] = []
    for key in sorted(k for k in truth if split_of(k) == "dev"):
        text = (args.data / "txt" / f"{key}.txt").read_text(encoding="utf-8")
        body = truth[key]["articleBody"].lower()
        truth_grams = _grams(_TOKEN.findall(body))
        truth_lines = {" ".join(_TOKEN.findall(line)) for line in body.splitlines()}
        try:
            units, title_at = analyse(text)
        except NoArticleFound:
            continue
        for unit, row in zip(units, features(units, title_at), strict=True):
            rows.append(row)
            labels.append(label(unit.text, truth_grams, truth_lines))
    x, y = np.array(rows), np.array(labels)
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    model = LogisticRegression(C=args.C, max_iter=2000, solver="lbfgs")
    model.fit((x - scaler.mean_) / scale, y)
    weights = {
        "trained_on": "shared/data/article-text, dev split (bench/text_extraction.py)",
        "units": len(y),
        "story_share": round(float(y.mean()), 4),
        "coef": [round(float(w), 6) for w in model.coef_[0]],
        "intercept": round(float(model.intercept_[0]), 6),
        "mean": [round(float(m), 6) for m in scaler.mean_],
        "scale": [round(float(s), 6) for s in scale],
    }
    MODEL_PATH.write_text(json.dumps(weights, indent=1) + "\n", encoding="utf-8")
    accuracy = model.score((x - scaler.mean_) / scale, y)
    print(f"{len(y)} units ({y.mean():.1%} story), training accuracy {accuracy:.3f}")
    print(f"wrote {MODEL_PATH.relative_to(REPO_ROOT)} ({MODEL_PATH.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
