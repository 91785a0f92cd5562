"""A run interrupted where it hurts most, against the real demo: Ctrl-C during the load stage,
SIGTERM (a cancelled CI job) during the watch window. Each leaves no process of the run
behind, Locust's forked workers included, and a decision record that says the run was
interrupted and is NO-GO."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from gonogo.demo.deployment import DemoConfig, switch
from tests.interrupted_runs import SuiteProcess, alive, descendants
from tests.test_demo_suite import DEMO_ENV


def _start(demo: DemoConfig, report_dir: Path, *args: str) -> SuiteProcess:
    switch(demo, "blue")
    return SuiteProcess(
        [f"--env={DEMO_ENV}", f"--report-dir={report_dir}", *args],
        {**os.environ, **demo.variables()},
    )


def _interrupted_record(report_dir: Path) -> dict:
    record: dict = json.loads((report_dir / "decision.json").read_text())
    assert record["decision"] == "NO-GO"
    assert record["interrupted"] is True
    assert record["exit_code"] == 2
    return record


@pytest.mark.parametrize(
    ("sent", "named"), [(signal.SIGINT, "Ctrl-C (SIGINT)"), (signal.SIGTERM, "SIGTERM")]
)
def test_a_signal_during_the_load_stage_stops_locust_and_records_it(
    demo: DemoConfig, tmp_path: Path, sent: signal.Signals, named: str
) -> None:
    run = _start(demo, tmp_path, "-m", "load")
    run.wait_for("gonogo load: ", timeout_s=60)
    locust = {pid for pid in run.seen if b"locust" in Path(f"/proc/{pid}/cmdline").read_bytes()}
    assert locust, "the load stage runs Locust in processes of its own"
    run.process.send_signal(sent)
    assert run.finish(timeout_s=30) == 2, run.output[-3000:]
    assert alive(run.seen) == set(), "a process of the run outlived it"
    record = _interrupted_record(tmp_path)
    assert record["reasons"][0] == (
        f"the run was interrupted ({named}) before every check finished"
    )


def test_sigterm_during_the_watch_window_ends_the_run_as_interrupted(
    demo: DemoConfig, tmp_path: Path
) -> None:
    run = _start(demo, tmp_path, "-m", "watch", "--watch=2m")
    run.wait_for("gonogo watch: ", timeout_s=60)
    run.process.send_signal(signal.SIGTERM)
    assert run.finish(timeout_s=30) == 2, run.output[-3000:]
    assert alive(run.seen | descendants(run.process.pid)) == set()
    record = _interrupted_record(tmp_path)
    assert record["reasons"][0] == "the run was interrupted (SIGTERM) before every check finished"
    assert "gonogo: NO-GO for demo" in run.output
