"""The watch window: after the checks, re-measure a few things every interval and count
failures the way Argo Rollouts' analysis does, so "health fails 3 times in a row" is a rule.

Each measurement is a success, a failure (the target is bad), an error (the measurement
itself failed: Prometheus unreachable) or inconclusive (no data). An entry fires when its
failures reach a limit; it errors out when its errors in a row pass `consecutive_error_limit`.
A firing rollback entry ends the window at once: waiting longer only delays the rollback.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from gonogo.environment_gate import WatchEntry

__all__ = ["EntryWatch", "Measurement", "Reading", "WatchRun", "run_watch"]

Status = Literal["success", "failure", "error", "inconclusive"]
Outcome = Literal["passed", "fired", "errored", "inconclusive"]


@dataclass(frozen=True)
class Reading:
    """What one measurement found, before the loop stamps its time on it."""

    status: Status
    value: float | None
    detail: str


@dataclass(frozen=True)
class Measurement:
    t: float  # seconds since the window opened
    status: Status
    value: float | None
    detail: str


@dataclass
class EntryWatch:
    """One entry's measurements so far, and what they add up to."""

    entry: WatchEntry
    measurements: list[Measurement] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(m.status == "failure" for m in self.measurements)

    def _first_run_of(self, status: Status, length: int) -> list[Measurement] | None:
        """The first `length` measurements in a row with `status`: once an entry has fired or
        errored out it stays so, like an Argo analysis, whatever follows."""
        run: list[Measurement] = []
        for measurement in self.measurements:
            run = [*run, measurement] if measurement.status == status else []
            if len(run) >= length:
                return run
        return None

    @property
    def outcome(self) -> Outcome:
        if self.fired:
            return "fired"
        if self._first_run_of("error", self.entry.consecutive_error_limit + 1):
            return "errored"
        if self.measurements and self.measurements[-1].status == "inconclusive":
            return "inconclusive"
        return "passed"

    @property
    def fired(self) -> str | None:
        """Why the entry fired, or None."""
        entry = self.entry
        if entry.consecutive_failures is not None:
            in_a_row = self._first_run_of("failure", entry.consecutive_failures)
            if in_a_row:
                times = ", ".join(f"{m.t:.1f} s" for m in in_a_row)
                return f"{len(in_a_row)} failures in a row (at {times})"
        limit = entry.failure_limit
        if (limit is not None or entry.consecutive_failures is None) and self.failures > (
            limit or 0
        ):
            return f"{self.failures} failures, more than the limit of {limit or 0}"
        return None

    def reason(self) -> str:
        """The outcome in a sentence, with the last measurement's detail as evidence."""
        last = self.measurements[-1] if self.measurements else None
        evidence = f"; last: {last.detail}" if last else ""
        count = len(self.measurements)
        match self.outcome:
            case "fired":
                return f"fired: {self.fired}{evidence}"
            case "errored":
                limit = self.entry.consecutive_error_limit
                return (
                    f"could not be measured {limit + 1} times in a row, more than "
                    f"consecutive_error_limit {limit}{evidence}"
                )
            case "inconclusive":
                return f"inconclusive: no data at the end of the window{evidence}"
        failures = f"{self.failures} of {count} failed" if self.failures else "none failed"
        return f"{count} measurements, {failures} (fires on {self.entry.limits}){evidence}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.entry.label,
            "kind": "smoke" if self.entry.smoke else "query",
            "outcome": self.outcome,
            "reason": self.reason(),
            "limits": self.entry.limits,
            "measurements": [
                {"t": round(m.t, 3), "status": m.status, "value": m.value, "detail": m.detail}
                for m in self.measurements
            ],
        }


@dataclass
class WatchRun:
    duration_s: float
    interval_s: float
    started_at: datetime
    ended_at: datetime | None = None
    entries: list[EntryWatch] = field(default_factory=list)
    stopped_early: str | None = None

    def entry(self, label: str) -> EntryWatch:
        return next(e for e in self.entries if e.entry.label == label)

    def to_dict(self) -> dict[str, Any]:
        ended = self.ended_at or datetime.now(UTC)
        return {
            "duration_s": self.duration_s,
            "interval_s": self.interval_s,
            "started_at": self.started_at.isoformat(timespec="milliseconds"),
            "ended_at": ended.isoformat(timespec="milliseconds"),
            "stopped_early": self.stopped_early,
            "entries": [entry.to_dict() for entry in self.entries],
        }


def run_watch(
    entries: Sequence[WatchEntry],
    *,
    duration_s: float,
    interval_s: float,
    measure: Callable[[WatchEntry], Reading],
    progress: Callable[[WatchRun], None] = lambda run: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> WatchRun:
    """Measure every entry at 0, interval, 2 x interval ... up to duration; ticks keep to the
    start's schedule, and a measurement slower than the interval delays only the next one."""
    run = WatchRun(duration_s, interval_s, datetime.now(UTC))
    run.entries = [EntryWatch(entry) for entry in entries]
    started = clock()
    ticks = int(duration_s // interval_s) + 1
    try:
        for tick in range(ticks):
            wait = started + tick * interval_s - clock()
            if wait > 0:
                sleep(wait)
            for watched in run.entries:
                reading = measure(watched.entry)
                watched.measurements.append(
                    Measurement(clock() - started, reading.status, reading.value, reading.detail)
                )
            progress(run)
            fired = [w for w in run.entries if w.fired and w.entry.rollback]
            if fired and tick < ticks - 1:
                run.stopped_early = (
                    f"{fired[0].entry.label} fired at {fired[0].measurements[-1].t:.1f} s: "
                    "a rollback trigger, so the window closed early"
                )
                break
    finally:
        run.ended_at = datetime.now(UTC)
    return run
