"""The stored topic model: load it for ingest, train it on stored articles or a CSV, score it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session, col, select

from newsletter.config import Settings
from newsletter.content.tagging import Tagging, classifier_text
from newsletter.errors import TopicModelError
from newsletter.models import Article, ArticleTopic, TopicOrigin

if TYPE_CHECKING:  # scikit-learn takes seconds to import: only when a model is used
    from newsletter.content.classifier import Evaluation, TopicModel

# Topics the classifier gave are not evidence: training on them would feed its own guesses back.
TRAINING_ORIGINS = (TopicOrigin.FEED, TopicOrigin.CATEGORY, TopicOrigin.MANUAL)


@dataclass(frozen=True)
class TrainingReport:
    """What a training run used and where the model went."""

    path: Path
    examples: int
    per_topic: dict[str, int]


def load_tagging(settings: Settings) -> Tagging:
    """Category map, threshold and the model file if there is one (none: no classifier)."""
    path = settings.content.topic_model_file
    model = None
    if path.exists():
        from newsletter.content.classifier import load_model

        try:
            model = load_model(path)
        except ValueError as exc:
            raise TopicModelError(
                f"NEWSLETTER_TOPIC_MODEL_PATH: {exc} (retrain with: newsletter topics train)"
            ) from exc
    return Tagging(
        category_map=settings.content.category_map,
        model=model,
        threshold=settings.content.classifier_threshold,
    )


def stored_examples(session: Session) -> tuple[list[str], list[str]]:
    """Texts and labels of stored articles whose topics did not come from the classifier."""
    rows = session.exec(
        select(Article.title, Article.summary, Article.body_text, ArticleTopic.topic)
        .join(ArticleTopic, col(ArticleTopic.article_id) == col(Article.id))
        .where(col(ArticleTopic.origin).in_([str(origin) for origin in TRAINING_ORIGINS]))
        .order_by(col(Article.id), col(ArticleTopic.topic))
    )
    texts: list[str] = []
    labels: list[str] = []
    for title, summary, body_text, topic in rows:
        # An article with several topics is one example per topic.
        texts.append(classifier_text(title, body_text, summary))
        labels.append(topic)
    return texts, labels


def read_csv(path: Path) -> tuple[list[str], list[str]]:
    """Read a labelled CSV, turning its problems into one-line errors."""
    if not path.is_file():
        raise TopicModelError(f"{path}: no such file")
    from newsletter.content.classifier import read_labelled_csv

    try:
        return read_labelled_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TopicModelError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from exc


def train(texts: list[str], labels: list[str], *, path: Path) -> TrainingReport:
    """Train on ``texts`` and save the model to ``path`` (written whole, then renamed)."""
    from newsletter.content.classifier import train_classifier

    try:
        model = train_classifier(texts, labels)
    except ValueError as exc:
        raise TopicModelError(f"cannot train: {exc}") from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    model.save(partial)
    partial.replace(path)
    return TrainingReport(path=path, examples=len(texts), per_topic=dict(Counter(labels)))


def current_model(settings: Settings) -> TopicModel:
    """The saved model, or a clear error saying how to make one."""
    tagging = load_tagging(settings)
    if tagging.model is None:
        path = settings.content.topic_model_file
        raise TopicModelError(f"no topic model at {path} (train one: newsletter topics train)")
    return tagging.model


def evaluate_csv(settings: Settings, path: Path) -> Evaluation:
    """Score the current model on a labelled CSV."""
    from newsletter.content.classifier import evaluate

    texts, labels = read_csv(path)
    if not texts:
        raise TopicModelError(f"{path}: no labelled rows")
    model = current_model(settings)
    return evaluate(model, texts, labels)
