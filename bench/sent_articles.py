"""What recording a sent digest costs on PostgreSQL, by the shape of the sent_articles table.

Each message sent writes its delivery row and one sent_articles row per article it offered (36
here, as in `newsletter bench`). Four shapes, each in a scratch schema that is dropped after:
  base  surrogate id, unique (subscriber, article), three foreign keys (the schema up to 0019)
  nofk  surrogate id, unique pair, no foreign keys
  noid  the pair as primary key, three foreign keys
  lean  the pair as primary key, no foreign keys (the schema from 0020)

    .venv/bin/python bench/sent_articles.py [--deliveries 20000] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import time
import uuid

import psycopg

ARTICLES_PER_MESSAGE = 36
BATCH = 500  # deliveries recorded per transaction, as a sender's batch


def measure(url: str, shape: str, deliveries: int) -> float:
    """Seconds to record ``deliveries`` sent messages with this table shape."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as connection:
        run = connection.execute
        run(f"CREATE SCHEMA {schema}")
        try:
            run(f"SET search_path TO {schema}")
            run("CREATE TABLE sb (id serial PRIMARY KEY, soft int DEFAULT 0)")
            run("CREATE TABLE ar (id serial PRIMARY KEY)")
            run("CREATE TABLE dl (id serial PRIMARY KEY, sb int REFERENCES sb (id), status text)")
            run(f"INSERT INTO sb (soft) SELECT 0 FROM generate_series(1, {deliveries})")
            run("INSERT INTO ar (id) SELECT g FROM generate_series(1, 200) g")
            run(
                f"INSERT INTO dl (sb, status) SELECT g, 'q' FROM generate_series(1, {deliveries}) g"
            )
            keys = shape in ("base", "noid")
            surrogate = shape in ("base", "nofk")

            def ref(table: str) -> str:
                return f"REFERENCES {table} (id)" if keys else ""

            identity = "id serial PRIMARY KEY," if surrogate else ""
            pair = "UNIQUE" if surrogate else "PRIMARY KEY"
            run(
                f"CREATE TABLE sa ({identity} subscriber_id int NOT NULL {ref('sb')}, "
                f"article_id int NOT NULL {ref('ar')}, delivery_id int {ref('dl')}, "
                f"sent_at timestamptz, {pair} (subscriber_id, article_id))"
            )
            run("CREATE INDEX ON sa (article_id)")
            run("ANALYZE")
            started = time.perf_counter()
            for first in range(1, deliveries + 1, BATCH):
                ids = list(range(first, min(first + BATCH, deliveries + 1)))
                people = [i for i in ids for _ in range(ARTICLES_PER_MESSAGE)]
                articles = [(i + k) % 200 + 1 for i in ids for k in range(ARTICLES_PER_MESSAGE)]
                with connection.transaction():
                    run("UPDATE dl SET status = 's' WHERE id = ANY(%s)", [ids])
                    run(
                        "INSERT INTO sa (subscriber_id, article_id, delivery_id, sent_at) "
                        "SELECT s, a, s, now() FROM unnest(%s::int[], %s::int[]) t(s, a) "
                        "ON CONFLICT (subscriber_id, article_id) DO NOTHING",
                        [people, articles],
                    )
            return time.perf_counter() - started
        finally:
            run(f"DROP SCHEMA {schema} CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=20000)
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    for shape in ("base", "nofk", "noid", "lean"):
        seconds = measure(args.url, shape, args.deliveries)
        print(f"{shape:5} {seconds:7.2f} s  {seconds / args.deliveries * 1e6:6.0f} us per message")


if __name__ == "__main__":
    main()
