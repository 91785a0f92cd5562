"""The gate against the real demo, its real Prometheus and real traffic: green under traffic
is rolled back and verified, a hook that hangs is killed at its timeout, waivers and webhooks
work end to end, and a query without data is inconclusive, never a silent pass."""

from __future__ import annotations

import itertools
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from gonogo.demo.deployment import DemoConfig, status, switch
from gonogo.demo.traffic import send_traffic
from gonogo.environment_gate import MetricQuery
from gonogo.metric_evaluation import evaluate
from tests.test_demo_suite import DEMO_ENV, run_suite
from tests.webhook_receiver import Receiver

GATE_MARKS = "smoke or metrics or watch"


@contextmanager
def users(demo: DemoConfig) -> Iterator[None]:
    """Traffic through nginx for as long as the block runs (bounded at 5 minutes)."""
    stop = threading.Event()
    thread = threading.Thread(
        target=send_traffic, args=(demo,), kwargs={"duration_s": 300, "stop": stop}, daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)


def error_ratio(demo: DemoConfig) -> MetricQuery:
    document = yaml.safe_load(DEMO_ENV.read_text())
    query = next(q for q in document["metrics"]["queries"] if q["name"] == "error-ratio")
    return MetricQuery.model_validate(query)


def wait_for_error_ratio(demo: DemoConfig, state: str, timeout_s: float = 60) -> None:
    """Until Prometheus judges the 5xx ratio `state`: "breach" once green's 500s have held for
    the whole window, "ok" once an earlier test's 500s have left it.

    A breach counts only once the window holds nothing from before this test's users started:
    an earlier test's green could otherwise look like a breach that is about to end."""
    base_url = f"http://127.0.0.1:{demo.prometheus_port}"
    if state == "breach":
        time.sleep(error_ratio(demo).for_s + 1)
    deadline = time.monotonic() + timeout_s
    while True:
        verdict = evaluate(error_ratio(demo), base_url, now=time.time(), timeout_s=5).verdict
        if verdict.state == state:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"error-ratio not {state} within {timeout_s:g} s: {verdict.detail}")
        time.sleep(1)


