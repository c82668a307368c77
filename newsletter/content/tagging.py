"""Which topics an article gets from its categories and from the classifier (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # scikit-learn takes seconds to import: only when a model is used
    from newsletter.content.classifier import TopicModel

DEFAULT_CLASSIFIER_THRESHOLD = 0.6


@dataclass(frozen=True)
class Tagging:
    """How ingest tags articles beyond the topics it is given."""

    category_map: Mapping[str, str] = field(default_factory=dict)  # keys case-folded
    model: TopicModel | None = None
    threshold: float = DEFAULT_CLASSIFIER_THRESHOLD


def topics_from_categories(
    categories: Iterable[str], category_map: Mapping[str, str], known: set[str]
) -> list[str]:
    """Return the existing topics the categories map to; a category naming a topic counts too."""
    found: list[str] = []
    for category in categories:
        key = " ".join(category.split()).casefold()
        topic = category_map.get(key) or (key if key in known else None)
        if topic and topic in known and topic not in found:
            found.append(topic)
    return found


def topics_from_classifier(
    model: TopicModel,
    text: str,
    *,
    threshold: float,
    known: set[str],
    language: str | None = None,
) -> list[tuple[str, float]]:
    """Return the existing topics the model is confident about, best first.

    ``language`` is the article's: none when the model was not trained on that language.
    """
    from newsletter.content.classifier import suggest_topics

    return [
        (topic, confidence)
        for topic, confidence in suggest_topics(model, text, threshold, language=language)
        if topic in known
    ]


def classifier_text(title: str, body_text: str, summary: str = "") -> str:
    """Return the text the classifier sees for an article."""
    return "\n".join(part for part in (title, summary, body_text) if part)
