"""Cross-validate topic classifier variants on the BBC training part only (the held-out 20% unread).

Usage: python bench/classifier_cv.py [path/to/articles.csv] [--folds 5] [--only NAME ...]

The split is the one of ``bench/classifier_eval.py`` (stratified, seed 42); within its 800
training articles each variant is scored by stratified 5-fold cross-validation (seed 0):
macro-F1 of the out-of-fold predictions, and the share of articles whose best topic reaches
the tagging threshold 0.6 (with how many of those are right). The vectorised folds are
built once per feature set and shared by the classifiers that read them.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import hstack
from scipy.special import softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.naive_bayes import ComplementNB
from sklearn.svm import LinearSVC

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from newsletter.content.classifier import CHAR_FEATURES, read_labelled_csv  # noqa: E402

DEFAULT_CSV = REPO_ROOT.parent / "shared" / "data" / "bbc-news" / "articles.csv"
THRESHOLD = 0.6


def _words(ngrams: tuple[int, int] = (1, 2), **extra: Any) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=ngrams, sublinear_tf=True, strip_accents="unicode", lowercase=True, **extra
    )


def _chars(ngrams: tuple[int, int] = (2, 5), **extra: Any) -> TfidfVectorizer:
    settings: dict[str, Any] = {"max_features": CHAR_FEATURES, **extra}
    return TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=ngrams,
        sublinear_tf=True,
        strip_accents="unicode",
        lowercase=True,
        **settings,
    )


# Feature sets: (vectoriser factories, weight of each block).
FEATURES: dict[str, tuple[list[Callable[[], TfidfVectorizer]], list[float]]] = {
    "w12+c25": ([_words, _chars], [1.0, 1.0]),
    "w12": ([_words], [1.0]),
    "w12+c25 chars x0.5": ([_words, _chars], [1.0, 0.5]),
    "w12+c25 words x0.5": ([_words, _chars], [0.5, 1.0]),
    "w12+c36": ([_words, lambda: _chars((3, 6))], [1.0, 1.0]),
    "w13+c25": ([lambda: _words((1, 3)), _chars], [1.0, 1.0]),
    "w12 max_df 0.5+c25": ([lambda: _words(max_df=0.5), _chars], [1.0, 1.0]),
    "w12 min_df 2+c25": ([lambda: _words(min_df=2), _chars], [1.0, 1.0]),
    "w12 min_df 3+c25": ([lambda: _words(min_df=3), _chars], [1.0, 1.0]),
    # The shipped setting for 100 training texts or more (classifier.min_document_frequency).
    "w12+c25 min_df 2": ([lambda: _words(min_df=2), lambda: _chars(min_df=2)], [1.0, 1.0]),
}


class _SoftmaxSVM:
    """A linear SVM whose "probabilities" are a softmax of its decision scores."""

    def __init__(self, svm: LinearSVC) -> None:
        self.svm = svm

    def fit(self, x: Any, y: Any) -> _SoftmaxSVM:
        self.svm.fit(x, y)
        self.classes_ = self.svm.classes_
        return self

    def predict_proba(self, x: Any) -> Any:
        return softmax(self.svm.decision_function(x), axis=1)


def _lr(c: float) -> Callable[[], Any]:
    return lambda: LogisticRegression(C=c, max_iter=2000)


# Classifiers: name -> (factory, feature sets it is tried on).
CLASSIFIERS: dict[str, tuple[Callable[[], Any], list[str]]] = {
    "LR C=100": (_lr(100.0), list(FEATURES)),
    "LR C=30": (_lr(30.0), ["w12+c25 min_df 2"]),
    "LR C=200": (_lr(200.0), ["w12+c25 min_df 2"]),
    "LR C=300": (_lr(300.0), ["w12+c25", "w12+c25 min_df 2"]),
    "LR C=1000": (_lr(1000.0), ["w12+c25", "w12+c25 min_df 2"]),
    "SGD modified-huber": (
        lambda: SGDClassifier(loss="modified_huber", alpha=1e-5, random_state=0, max_iter=50),
        ["w12+c25"],
    ),
    "SVM + isotonic (3-fold)": (
        lambda: CalibratedClassifierCV(LinearSVC(C=1.0), method="isotonic", cv=3),
        ["w12+c25"],
    ),
    "SVM + sigmoid (5-fold)": (
        lambda: CalibratedClassifierCV(LinearSVC(C=1.0), method="sigmoid", cv=5),
        ["w12+c25"],
    ),
    "LR C=100, sigmoid-calibrated (5-fold)": (
        lambda: CalibratedClassifierCV(
            LogisticRegression(C=100.0, max_iter=2000), method="sigmoid", cv=5
        ),
        ["w12+c25"],
    ),
    "linear SVM C=1 (no probabilities: tagged is a softmax of its scores)": (
        lambda: _SoftmaxSVM(LinearSVC(C=1.0)),
        ["w12+c25", "w12+c25 min_df 2"],
    ),
    "complement NB alpha=0.01": (
        lambda: ComplementNB(alpha=0.01),
        ["w12+c25", "w12+c25 min_df 2"],
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="feature sets to try (default: all)")
    parser.add_argument("--classifiers", nargs="*", help="classifiers to try (default: all)")
    args = parser.parse_args()
    texts, labels = read_labelled_csv(args.csv)
    train_texts, _, train_labels, _ = train_test_split(
        texts, labels, test_size=0.2, random_state=42, stratify=labels
    )
    y = np.array(train_labels)
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=0).split(train_texts, y))
    for feature_name in args.only or list(FEATURES):
        factories, weights = FEATURES[feature_name]
        matrices = []
        for train_at, test_at in folds:
            blocks_train, blocks_test = [], []
            for factory, weight in zip(factories, weights, strict=True):
                vectoriser = factory()
                blocks_train.append(
                    vectoriser.fit_transform([train_texts[i] for i in train_at]) * weight
                )
                blocks_test.append(vectoriser.transform([train_texts[i] for i in test_at]) * weight)
            matrices.append((hstack(blocks_train).tocsr(), hstack(blocks_test).tocsr()))
        for name, (factory, feature_sets) in CLASSIFIERS.items():
            if feature_name not in feature_sets or (
                args.classifiers and name not in args.classifiers
            ):
                continue
            predicted = np.empty(len(y), dtype=object)
            best = np.empty(len(y))
            started = time.process_time()
            for (train_at, test_at), (x_train, x_test) in zip(folds, matrices, strict=True):
                model = factory().fit(x_train, y[train_at])
                probabilities = model.predict_proba(x_test)
                predicted[test_at] = model.classes_[probabilities.argmax(axis=1)]
                best[test_at] = probabilities.max(axis=1)
            cpu = time.process_time() - started
            macro = f1_score(y, predicted.astype(str), average="macro")
            sure = best >= THRESHOLD
            right = (predicted[sure] == y[sure]).mean()
            print(
                f"{feature_name:<22} {name:<24} macro-F1 {macro:.4f}  "
                f"errors {(predicted != y).sum():>2}  tagged at {THRESHOLD} {sure.mean():.1%} "
                f"({right:.1%} right)  fit CPU {cpu / len(folds):.1f} s",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
