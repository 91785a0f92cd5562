"""Locust runs for real, against a target whose truth is known, and never outlives its bound.

Each test starts real Locust processes on loopback; the target counts what it served, so the
recorder's counts are checked for equality and its percentiles against the server's own timings.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gonogo.environment_load import LoadScenario
from gonogo.errors import GonogoError
from gonogo.latency import Histogram
from gonogo.probes._process_group import group_members
from gonogo.probes.load import LoadRun, run_load
from tests.load_target import Served, serve_target

REPO = Path(__file__).resolve().parents[1]
PROGRESS = re.compile(
    r"^gonogo load: \d+/[\d.]+ s, \d+ req/s, p95 [\d.]+ ms, errors [\d.]+ %$"
)  # fmt: skip


@pytest.fixture
def target() -> Iterator[tuple[str, Served]]:
    with serve_target() as served:
        yield served


def scenario(**fields: Any) -> LoadScenario:
    defaults: dict[str, Any] = {"users": 20, "spawn_rate": 100, "wait_s": [0, 0], "grace_s": 10}
    return LoadScenario.model_validate(defaults | fields)


def run(load: LoadScenario, base_url: str, report_dir: Path) -> LoadRun:
    return run_load(
        load,
        base_url=base_url,
        headers={},
        ca_file=None,
        verify_tls=True,
        report_dir=report_dir,
        progress=lambda line: None,
    )


def merged(load_run: LoadRun) -> dict[str, tuple[Histogram, int, Counter[str]]]:
    """Per request name: the histogram, failures and statuses over all seconds and workers."""
    names: dict[str, tuple[Histogram, int, Counter[str]]] = {}
    for row in load_run.results["slices"]:
        histogram, failures, statuses = names.get(row["name"], (Histogram(), 0, Counter()))
        histogram.merge(Histogram.from_dict(row["histogram"]))
        names[row["name"]] = (
            histogram,
            failures + row["failures"],
            statuses + Counter(row["statuses"]),
        )
    return names


def nearest_rank(values: list[float], fraction: float) -> float:
    return sorted(values)[max(1, math.ceil(fraction * len(values))) - 1]


def children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def locust_children(pid: int) -> list[int]:
    """Only the Locust processes among `pid`'s children: a session's other servers (the
    dependency tests' PostgreSQL, say) are children of this process too, and not ours to stop."""
    found = []
    for child in children(pid):
        try:
            if b"locust" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue
    return found


def test_a_yaml_scenario_on_two_processes_records_every_request(
    target: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = target
    argv: list[str] = []

    def progress(line: str) -> None:
        if not argv:  # the run is live: what `ps` shows of it
            argv.extend(
                Path(f"/proc/{pid}/cmdline").read_text() for pid in locust_children(os.getpid())
            )
        lines.append(line)

    lines: list[str] = []
    load = scenario(
        duration_s=7,
        processes=2,
        requests=[
            {"name": "delayed", "path": "/delayed", "weight": 9},
            {"name": "fast", "path": "/fast"},
        ],
    )
    load_run = run_load(
        load,
        base_url=url,
        headers={"Authorization": "Bearer s3cret-token"},
        ca_file=None,
        verify_tls=True,
        report_dir=tmp_path,
        progress=progress,
    )

    assert load_run.stop_reason == "duration", load_run.output_tail
    assert load_run.results["workers"] == 2
    names = merged(load_run)
    assert set(names) == {"delayed", "fast"}
    delayed, failures, statuses = names["delayed"]
    assert delayed.count == len(served.delays_ms)
    assert names["fast"][0].count == served.fast
    assert failures == statuses["500"] == served.failed == delayed.count // 50
    overhead = names["fast"][0].percentile(0.5)
    for fraction in (0.5, 0.75, 0.95, 0.99):
        expected = nearest_rank(served.delays_ms, fraction) + overhead
        assert delayed.percentile(fraction) == pytest.approx(expected, abs=max(2, expected * 0.05))
    assert served.authorizations == {"Bearer s3cret-token"}
    assert argv and not any("s3cret" in command for command in argv)
    assert len(lines) >= 4 and all(PROGRESS.match(line) for line in lines), lines
    names_on_disk = {path.name for path in load_run.report_files}
    assert {"locust_stats.csv", "locust.html"} <= names_on_disk
    assert load_run.cores == os.cpu_count()
    assert load_run.cpu and all(0 <= percent <= 100 for _, percent in load_run.cpu)


def test_a_staged_scenario_runs_its_stages_and_applies_expected_statuses(
    target: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = target
    request = {"name": "delayed", "path": "/delayed", "expect_status": [200, 500]}
    stages = [{"duration_s": 1.5, "users": 5}, {"duration_s": 1.5, "users": 10}]
    load_run = run(scenario(processes=1, requests=[request], stages=stages), url, tmp_path)

    assert load_run.stop_reason == "duration", load_run.output_tail
    histogram, failures, statuses = merged(load_run)["delayed"]
    assert histogram.count == len(served.delays_ms) and statuses["500"] == served.failed > 0
    assert failures == 0
    results = load_run.results
    assert results["planned_s"] == 3
    assert results["ended_at"] - results["started_at"] == pytest.approx(3, abs=1.5)


def test_a_users_locustfile_runs_unchanged_with_the_recorder_added(
    target: tuple[str, Served], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, served = target
    monkeypatch.setenv("GONOGO_LOAD_PATHS", "/fast")
    load = scenario(locustfile=REPO / "load" / "read_heavy.py", duration_s=4, processes=2)
    load_run = run(load, url, tmp_path)

    assert load_run.stop_reason == "duration", load_run.output_tail
    assert load_run.results["workers"] == 2
    histogram, failures, _ = merged(load_run)["/fast"]
    assert histogram.count == served.fast > 0 and failures == 0


def test_a_locustfile_that_fails_to_load_is_reported_with_locusts_output(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text('raise RuntimeError("broken on purpose")\n')
    load = scenario(locustfile=broken, duration_s=5, processes=1)

    with pytest.raises(GonogoError, match="broken on purpose"):
        run(load, "http://127.0.0.1:9", tmp_path / "report")


def test_a_target_that_is_down_ends_the_run_early(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("GONOGO_LOAD_DOWN_AFTER_S", "2")
    load = scenario(requests=[{"name": "any", "path": "/"}], duration_s=30, processes=1, users=2)
    started = time.monotonic()
    load_run = run(load, f"http://127.0.0.1:{port}", tmp_path)

    assert load_run.stop_reason == "target_down", load_run.output_tail
    assert time.monotonic() - started < 15
    histogram, failures, statuses = merged(load_run)["any"]
    assert failures == histogram.count == statuses["0"] > 0


def test_a_stalled_locust_is_stopped_at_the_bound(
    target: tuple[str, Served], tmp_path: Path
) -> None:
    url, _ = target
    live = threading.Event()
    stalled: list[int] = []

    def stall() -> None:
        if live.wait(timeout=30):
            stalled.extend(locust_children(os.getpid()))
            for pid in stalled:
                with contextlib.suppress(ProcessLookupError):  # one that ended meanwhile
                    os.killpg(pid, signal.SIGSTOP)

    thread = threading.Thread(target=stall, daemon=True)
    thread.start()
    load = scenario(
        requests=[{"name": "fast", "path": "/fast"}], duration_s=4, grace_s=1, processes=1
    )
    started = time.monotonic()
    load_run = run_load(
        load,
        base_url=url,
        headers={},
        ca_file=None,
        verify_tls=True,
        report_dir=tmp_path,
        progress=lambda line: live.set(),
    )
    thread.join(timeout=5)

    assert stalled, "Locust never reported progress"
    assert load_run.stop_reason == "timeout" == load_run.results["stop_reason"]
    assert time.monotonic() - started < 4 + 1 + 5
    assert not any(group_members(pid) for pid in stalled)


_INTERRUPTED = """
import os, sys, threading, time
from pathlib import Path
from gonogo.environment_load import LoadScenario
from gonogo.errors import GonogoError
from gonogo.probes.load import run_load
from tests.test_load_run import children

def announce():
    while not (found := children(os.getpid())):
        time.sleep(0.05)
    print(found[0], flush=True)

threading.Thread(target=announce, daemon=True).start()
load = LoadScenario.model_validate(
    {"requests": [{"name": "fast", "path": "/fast"}], "duration_s": 60, "processes": 2}
)
run_load(load, base_url=sys.argv[1], headers={}, ca_file=None, verify_tls=True,
         report_dir=Path(sys.argv[2]), progress=lambda line: None)
"""


def test_an_interrupted_run_leaves_no_process_behind(
    target: tuple[str, Served], tmp_path: Path
) -> None:
    url, _ = target
    with subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTED, url, str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            pgid = int(parent.stdout.readline())
            deadline = time.monotonic() + 10
            while len(group_members(pgid)) < 3:  # the master and its two forked workers
                assert time.monotonic() < deadline, "Locust did not fork its workers"
                time.sleep(0.05)
            parent.send_signal(signal.SIGINT)
            _, errors = parent.communicate(timeout=20)
        finally:
            parent.kill()

    assert "KeyboardInterrupt" in errors
    assert group_members(pgid) == []
