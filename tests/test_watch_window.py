"""The watch window's counting, Argo Rollouts style: which sequences of measurements fire an
entry, error it out or leave it inconclusive, and that a firing trigger closes the window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gonogo.environment_gate import WatchEntry
from gonogo.watch import Reading, WatchRun, run_watch

S, F, E, I = "success", "failure", "error", "inconclusive"  # noqa: E741


class Clock:
    """Time that moves only when the loop sleeps or a measurement takes `cost_s`."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def watch(
    sequences: dict[str, str], entries: list[WatchEntry], *, ticks: int, cost_s: float = 0.1
) -> tuple[WatchRun, Clock]:
    """Run the window over scripted statuses: "SSFFF" per entry label, one letter per tick."""
    clock = Clock()
    scripts: dict[str, Iterator[str]] = {label: iter(seq) for label, seq in sequences.items()}
    letters = {"S": S, "F": F, "E": E, "I": I}

    def measure(entry: WatchEntry) -> Reading:
        clock.now += cost_s
        status = letters[next(scripts[entry.label])]
        return Reading(status, None, f"{status} at {clock.now:.1f}")  # type: ignore[arg-type]

    run = run_watch(
        entries,
        duration_s=(ticks - 1) * 5.0,
        interval_s=5.0,
        measure=measure,
        clock=clock,
        sleep=clock.sleep,
    )
    return run, clock


def entry(**limits: object) -> WatchEntry:
    return WatchEntry(smoke="health", **limits)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("limits", "sequence", "outcome"),
    [
        ({"consecutive_failures": 3}, "SFFSFFS", "passed"),  # never three in a row
        ({"consecutive_failures": 3}, "SFFF", "fired"),
        ({"consecutive_failures": 3}, "SFFFSS", "fired"),  # once fired, it stays fired
        ({"failure_limit": 2}, "FSFSS", "passed"),  # two failures: not more than 2
        ({"failure_limit": 2}, "FSFSF", "fired"),
        ({}, "SSSSF", "fired"),  # Argo's default failureLimit 0: the first failure fires
        ({}, "SSSSS", "passed"),
        ({"consecutive_failures": 3, "consecutive_error_limit": 2}, "SEEES", "errored"),
        ({"consecutive_failures": 3, "consecutive_error_limit": 2}, "SEESS", "passed"),
        ({"consecutive_failures": 3}, "SSSSI", "inconclusive"),
        ({"consecutive_failures": 3}, "SIISS", "passed"),
    ],
)
def test_limits_decide_the_outcome(limits: dict[str, object], sequence: str, outcome: str) -> None:
    watched = entry(**limits, rollback=False)
    run, _ = watch({watched.label: sequence}, [watched], ticks=len(sequence))
    assert run.entry(watched.label).outcome == outcome


def test_three_in_a_row_names_when_they_failed() -> None:
    watched = entry(consecutive_failures=3)
    run, _ = watch({watched.label: "SFFF"}, [watched], ticks=4)
    result = run.entry(watched.label)
    assert result.fired == "3 failures in a row (at 5.1 s, 10.1 s, 15.1 s)"
    assert result.reason().startswith("fired: 3 failures in a row")
    assert result.reason().endswith("last: failure at 1015.1")


def test_a_firing_trigger_closes_the_window_at_once() -> None:
    trigger = entry(consecutive_failures=2)
    other = WatchEntry(query="error-ratio", consecutive_failures=5)
    run, clock = watch(
        {trigger.label: "SFFSSSSS", other.label: "SSSSSSSS"}, [trigger, other], ticks=8
    )
    assert [len(e.measurements) for e in run.entries] == [3, 3]
    assert run.stopped_early == (
        "smoke-health fired at 10.1 s: a rollback trigger, so the window closed early"
    )
    assert clock.now == pytest.approx(1000 + 10 + 0.2)


def test_an_entry_that_is_not_a_trigger_lets_the_window_run_out() -> None:
    watched = entry(consecutive_failures=2, rollback=False)
    run, _ = watch({watched.label: "FFFF"}, [watched], ticks=4)
    assert len(run.entry(watched.label).measurements) == 4
    assert run.stopped_early is None


def test_ticks_keep_to_the_start_schedule_and_a_slow_one_delays_only_the_next() -> None:
    watched = entry(consecutive_failures=9)
    run, _ = watch({watched.label: "SSSS"}, [watched], ticks=4, cost_s=7.0)
    times = [m.t for m in run.entry(watched.label).measurements]
    # 7 s per measurement on a 5 s interval: each tick starts as soon as the last one ends.
    assert times == [7.0, 14.0, 21.0, 28.0]
    fast, _ = watch({watched.label: "SSSS"}, [watched], ticks=4, cost_s=0.5)
    assert [m.t for m in fast.entry(watched.label).measurements] == [0.5, 5.5, 10.5, 15.5]


def test_the_record_holds_every_measurement() -> None:
    watched = entry(consecutive_failures=3)
    run, _ = watch({watched.label: "SF"}, [watched], ticks=2)
    record = run.to_dict()
    assert record["duration_s"] == 5.0 and record["interval_s"] == 5.0
    [only] = record["entries"]
    assert only["label"] == "smoke-health" and only["kind"] == "smoke"
    assert only["outcome"] == "passed" and only["limits"] == "3 failures in a row"
    assert [m["status"] for m in only["measurements"]] == ["success", "failure"]
    assert only["reason"].startswith("2 measurements, 1 of 2 failed (fires on 3 failures")
