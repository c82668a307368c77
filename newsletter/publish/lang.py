"""The BCP 47 language tag an article's cell carries in email (pure).

``lang`` matters in email: clients pick CJK glyph variants, hyphenation and voices by it. Ingest
stores each article's language (py3langid, ``articles.language``); where the script alone tells
the language (kana means Japanese, Hangul Korean, a long run of Han without kana Chinese, Greek,
Hebrew, Thai) the script wins, as it cannot be fooled by a short text. Otherwise the stored
language is used; with neither, the cell gets no tag rather than a wrong one (it keeps
``dir="auto"`` anyway).
"""

from __future__ import annotations

import re
import unicodedata

_SCRIPTS = (
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("GREEK", "el"),
    ("HEBREW", "he"),
    ("THAI", "th"),
    ("CJK UNIFIED IDEOGRAPH", "zh"),
)
MIN_SHARE = 0.3  # of the letters, so a quoted name does not retag an English headline
MIN_HAN_LETTERS = 20  # Japanese prose this long nearly always has kana
_ISO_639 = re.compile(r"[a-z]{2,3}")


def article_lang(stored: str | None, text: str) -> str:
    """The tag for an article: its script's language, else its stored language, else ``""``."""
    by_script = guess_lang(text)
    if by_script:
        return by_script
    stored = (stored or "").strip().lower()
    return stored if _ISO_639.fullmatch(stored) else ""


def guess_lang(text: str) -> str:
    """``ja``, ``ko``, ``zh``, ``el``, ``he`` or ``th`` when the letters say so, else ``""``."""
    counts: dict[str, int] = {}
    letters = 0
    for char in text[:2000]:
        if not char.isalpha():
            continue
        letters += 1
        name = unicodedata.name(char, "")
        for prefix, tag in _SCRIPTS:
            if name.startswith(prefix):
                counts[tag] = counts.get(tag, 0) + 1
                break
    if not letters:
        return ""
    if counts.get("ja"):  # kana among Han ideographs: Japanese
        counts["ja"] += counts.pop("zh", 0)
    tag, count = max(counts.items(), key=lambda item: item[1], default=("", 0))
    if tag == "zh" and letters < MIN_HAN_LETTERS:
        return ""  # a short all-Han line may well be Japanese: no tag beats a wrong one
    return tag if count / letters >= MIN_SHARE else ""
