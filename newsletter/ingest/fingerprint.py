"""Recognise the same story arriving through two feeds: fingerprints and near-duplicates."""

from __future__ import annotations

import hashlib
import re
import unicodedata

BODY_PREFIX = 1000  # characters of body compared; feeds differ most further down
SHINGLE_SIZE = 3  # words per shingle
SIMILARITY_THRESHOLD = 0.8
FINGERPRINT_WORDS = 60  # body words hashed into the exact fingerprint

_WORD = re.compile(r"[^\W_]+")


def normalise_words(text: str) -> list[str]:
    """Return the words of ``text``: case-folded, accents and punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Curly and straight apostrophes join a word ("it's" and "it’s" give "its").
    bare = re.sub(r"(?<=\w)['’](?=\w)", "", bare)
    return _WORD.findall(bare.casefold())


def story_fingerprint(title: str, body_text: str) -> str:
    """Return a stable hex digest of the normalised title and start of the body."""
    words = normalise_words(title) + ["\x00"] + normalise_words(body_text)[:FINGERPRINT_WORDS]
    return hashlib.sha256(" ".join(words).encode("utf-8")).hexdigest()


def shingles(words: list[str], size: int = SHINGLE_SIZE) -> set[tuple[str, ...]]:
    """Return the set of ``size``-word shingles (the words themselves if fewer)."""
    if len(words) < size:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    """Return the Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def story_similarity(a_title: str, a_text: str, b_title: str, b_text: str) -> float:
    """Return the shingle Jaccard similarity of two stories' titles and body starts."""
    # One feed may carry only a teaser: compare as much body as the shorter one has.
    a_text, b_text = " ".join(a_text.split()), " ".join(b_text.split())
    prefix = min(BODY_PREFIX, len(a_text), len(b_text))
    a_words = normalise_words(a_title) + normalise_words(_head(a_text, prefix))
    b_words = normalise_words(b_title) + normalise_words(_head(b_text, prefix))
    return jaccard(shingles(a_words), shingles(b_words))


def similar_stories(
    a_title: str,
    a_text: str,
    b_title: str,
    b_text: str,
    *,
    threshold: float = SIMILARITY_THRESHOLD,
) -> bool:
    """Return whether two stories are near-identical in title and body."""
    return story_similarity(a_title, a_text, b_title, b_text) >= threshold


def _head(text: str, length: int) -> str:
    """Return the first ``length`` characters of normalised ``text``, no word cut."""
    if len(text) <= length:
        return text
    head = text[:length]
    # A word cut in half would give each side a shingle the other lacks.
    return head.rsplit(" ", 1)[0] if not text[length].isspace() and " " in head else head