def environment_copy(directory: Path, **changes: Any) -> Path:
    """demo.yaml with top-level sections replaced, beside copies of the files it names."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("files", "hooks"):
        shutil.copytree(DEMO_ENV.parent / name, directory / name, dirs_exist_ok=True)
    document = yaml.safe_load(DEMO_ENV.read_text())
    document.update(changes)
    path = directory / "demo.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def green(demo: DemoConfig) -> Iterator[DemoConfig]:
    switch(demo, "green")
    yield demo
    switch(demo, "blue")


def test_green_under_traffic_is_rolled_back_and_verified(green: DemoConfig, tmp_path: Path) -> None:
    with users(green):
        wait_for_error_ratio(green, "breach")
        done, record = run_suite(green, tmp_path, "--rollback", marks=GATE_MARKS)
    assert done.returncode == 6, done.stdout[-3000:]
    assert record["decision"] == "ROLLBACK"
    assert "test_metric_within_bound[error-ratio]" in record["triggers"]
    rollback = record["rollback"]
    assert rollback["ran"] and rollback["exit_code"] == 0 and not rollback["timed_out"]
    assert "demo switch: nginx" in rollback["output"] and "-> blue" in rollback["output"]
    assert rollback["verify"]["decision"] == "GO" and rollback["verify"]["failing"] == []
    assert rollback["restored"] is True
    assert rollback["total_s"] < rollback["budget_s"] == 60
    assert status(green).active == "blue"
    assert "rolled back and verified healthy (smoke)" in done.stdout
    assert "gonogo: ROLLBACK for demo" in done.stdout
    evidence = next(c for c in record["checks"] if c["id"] in record["triggers"])["evidence"]
    assert evidence["threshold"] == "> 0.05 for 10s" and evidence["measured"] > 0.05
    assert "PromQL" in evidence["detail"]
    page = (tmp_path / "report.html").read_text()
    assert "Rollback" in page and "ROLLBACK" in page
    assert (tmp_path / "post-rollback" / "decision.json").is_file()


def test_without_rollback_enabled_the_hook_does_not_run(green: DemoConfig, tmp_path: Path) -> None:
    with users(green):
        wait_for_error_ratio(green, "breach")
        done, record = run_suite(green, tmp_path, marks="metrics")
    assert done.returncode == 6, done.stdout[-3000:]
    assert record["rollback"]["ran"] is False
    assert "--rollback" in record["rollback"]["note"]
    assert status(green).active == "green"


def test_a_hanging_hook_is_killed_at_its_timeout(green: DemoConfig, tmp_path: Path) -> None:
    pid_file = tmp_path / "hook.pid"
    hook = {
        # `$$$$`: the environment file's escape for `$$`, the shell's own pid
        "command": ["sh", "-c", f'echo "hook started"; echo $$$$ > {pid_file}; exec sleep 600'],
        "timeout_s": 1,
    }
    env_file = environment_copy(tmp_path / "env", rollback=hook)
    with users(green):
        wait_for_error_ratio(green, "breach")
        done, record = run_suite(
            green, tmp_path / "reports", "--rollback", env_file=env_file, marks="metrics"
        )
    assert done.returncode == 7, done.stdout[-3000:]  # ROLLBACK, and health not restored
    rollback = record["rollback"]
    assert rollback["timed_out"] is True and rollback["restored"] is False
    assert rollback["duration_s"] < 1 + 6 + 2  # the bound, then TERM / INT / KILL 3 s apart
    assert "hook started" in rollback["output"]
    assert "roll back by hand" in rollback["note"]
    hook_pid = int(pid_file.read_text())
    assert not Path(f"/proc/{hook_pid}").exists(), "the hung hook outlived its timeout"
    assert status(green).active == "green"


def test_blue_under_traffic_holds_through_the_watch(demo: DemoConfig, tmp_path: Path) -> None:
    switch(demo, "blue")
    with users(demo):
        wait_for_error_ratio(demo, "ok")
        done, record = run_suite(demo, tmp_path, marks="watch")
    assert done.returncode == 0, done.stdout[-3000:]
    watch = record["watch"]
    assert watch["stopped_early"] is None
    assert [e["label"] for e in watch["entries"]] == ["smoke-status", "query-error-ratio"]
    for entry in watch["entries"]:
        assert entry["outcome"] == "passed"
        assert [m["status"] for m in entry["measurements"]] == ["success"] * 4
        times = [m["t"] for m in entry["measurements"]]
        assert all(4 < later - earlier < 6 for earlier, later in itertools.pairwise(times))
    assert "gonogo watch: " in done.stdout


def test_waivers_and_the_webhook_end_to_end(
    green: DemoConfig, tmp_path: Path, receiver: Receiver
) -> None:
    waivers = [
        {
            "check": "test_status_is_expected[*]",
            "reason": "OPS-1: ready and catalog",
            "expires": "2099-01-01",
        },
        {"check": "test_json_fields_match[ready]", "reason": "OPS-1", "expires": "2099-01-01"},
        {"check": "test_bad_input_*", "reason": "OPS-3", "expires": "2099-01-01"},
        {"check": "test_openapi_operations_*", "reason": "OPS-3", "expires": "2099-01-01"},
        {"check": "test_latency_within_budget[status]", "reason": "OPS-2", "expires": "2020-01-01"},
        {"check": "test_tls_*", "reason": "no longer needed", "expires": "2099-01-01"},
    ]
    notify = [{"url": f"{receiver.base_url}/hooks/gonogo"}]
    env_file = environment_copy(tmp_path / "env", waivers=waivers, notify=notify)
    done, record = run_suite(green, tmp_path / "reports", env_file=env_file, marks="smoke")
    assert done.returncode == 1, done.stdout[-3000:]
    assert record["blocking"] == ["test_latency_within_budget[status]"]
    assert record["reasons"] == [
        "test_latency_within_budget[status] failed (major); its waiver expired on 2020-01-01"
    ]
    assert {w["id"] for w in record["waived"]} == {
        "test_status_is_expected[ready]",
        "test_status_is_expected[catalog]",
        "test_json_fields_match[ready]",
        "test_bad_input_rejected_cleanly[feedback]",
        "test_openapi_operations_answer[api]",
    }
    assert [w["check"] for w in record["expired_waivers"]] == ["test_latency_within_budget[status]"]
    assert [w["check"] for w in record["unused_waivers"]] == ["test_tls_*"]
    assert (
        "waived: test_status_is_expected[ready] [failed] (OPS-1: ready and catalog" in done.stdout
    )
    assert "expired waiver: test_latency_within_budget[status] expired on 2020-01-01" in done.stdout
    [body] = receiver.bodies()
    assert body["gonogo"]["decision"] == "NO-GO" and body["gonogo"]["environment"] == "demo"
    assert "test_latency_within_budget[status]" in body["text"]
    assert record["notifications"][0]["status"] == 200
    summary = (tmp_path / "reports" / "summary.md").read_text()
    assert "OPS-1" in summary

    waivers[4]["expires"] = "2099-01-01"
    env_file = environment_copy(tmp_path / "env", waivers=waivers, notify=notify)
    done, record = run_suite(green, tmp_path / "reports", env_file=env_file, marks="smoke")
    assert done.returncode == 0, done.stdout[-3000:]
    assert record["decision"] == "GO" and len(record["waived"]) == 6
    assert len(receiver.received) == 1  # GO is not among the default `when`


def test_a_query_without_data_is_inconclusive_not_a_pass(demo: DemoConfig, tmp_path: Path) -> None:
    switch(demo, "blue")
    prometheus = f"http://127.0.0.1:{demo.prometheus_port}"
    metrics = {
        "prometheus": prometheus,
        "queries": [
            {"name": "typo", "query": 'up{job="demo-apl"}', "min": 1},
            {
                "name": "quiet-ok",
                "query": "rate(no_such_metric_total[1m])",
                "max": 1,
                "no_data": "pass",
            },
            {
                "name": "quiet-fails",
                "query": "rate(no_such_metric_total[1m])",
                "max": 1,
                "no_data": "fail",
                "rollback": True,
            },
        ],
    }
    env_file = environment_copy(tmp_path / "env", metrics=metrics, watch=None)
    done, record = run_suite(demo, tmp_path / "reports", env_file=env_file, marks="metrics")
    assert done.returncode == 6, done.stdout[-3000:]  # the `fail` policy's breach is a trigger
    outcomes = {c["id"]: (c["outcome"], c["message"]) for c in record["checks"]}
    outcome, message = outcomes["test_metric_within_bound[typo]"]
    assert outcome == "failed" and message.startswith("typo: inconclusive, no data: ")
    assert outcomes["test_metric_within_bound[quiet-ok]"][0] == "passed"
    assert outcomes["test_metric_within_bound[quiet-fails]"][0] == "failed"
    assert record["triggers"] == ["test_metric_within_bound[quiet-fails]"]
    assert "test_metric_within_bound[typo]" in record["blocking"]
    assert "no data" in (tmp_path / "reports" / "report.html").read_text()


REPEATS = 10


def test_blue_is_go_every_time(demo: DemoConfig, tmp_path: Path) -> None:
    """No flaky check: ten runs in a row on an unchanged good release, ten GOs. Green's 500s
    from an earlier test must first leave the error-ratio window, which the metrics checks
    rightly judge. (The load stage and the watch window, timed stages, have tests of their
    own.)"""
    switch(demo, "blue")
    wait_for_error_ratio(demo, "ok")
    verdicts = []
    for run in range(REPEATS):
        done, record = run_suite(demo, tmp_path / str(run))
        not_passed = [c["id"] for c in record["checks"] if c["outcome"] != "passed"]
        verdicts.append((record["decision"], done.returncode, not_passed))
    assert verdicts == [("GO", 0, [])] * REPEATS
