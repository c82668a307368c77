"""The language an article is written in, as an ISO 639-1 code: py3langid over its text.

The model loads once, on first use (about 2 s); a call then costs about 0.2 ms. Text too
short or too mixed to tell gives None rather than a guess.
"""

from __future__ import annotations

from functools import cache
from typing import Any

MIN_CONFIDENCE = 0.5  # below this (normalised probability) the language is unknown
MIN_LETTERS = 12  # "Hello" alone is Breton to the model: too little text is unknown
SAMPLE_CHARS = 2000  # the start of a story tells its language as well as the whole


@cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> str | None:
    """Return the language code of ``text`` (``en``, ``fr``...), or None when unsure."""
    sample = " ".join(text[:SAMPLE_CHARS].split())
    if sum(ch.isalpha() for ch in sample) < MIN_LETTERS:
        return None
    code, confidence = _identifier().classify(sample)
    if confidence < MIN_CONFIDENCE or not isinstance(code, str) or len(code) != 2:
        return None  # "zxx" (no language) and "und" are not languages
    return code
