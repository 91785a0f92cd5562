"""A load scenario as a Locust run in child processes: command, settings, results.

Locust is never imported here: its import monkey-patches the interpreter with gevent, which
would change everything else a pytest run does. It runs as `python -m locust` in a process group
of its own (see `_process_group`), with `gonogo.locust_recorder` inside recording per-second
histograms that it writes as one JSON document when the run ends. A YAML scenario runs as
`gonogo/locustfile_yaml.py`; a user's locustfile runs unchanged, the recorder listed before it
in `-f`. Headers may carry credentials, so they travel in the environment, never in arguments.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gonogo.environment_load import LoadScenario
from gonogo.errors import GonogoError
from gonogo.probes._process_group import GroupRun, direct_environment, run_bounded
from gonogo.probes.http import merged_headers

__all__ = ["RESULTS_NAME", "LoadRun", "run_load"]

RESULTS_NAME = "gonogo-load.json"
_PROGRESS_PREFIX = "gonogo load:"  # gonogo.locust_recorder's PROGRESS_PREFIX (not importable here)
_PACKAGE = Path(__file__).resolve().parents[1]
_STOP_TIMEOUT_S = 5  # users finish the request in flight, so the last second is recorded whole


@dataclass(frozen=True)
class LoadRun:
    """What a run produced: the recorder's document, the generator's CPU, how it ended."""

    results: dict[str, Any]
    cpu: list[tuple[float, float]]  # (seconds since start, % of all cores), once a second
    cores: int
    stop_reason: str  # the document's, or "timeout" when the bound had to stop Locust
    elapsed_s: float
    returncode: int | None
    output_tail: str
    report_files: list[Path]


def run_load(
    scenario: LoadScenario,
    *,
    base_url: str,
    headers: Mapping[str, str],
    ca_file: Path | None,
    verify_tls: bool,
    report_dir: Path,
    progress: Callable[[str], None],
) -> LoadRun:
    """Run the scenario against `base_url` and wait for it, at most its planned duration plus
    `grace_s` (plus `worker_timeout_s` when remote workers are awaited) and the stop signals."""
    cores = os.cpu_count() or 1
    command = _command(scenario, base_url=base_url, report_dir=report_dir, cores=cores)
    report_dir.mkdir(parents=True, exist_ok=True)
    results_path = report_dir / RESULTS_NAME
    results_path.unlink(missing_ok=True)
    settings = _settings(scenario, base_url, headers, ca_file=ca_file, verify_tls=verify_tls)
    env = {
        **direct_environment(os.environ),
        "GONOGO_LOAD_SCENARIO": json.dumps(settings),
        "GONOGO_LOAD_RESULTS": str(results_path),
        "GONOGO_LOAD_PLANNED_S": repr(scenario.total_duration_s),
    }
    waiting_s = scenario.worker_timeout_s if scenario.expect_workers else 0
    group = run_bounded(
        command,
        env=env,
        bound_s=scenario.total_duration_s + scenario.grace_s + waiting_s,
        progress_prefix=_PROGRESS_PREFIX,
        progress=progress,
    )
    results = _results(results_path, group, planned_s=scenario.total_duration_s)
    return LoadRun(
        results=results,
        cpu=group.cpu,
        cores=cores,
        stop_reason=str(results["stop_reason"]),
        elapsed_s=group.elapsed_s,
        returncode=group.returncode,
        output_tail=group.output_tail,
        report_files=sorted(
            path for path in report_dir.glob("locust*") if path.suffix in (".csv", ".html")
        ),
    )


def _command(scenario: LoadScenario, *, base_url: str, report_dir: Path, cores: int) -> list[str]:
    if scenario.locustfile is None:
        locustfiles = str(_PACKAGE / "locustfile_yaml.py")
    elif "," in str(scenario.locustfile):
        raise GonogoError(f"locustfile {scenario.locustfile}: Locust's -f cannot take a comma")
    elif scenario.stages:
        raise GonogoError("`stages` shape `requests` scenarios; a locustfile brings its own shape")
    else:
        locustfiles = f"{_PACKAGE / 'locust_recorder.py'},{scenario.locustfile}"
    command = [
        sys.executable, "-m", "locust", "-f", locustfiles, "--headless", "--host", base_url,
        "--stop-timeout", str(_STOP_TIMEOUT_S), "--csv", str(report_dir / "locust"),
        "--html", str(report_dir / "locust.html"), "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    if not scenario.stages:  # else the StagedShape drives users and ends the run
        command += ["-u", str(scenario.users), "-r", f"{scenario.spawn_rate:g}"]
        command += ["-t", f"{math.ceil(scenario.duration_s)}s"]
    if scenario.expect_workers:
        command += [
            "--master", "--master-bind-host", scenario.master_bind,
            "--master-bind-port", str(scenario.master_port),
            "--expect-workers", str(scenario.expect_workers),
            "--expect-workers-max-wait", str(math.ceil(scenario.worker_timeout_s)),
        ]  # fmt: skip
    else:
        processes = cores if scenario.processes == "auto" else scenario.processes
        if processes > 1:
            # Not Locust's default 5557: two runs on one machine would share a master, and
            # each would record the other's workers.
            port = str(_free_port())
            command += ["--processes", str(processes), "--master-bind-host", "127.0.0.1"]
            command += ["--master-bind-port", port, "--master-port", port]
    return command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _settings(
    scenario: LoadScenario,
    base_url: str,
    headers: Mapping[str, str],
    *,
    ca_file: Path | None,
    verify_tls: bool,
) -> dict[str, Any]:
    """GONOGO_LOAD_SCENARIO: all locustfile_yaml needs, and what a user's locustfile may use
    (default headers, trust, wait) to behave like the rest of the suite."""
    return {
        "host": base_url,
        "headers": dict(headers),
        "ca_file": str(ca_file) if ca_file else None,
        "verify": verify_tls,
        "wait_s": list(scenario.wait_s),
        "requests": [
            {
                "name": request.name,
                "method": request.method,
                "path": request.path,
                "weight": request.weight,
                "headers": merged_headers(headers, request.headers),
                "json": request.json_body,
                "expect_status": request.expect_status,
            }
            for request in scenario.requests
        ],
        "stages": [
            {
                "duration_s": stage.duration_s,
                "users": stage.users,
                "spawn_rate": stage.spawn_rate or scenario.spawn_rate,
            }
            for stage in scenario.stages
        ],
    }


def _results(path: Path, group: GroupRun, *, planned_s: float) -> dict[str, Any]:
    """The recorder's document; after a timeout whatever Locust managed to write, or an empty
    one, since a stalled run is itself the finding."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        if group.timed_out:
            return {
                "format": 1,
                "started_at": group.started_at,
                "ended_at": group.started_at + group.elapsed_s,
                "planned_s": planned_s,
                "stop_reason": "timeout",
                "workers": 0,
                "slices": [],
            }
        raise GonogoError(
            f"Locust left no readable results ({type(exc).__name__}: {exc}); exit code "
            f"{group.returncode}; its output ended with:\n{group.output_tail[-4000:]}"
        ) from None
    if not isinstance(document, dict) or document.get("format") != 1:
        raise GonogoError(f"{path}: not a results document of format 1")
    return {**document, "stop_reason": "timeout"} if group.timed_out else document
