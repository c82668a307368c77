"""Benchmark: import a generated CSV (1% invalid rows) into a fresh SQLite database, twice.

    python bench/import_bench.py [--rows 100000] [--database-url URL]

Prints the wall-clock and CPU seconds of the first import (everything added) and of the
re-import (everything unchanged), and the peak resident memory of the process. CPU seconds
hardly change when the machine is busy; wall-clock seconds do. Rows are imported with --confirmed
semantics (no confirmation emails), as an admin migrating a list would.
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from newsletter.db import make_engine, session_scope, upgrade  # noqa: E402
from newsletter.models import Topic  # noqa: E402
from subscribers import service  # noqa: E402
from subscribers.importer import ImportReport, import_csv  # noqa: E402

TOPICS = ["tech", "science", "world", "business", "sport"]
ZONES = ["UTC", "Europe/London", "Europe/Paris", "America/New_York", "Asia/Tokyo"]
DOMAINS = [f"mail{n}.example.com" for n in range(200)] + ["straße.de", "Example.ORG"]


def write_csv(path: Path, rows: int, seed: int = 7) -> int:
    """Write ``rows`` rows, 1% of them invalid; returns how many are invalid."""
    rng = random.Random(seed)
    invalid = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "name", "topics", "cadence", "timezone", "send_hour", "plan"])
        for n in range(rows):
            email = f" User.{n}+news@{rng.choice(DOMAINS)} "
            if n % 100 == 99:
                email = rng.choice([f"user{n}-at-example.com", f"user{n}@", f"a..{n}@x.com"])
                invalid += 1
            writer.writerow(
                [
                    email,
                    f"User {n}",
                    ";".join(rng.sample(TOPICS, rng.randint(1, 3))),
                    rng.choice(["daily", "weekly"]),
                    rng.choice(ZONES),
                    rng.randint(0, 23),
                    rng.choice(["free", "paid"]),
                ]
            )
    return invalid


def run_import(url: str, path: Path, now: datetime) -> tuple[float, float, ImportReport]:
    """Import the file once; returns wall-clock seconds, CPU seconds and the report."""
    engine = make_engine(url)
    start = time.perf_counter()
    cpu = time.process_time()
    with session_scope(engine) as session:
        report = import_csv(
            session,
            path=path,
            mailing_list=service.get_list(session, slug="bench"),
            now=now,
            confirmed=True,
            secret=b"bench-secret-0123456789",
            rejects_path=path.with_name("rejects.csv"),
        )
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    engine.dispose()
    return elapsed, cpu, report


def main() -> None:
    """Generate, import twice, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "subscribers.csv"
        invalid = write_csv(path, args.rows)
        url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        with session_scope(engine) as session:
            for topic in TOPICS:
                session.add(Topic(slug=topic, name=topic.title()))
            service.create_list(
                session,
                slug="bench",
                name="Bench",
                from_name="Bench",
                from_address="bench@example.org",
                topics=TOPICS,
            )
        engine.dispose()
        size_mb = path.stat().st_size / 1e6
        print(f"{args.rows} rows ({invalid} invalid), {size_mb:.1f} MB")
        first, first_cpu, report = run_import(url, path, now)
        print(f"first import: {first:.2f} s ({first_cpu:.2f} s CPU; {report.summary})")
        second, second_cpu, again = run_import(url, path, now)
        print(f"re-import:    {second:.2f} s ({second_cpu:.2f} s CPU; {again.summary})")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak:.0f} MB")


if __name__ == "__main__":
    main()
