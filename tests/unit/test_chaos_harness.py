"""The chaos harness's own counting (bench/chaos/tally.py): duplicates explained or not, lost
versus pending, late unsubscribes, verdicts, the table and the exit code."""

from __future__ import annotations

from bench.chaos.tally import (
    Copy,
    Observation,
    Row,
    Verdict,
    exit_code,
    explained_copies,
    format_table,
    ledger_by_address,
    tally,
)

PEOPLE = ["a@x.org", "b@x.org", "c@x.org", "d@x.org"]


def _copy(who: str, at: float, *, connection: int = 1, dropped: bool = False) -> Copy:
    return Copy(who, connection, handed_at=at - 0.01, accepted_at=at, dropped_before_reply=dropped)


def _sent(*people: str) -> dict[str, set[str]]:
    return {person: {"sent"} for person in people}


def test_one_copy_each_is_a_pass() -> None:
    copies = [_copy(p, float(i)) for i, p in enumerate(PEOPLE)]
    row = tally("s", "sqlite", Observation(PEOPLE, copies, _sent(*PEOPLE)))
    assert (row.subscribers, row.once, row.dup_explained, row.dup_unexplained) == (4, 4, 0, 0)
    assert (row.lost, row.pending, row.violations, row.verdict) == (0, 0, 0, Verdict.PASS)


def test_a_copy_dropped_before_the_reply_explains_one_extra_copy_only() -> None:
    copies = [
        _copy("a@x.org", 1.0, dropped=True),
        _copy("a@x.org", 2.0),
        _copy("b@x.org", 1.0, dropped=True),
        _copy("b@x.org", 2.0),
        _copy("b@x.org", 3.0),
        *(_copy(p, 1.0) for p in PEOPLE[2:]),
    ]
    row = tally("s", "sqlite", Observation(PEOPLE, copies, _sent(*PEOPLE)))
    assert row.once == 2
    assert row.dup_explained == 2  # one for a, one for b
    assert row.dup_unexplained == 1  # b's third copy
    assert row.verdict is Verdict.FAIL


def test_a_client_lost_within_the_window_explains_the_copy_outside_it_does_not() -> None:
    copies = [_copy("a@x.org", 10.0, connection=7), _copy("b@x.org", 10.0, connection=8)]
    explained = explained_copies(copies, {7: 10.05, 8: 10.5}, window=0.15)
    assert explained == {"a@x.org": 1}
    # a connection lost *before* the acceptance explains nothing
    assert explained_copies(copies, {7: 9.0}, window=0.15) == {}


def test_killed_client_duplicates_split_by_the_window() -> None:
    copies = [
        _copy("a@x.org", 10.0, connection=1),  # accepted 50 ms before the kill
        _copy("a@x.org", 20.0, connection=2),  # sent again after the resume
        _copy("b@x.org", 9.0, connection=1),  # accepted 1 s before the kill: should be recorded
        _copy("b@x.org", 20.0, connection=2),
        _copy("c@x.org", 20.0, connection=2),
        _copy("d@x.org", 20.0, connection=2),
    ]
    observation = Observation(PEOPLE, copies, _sent(*PEOPLE), lost_connections={1: 10.05})
    row = tally("kill", "sqlite", observation)
    assert (row.dup_explained, row.dup_unexplained) == (1, 1)


def test_nobody_reached_is_pending_with_an_open_row_and_lost_otherwise() -> None:
    copies = [_copy("a@x.org", 1.0)]
    ledger = {
        "a@x.org": {"sent"},
        "b@x.org": {"deferred"},  # a later pass retries it
        "c@x.org": {"sent"},  # the ledger says sent, the server never saw it
        # d has no row at all: planning missed them
    }
    row = tally("s", "sqlite", Observation(PEOPLE, copies, ledger))
    assert (row.once, row.pending, row.lost) == (1, 1, 2)
    assert row.verdict is Verdict.FAIL


def test_an_open_row_in_any_run_keeps_a_person_pending() -> None:
    ledger = ledger_by_address([("a@x.org", "skipped"), ("a@x.org", "sending")])
    row = tally("s", "sqlite", Observation(["a@x.org"], [], ledger))
    assert (row.pending, row.lost) == (1, 0)


def test_unsubscribed_people_are_not_lost_and_late_copies_are_violations() -> None:
    copies = [
        _copy("a@x.org", 5.0),  # handed over 0.5 s after unsubscribing: within the grace
        _copy("b@x.org", 8.0),  # handed over 3.5 s after: a violation
        _copy("d@x.org", 1.0),
    ]
    unsubscribed = {"a@x.org": 4.5, "b@x.org": 4.5, "c@x.org": 4.5}
    observation = Observation(
        PEOPLE, copies, _sent("a@x.org", "b@x.org", "d@x.org"), {}, unsubscribed
    )
    row = tally("storm", "sqlite", observation, grace=1.0)
    assert row.lost == 0  # c unsubscribed and got nothing: as it should be
    assert row.violations == 1
    assert "1 sent >1s after unsubscribing" in row.note
    assert row.verdict is Verdict.FAIL


def test_violations_reported_by_the_scenario_fail_it() -> None:
    copies = [_copy(p, 1.0) for p in PEOPLE]
    observation = Observation(PEOPLE, copies, _sent(*PEOPLE), violations=("exit -15, expected 0",))
    row = tally("sigterm", "sqlite", observation, note="stopped after 0.0s")
    assert row.violations == 1
    assert row.note == "stopped after 0.0s; exit -15, expected 0"
    assert row.verdict is Verdict.FAIL


def test_exit_code_and_table() -> None:
    passing = Row("a", "sqlite", 4, 4)
    hook = Row("b", "sqlite", verdict=Verdict.NEEDS_HOOK, note="needs a clock override")
    broken = Row("c", "postgresql", verdict=Verdict.ERROR, note="harness: no run")
    failing = Row("d", "sqlite", 4, 2, dup_unexplained=2, verdict=Verdict.FAIL)
    assert exit_code([passing, hook]) == 0
    assert exit_code([passing, broken]) == 2
    assert exit_code([passing, broken, failing]) == 1
    table = format_table([passing, hook, failing])
    lines = table.splitlines()
    assert lines[0].split() == [
        "scenario", "db", "subs", "once", "dup", "expl", "dup", "unexpl", "lost", "pending",
        "viol", "secs", "result",
    ]  # fmt: skip
    assert lines[2].split()[:4] == ["a", "sqlite", "4", "4"]
    assert lines[4].split()[-1] == "FAIL"
    assert "  b: needs a clock override" in lines
