"""The watch window: after every other check, the watch entries are re-measured every interval;
an entry that fails its limits (3 failures in a row, more than N failures) is a rollback
trigger."""

from __future__ import annotations

import pytest

from gonogo.environment_gate import WatchEntry
from gonogo.plugin import Evidence
from gonogo.watch import WatchRun

pytestmark = pytest.mark.watch


def test_watch_entry_held(watch_entry: WatchEntry, watch_run: WatchRun, evidence: Evidence) -> None:
    watched = watch_run.entry(watch_entry.label)
    outcome = watched.outcome
    evidence(
        measured=f"{watched.failures} of {len(watched.measurements)} measurements failed",
        threshold=f"fires on {watch_entry.limits}",
        detail="; ".join(f"{m.t:.1f} s {m.status}: {m.detail}" for m in watched.measurements[-5:]),
        trigger=watch_entry.rollback and outcome == "fired",
    )
    assert outcome == "passed", f"watch {watch_entry.label}: {watched.reason()}"
