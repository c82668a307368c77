"""Score the plain-text article reader on the shared article-text pages, with a held-out part.

Usage: python bench/text_extraction.py [DATA_DIR] [--split dev|held-out|all] [--repeat N]

Each page goes through what ingest does to a ``.txt`` file before the database
(``parse_article_file`` and ``clean_draft``: the stored ``body_text``, and the CPU time of
it all after start-up); the predictions are scored by
``../shared/tools/extraction-f1`` itself. One page in five (by a hash of its key, fixed
before development began) is held out: develop on ``dev``, report ``held-out``.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from newsletter.content.articlefile import parse_article_file  # noqa: E402
from newsletter.content.parsed import NoArticleFound  # noqa: E402
from newsletter.content.sanitize import html_to_text, sanitize_html  # noqa: E402
from newsletter.content.store import clean_draft  # noqa: E402
from newsletter.content.textarticle import parse_text_article  # noqa: E402
from newsletter.content.textmodel import StoryModel  # noqa: E402
from newsletter.errors import IngestError  # noqa: E402

SHARED = REPO_ROOT.parent / "shared"
DEFAULT_DATA = SHARED / "data" / "article-text"
SCORER = SHARED / "tools" / "extraction-f1"
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def load_scorer() -> ModuleType:
    """``extraction-f1`` (a script without a ``.py`` suffix) loaded as a module."""
    loader = importlib.machinery.SourceFileLoader("extraction_f1", str(SCORER))
    spec = importlib.util.spec_from_loader("extraction_f1", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


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


def ingest(data: bytes) -> str:
    """Return the body text ingest stores for a ``.txt`` file's bytes ('' when it refuses it).

    This is all the CPU work of ingest before the database: decode, read, sanitise,
    summarise, detect the language, fingerprint.
    """
    try:
        draft = parse_article_file(data, source="page.txt", suffix=".txt")
    except IngestError:
        return ""
    return clean_draft(draft, now=NOW).body_text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--split", choices=["dev", "held-out", "all"], default="dev")
    parser.add_argument(
        "--repeat", type=int, default=1, help="time each page N times and keep the median"
    )
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    keys = sorted(k for k in truth if args.split == "all" or split_of(k) == args.split)
    predicted: dict[str, str] = {}
    cpu: list[tuple[float, str]] = []
    # The first page read by the model loads it and builds the character table: not timed.
    warm_up = "Warm-up\n\n" + "\n\n".join(f"Paragraph {i} of the first page." for i in range(14))
    ingest(warm_up.encode())
    for key in keys:
        data = (args.data / "txt" / f"{key}.txt").read_bytes()
        times = []
        for _ in range(max(1, args.repeat)):
            start = time.process_time()
            predicted[key] = ingest(data)
            times.append(time.process_time() - start)
        cpu.append((sorted(times)[len(times) // 2], key))
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
    median, (most, largest) = cpu[len(cpu) // 2][0], cpu[-1]
    print(
        f"ingest CPU per page after start-up: median {median * 1000:.1f} ms, "
        f"max {most * 1000:.1f} ms ({largest})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
