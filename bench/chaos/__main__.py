"""``python -m bench.chaos [--quick] [--only NAME]``: run the campaign and print its table.

Exit code 1 when any scenario shows unexplained duplicates, lost messages or violations,
2 when the harness could not finish a scenario (and none failed), else 0.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from bench.chaos.context import Context, ScenarioFunction
from bench.chaos.scenarios import (
    ledger_write_failure,
    rate_limited,
    second_send_with_retries_pending,
    skewed_clocks,
    slow_relay,
    three_senders_postgres,
    unsubscribe_storm,
)
from bench.chaos.signals import sigint, sigkill_three_times, sigterm
from bench.chaos.tally import LOSS_WINDOW_SECONDS, Row, Verdict, exit_code, format_table, tally
from bench.chaos.trial import HarnessError, NeedsHook, Skipped

SCENARIOS: dict[str, tuple[str, ScenarioFunction]] = {
    "slow-relay": ("sqlite", slow_relay),
    "rate-limited": ("sqlite", rate_limited),
    "sigkill-x3": ("sqlite", sigkill_three_times),
    "sigterm": ("sqlite", sigterm),
    "sigint": ("sqlite", sigint),
    "ledger-write-failure": ("sqlite", ledger_write_failure),
    "unsubscribe-storm": ("sqlite", unsubscribe_storm),
    "second-send": ("sqlite", second_send_with_retries_pending),
    "skewed-clocks": ("postgresql", skewed_clocks),
    "three-senders-pg": ("postgresql", three_senders_postgres),
}


def run_scenario(name: str, context: Context) -> Row:
    """Run one scenario; a missing hook, a missing server or a harness failure is a row too."""
    database, function = SCENARIOS[name]
    started = time.monotonic()
    try:
        observation, note = function(context)
    except NeedsHook as exc:
        return Row(name, database, verdict=Verdict.NEEDS_HOOK, note=str(exc))
    except Skipped as exc:
        return Row(name, database, verdict=Verdict.SKIPPED, note=str(exc))
    except HarnessError as exc:
        return Row(name, database, verdict=Verdict.ERROR, note=f"harness: {exc}")
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others
        traceback.print_exc()
        return Row(name, database, verdict=Verdict.ERROR, note=f"harness: {exc!r}"[:200])
    seconds = time.monotonic() - started
    return tally(name, database, observation, seconds=seconds, note=note)


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the chosen scenarios, print the table, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts (about 2 minutes)")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), metavar="NAME")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, dbs)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="newsletter-chaos-"))
    context = Context(quick=args.quick, folder=folder)
    names = args.only or list(SCENARIOS)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for name in names:
            print(f"chaos: {name} ...", file=sys.stderr, flush=True)
            row = run_scenario(name, context)
            print(f"chaos: {name}: {row.verdict} ({row.seconds:.0f}s)", file=sys.stderr, flush=True)
            rows.append(row)
    finally:
        context.close()
        if args.keep:
            print(f"chaos: work folder kept at {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    mode = "quick" if args.quick else "full"
    print(f"chaos campaign ({mode}, {time.monotonic() - started:.0f} s)")
    print(format_table(rows))
    print(
        f"\nduplicates are explained when a copy was accepted on a connection lost before our "
        f"250 could be acted on (dropped by the server, or the client gone within "
        f"{LOSS_WINDOW_SECONDS * 1000:.0f} ms); violations: unsubscribes honoured >1 s late, "
        f"unclean stops, hangs, a failed ledger write not reported"
    )
    return exit_code(rows)


if __name__ == "__main__":
    sys.exit(main())
