"""Score the plain-text article reader on the shared article-text pages, with a held-out part.

Usage: python bench/text_extraction.py [DATA_DIR] [--split dev|held-out|all] [--worst N]

Each page goes through what ingest does to a ``.txt`` file (``parse_text_article``, then
sanitising and ``html_to_text``, as ``body_text`` is stored); the predictions are scored by
``../shared/tools/extraction-f1`` itself. One page in five (by a hash of its key, fixed
before development began) is held out: develop on ``dev``, report ``held-out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from newsletter.content.parsed import NoArticleFound  # noqa: E402
from newsletter.content.sanitize import html_to_text, sanitize_html  # noqa: E402
from newsletter.content.textarticle import parse_text_article  # noqa: E402
from newsletter.content.textmodel import StoryModel  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
DEFAULT_DATA = SHARED / "data" / "article-text"
SCORER = SHARED / "tools" / "extraction-f1"


def split_of(key: str) -> str:
    """Return ``held-out`` for one key in five (by SHA-256), ``dev`` for the rest."""
    return "held-out" if hashlib.sha256(key.encode()).digest()[0] % 5 == 0 else "dev"


def extract(text: str, model: StoryModel | None = None) -> str:
    """Return the body text ingest would store for this page ('' when it finds none)."""
    try:
        article = parse_text_article(text, model=model)
    except NoArticleFound:
        return ""
    return html_to_text(sanitize_html(article.body_html))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", choices=["dev", "held-out", "all"], default="dev")
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    keys = sorted(k for k in truth if args.split == "all" or split_of(k) == args.split)
    predicted: dict[str, str] = {}
    cpu: list[float] = []
    for key in keys:
        text = (args.data / "txt" / f"{key}.txt").read_text(encoding="utf-8")
        start = time.process_time()
        predicted[key] = extract(text)
        cpu.append(time.process_time() - start)
    with tempfile.TemporaryDirectory() as tmp:
        truth_path, predicted_path = Path(tmp) / "truth.json", Path(tmp) / "predicted.json"
        truth_path.write_text(json.dumps({k: truth[k] for k in keys}))
        predicted_path.write_text(json.dumps(predicted))
        result = subprocess.run(
            [sys.executable, str(SCORER), str(truth_path), str(predicted_path)],
            capture_output=True,
            text=True,
            check=True,
        )
    print(f"split {args.split}: {len(keys)} pages")
    print(result.stdout.rstrip())
    cpu.sort()
    print(f"CPU per page: median {cpu[len(cpu) // 2] * 1000:.1f} ms, max {cpu[-1] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
