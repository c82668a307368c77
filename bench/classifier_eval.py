"""Train the topic classifier on 80% of the BBC articles and score it on the other 20%.

Usage: python bench/classifier_eval.py [path/to/articles.csv] [--seed N] [--threshold P]

Also prints the coverage at the confidence threshold: the share of held-out articles the
classifier would tag (its best topic reaches the threshold) and how many of those are right.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sklearn.model_selection import train_test_split

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run as a plain script, the repository root is not on the import path.
sys.path.insert(0, str(REPO_ROOT))

from newsletter.content.classifier import (  # noqa: E402
    Evaluation,
    evaluate,
    read_labelled_csv,
    train_classifier,
)

DEFAULT_CSV = REPO_ROOT.parent / "shared" / "data" / "bbc-news" / "articles.csv"
TARGET_MACRO_F1 = 0.95
THRESHOLDS = (0.5, 0.6, 0.7, 0.8)  # 0.6 is the default of NEWSLETTER_CLASSIFIER_THRESHOLD


def format_report(evaluation: Evaluation) -> str:
    """Return the per-topic scores and macro-F1 as a text table."""
    lines = [f"{'topic':<15}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}"]
    for score in evaluation.per_topic:
        lines.append(
            f"{score.topic:<15}{score.precision:>10.3f}{score.recall:>10.3f}"
            f"{score.f1:>10.3f}{score.support:>9}"
        )
    lines.append(f"{'accuracy':<15}{evaluation.accuracy:>30.3f}{evaluation.support:>9}")
    lines.append(f"{'macro-F1':<15}{evaluation.macro_f1:>30.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Train, evaluate and print; exit 1 when macro-F1 misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--test-size", type=float, default=0.2)
    args = parser.parse_args(argv)
    texts, labels = read_labelled_csv(args.csv)
    train_texts, test_texts, train_labels, test_labels = train_test_split(
        texts, labels, test_size=args.test_size, random_state=args.seed, stratify=labels
    )
    started = time.process_time()
    model = train_classifier(train_texts, train_labels)
    trained = time.process_time() - started
    evaluation = evaluate(model, test_texts, test_labels)
    print(f"{len(train_texts)} training and {len(test_texts)} held-out articles from {args.csv}")
    print(format_report(evaluation))
    started = time.process_time()
    best = [model.predict(text)[0] for text in test_texts]
    per_article = (time.process_time() - started) / len(test_texts)
    for threshold in THRESHOLDS:
        tagged = [
            (topic, label)
            for (topic, p), label in zip(best, test_labels, strict=True)
            if p >= threshold
        ]
        right = sum(topic == label for topic, label in tagged)
        print(
            f"threshold {threshold:.1f}: tagged {len(tagged) / len(best):.1%} of held-out "
            f"articles, {right / max(1, len(tagged)):.1%} of them correctly"
        )
    print(f"CPU: training {trained:.1f} s, {per_article * 1000:.1f} ms per article")
    return 0 if evaluation.macro_f1 >= TARGET_MACRO_F1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
