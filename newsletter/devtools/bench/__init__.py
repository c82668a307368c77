"""``newsletter bench``: a temporary database, N subscribers, one digest run sent into a sink."""

from newsletter.devtools.bench.run import BenchResult, run_bench

__all__ = ["BenchResult", "run_bench"]
