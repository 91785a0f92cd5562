"""The whole run's time budget (`defaults.max_duration`, `--max-duration`) is enforced: past it
no check starts, a run stuck past the grace period is interrupted, and either way the decision
is NO-GO with the reason in the record. A budget that cannot hold the load run and the watch
window is refused before anything runs."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interrupted_runs import SuiteProcess
from tests.server_kit import Listener
from tests.suite_copy import write_env


def silent_smoke(port: int, budget: str) -> str:
    """Eight smoke checks against `port`, one second of timeout each."""
    lines = [
        "name: silent",
        f"base_url: http://127.0.0.1:{port}",
        f"defaults: {{timeout_s: 1, max_duration: {budget}}}",
        "smoke:",
        *(f"  - {{name: s{n}, request: {{url: /s{n}}}}}" for n in range(8)),
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def silent() -> Iterator[Listener]:
    """Accepts every connection and never answers: each request costs its whole timeout."""
    listener = Listener()
    yield listener
    listener.close()


def _record(report_dir: Path) -> dict:
    record: dict = json.loads((report_dir / "decision.json").read_text())
    return record


def test_checks_past_the_budget_do_not_start_and_the_run_is_no_go(
    silent: Listener, tmp_path: Path
) -> None:
    env_file = tmp_path / "silent.yaml"
    env_file.write_text(silent_smoke(silent.port, "3s"))
    started = time.monotonic()
    run = SuiteProcess([f"--env={env_file}", f"--report-dir={tmp_path / 'r'}"], os.environ)
    code = run.finish(timeout_s=60)
    elapsed = time.monotonic() - started
    record = _record(tmp_path / "r")
    assert code == 1, run.output[-3000:]
    assert record["decision"] == "NO-GO" and not record["interrupted"]
    outcomes = {c["id"]: (c["outcome"], c["message"]) for c in record["checks"]}
    refused = {id for id, (outcome, _) in outcomes.items() if outcome == "error"}
    timed_out = {id for id, (outcome, _) in outcomes.items() if outcome == "failed"}
    assert refused and timed_out and len(refused | timed_out) == 8
    for id in refused:
        assert outcomes[id][1] == (
            "not started: the run's time budget of 3s (defaults.max_duration) was spent"
        )
    assert record["reasons"][0] == (
        f"the run's time budget of 3s (defaults.max_duration) was spent: "
        f"{len(refused)} check(s) did not start"
    )
    assert elapsed < 3 + 1 + 8, "one check past the deadline at most, plus start-up"


def test_the_command_line_budget_wins_over_the_file(silent: Listener, tmp_path: Path) -> None:
    env_file = tmp_path / "silent.yaml"
    env_file.write_text(silent_smoke(silent.port, "10m"))
    run = SuiteProcess(
        [f"--env={env_file}", f"--report-dir={tmp_path}", "--max-duration=2s"], os.environ
    )
    assert run.finish(timeout_s=60) == 1
    assert "time budget of 2s (--max-duration) was spent" in _record(tmp_path)["reasons"][0]


def test_a_generous_budget_changes_nothing(silent: Listener, tmp_path: Path) -> None:
    env_file = tmp_path / "silent.yaml"
    env_file.write_text(silent_smoke(silent.port, "2m"))
    run = SuiteProcess([f"--env={env_file}", f"--report-dir={tmp_path}"], os.environ)
    assert run.finish(timeout_s=60) == 1
    record = _record(tmp_path)
    assert {c["outcome"] for c in record["checks"]} == {"failed"}
    assert not any("budget" in reason for reason in record["reasons"])


STUCK_CHECK = """\
import time


def test_stuck_where_no_timeout_reaches(environment):
    time.sleep(120)
"""


def test_a_run_stuck_past_the_grace_period_is_interrupted(suite: pytest.Pytester) -> None:
    """A check that ignores every timeout (here: a sleep) is cut off grace_s(1 s) = 10 s after
    the deadline, like Ctrl-C: the record says why, and the run is NO-GO."""
    (suite.path / "checks" / "test_stuck.py").write_text(STUCK_CHECK)
    env_file = write_env(suite, "stuck", "name: stuck\ndefaults: {timeout_s: 1}\n")
    started = time.monotonic()
    run = SuiteProcess(
        [f"--env={env_file}", "--max-duration=2s", "checks/test_stuck.py"],
        os.environ,
        cwd=suite.path,
    )
    code = run.finish(timeout_s=60)
    elapsed = time.monotonic() - started
    record = _record(suite.path / "reports")
    assert code == 2, run.output[-3000:]
    assert record["decision"] == "NO-GO" and record["interrupted"]
    assert record["reasons"][0] == (
        "the run was interrupted (the run's time budget of 2s (--max-duration) was spent, and "
        "a check was still running 10s later) before every check finished"
    )
    assert 12 <= elapsed < 25


LOAD_AND_WATCH = """\
name: long
base_url: http://127.0.0.1:9
defaults: {{max_duration: {budget}}}
smoke:
  - {{name: up, request: {{url: /up}}}}
load:
  requests: [{{name: home, path: /}}]
  duration_s: 120
watch:
  duration: 5m
  checks: [{{smoke: up}}]
"""


def test_a_budget_too_short_for_load_and_watch_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "long.yaml"
    env_file.write_text(LOAD_AND_WATCH.format(budget="5m"))
    run = SuiteProcess([f"--env={env_file}", f"--report-dir={tmp_path}"], os.environ)
    assert run.finish(timeout_s=60) == 4
    assert (
        "defaults.max_duration: 5m leaves no time for the checks after the load run (2m) and "
        "the watch window (5m); expected more than 7m"
    ) in run.output
    assert "Traceback" not in run.output
    assert not (tmp_path / "decision.json").exists()

    env_file.write_text(LOAD_AND_WATCH.format(budget="10m"))
    run = SuiteProcess(
        [f"--env={env_file}", f"--report-dir={tmp_path}", "--max-duration=1m", "--watch=30s"],
        os.environ,
    )
    assert run.finish(timeout_s=60) == 4
    assert (
        "gonogo: --max-duration: 1m leaves no time for the checks after the load run (2m) and "
        "the watch window (30s); expected more than 2m30s"
    ) in run.output


def test_the_load_run_does_not_start_when_it_cannot_finish_within_the_budget(
    silent: Listener, tmp_path: Path
) -> None:
    """Eight silent smoke checks spend 8 of the 12 s: the 6 s load run would end past the
    deadline, so it is refused, and no Locust process is started."""
    env_file = tmp_path / "silent.yaml"
    env_file.write_text(
        silent_smoke(silent.port, "12s")
        + "load:\n  requests: [{name: home, path: /}]\n  duration_s: 6\n  kpis: {p95_ms: 500}\n"
    )
    run = SuiteProcess([f"--env={env_file}", f"--report-dir={tmp_path / 'r'}"], os.environ)
    assert run.finish(timeout_s=60) == 1, run.output[-3000:]
    record = _record(tmp_path / "r")
    load = [c for c in record["checks"] if c["area"] == "kpis"]
    assert load and {c["outcome"] for c in load} == {"error"}
    assert load[0]["message"].startswith("not started: the load run takes 6s and ")
    assert "of the run's time budget is left" in load[0]["message"]
    assert not (tmp_path / "r" / "load.json").exists()
