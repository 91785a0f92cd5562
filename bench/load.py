"""Time the load stage against raw Locust and wrk on one static endpoint, and its overhead.

Run from the repository root: `.venv/bin/python bench/load.py`. It starts nginx on a free
127.0.0.1 port (plain HTTP, `location = /ok { return 200 "ok\\n"; }`, one worker per core, an
access log of each request's `$msec` and status), then runs, one after the other, round after
round (--rounds, default 3), each for the same --duration (10 s) with 50 users or connections
and no wait:

- gonogo: `run_load` of a YAML scenario with that one request (`processes: 2`, spawn rate 50,
  so every user starts within the first second), then `summarise`; requests/s is
  `summarise(...).total.rps`, as the decision record gets it;
- raw Locust: `python -m locust` with a FastHttpUser locustfile GETting the same path,
  `--processes 2 -u 50 -r 50 -t 10s --headless --csv`; requests/s from its stats CSV's
  Aggregated row;
- wrk: `wrk -t2 -c50 -d10s`, its Requests/sec: the ceiling of this machine's loopback.

Each side's figure is its best round; alternating the sides spreads whatever else the machine
does over all of them. Beside each tool's own figure stands what nginx logged of it (requests
over first to last), one ruler for all three. Overhead, from timestamps nginx wrote, median of
the rounds: from calling `run_load` to the first request nginx logged, and from the last request
it logged in gonogo's run to `summarise` returning; raw Locust's own (process started to first
request, last request to its exit) is printed beside it.

Every side must find the same facts in every round: nginx answered every request it logged with
200, the tool reports no failure, and the tool counted the requests nginx logged while it ran,
less at most one per user or connection cut off in flight when it stopped; else the script exits
1 and says what each found. Missed targets (gonogo at least 75 % of raw Locust's requests/s;
each overhead under 2 s) are printed, not failed.

Every load is bounded: Locust and wrk run as process groups of their own under gonogo's
`run_bounded` (duration + 10 s, then TERM, INT, KILL to the group), and nginx runs in a group
of its own, stopped by group (QUIT, then KILL) however the run ends. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from gonogo.environment_load import LoadScenario
from gonogo.load_kpis import summarise
from gonogo.probes._process_group import GroupRun, group_members, run_bounded
from gonogo.probes.load import run_load

USERS = 50  # Locust users, wrk connections
PROCESSES = 2  # Locust worker processes, wrk threads
PATH = "/ok"
GRACE_S = 10  # beyond the duration, before a tool's group is signalled
TARGET_RATIO = 0.75
TARGET_OVERHEAD_S = 2.0
GONOGO, LOCUST, WRK = "gonogo", "raw Locust", "wrk"
NGINX_CONF = """
worker_processes {workers};
pid "{dir}/nginx.pid";
error_log "{dir}/error.log" notice;
events {{ worker_connections 1024; }}
http {{
    log_format bench '$msec $status';
    access_log "{dir}/access.log" bench buffer=256k flush=1s;
    client_body_temp_path "{dir}/temp/client_body";
    proxy_temp_path "{dir}/temp/proxy";
    fastcgi_temp_path "{dir}/temp/fastcgi";
    uwsgi_temp_path "{dir}/temp/uwsgi";
    scgi_temp_path "{dir}/temp/scgi";
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location = {path} {{
            default_type text/plain;
            return 200 "ok\\n";
        }}
        location / {{
            return 404;
        }}
    }}
}}
"""
LOCUSTFILE = f"""
from locust import FastHttpUser, constant, task


class StaticUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def ok(self):
        self.client.get("{PATH}")
"""


@dataclass
class Served:
    """What nginx logged within one side's span."""

    count: int = 0
    first: float = float("inf")
    last: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)

    def add(self, at: float, status: str) -> None:
        self.count += 1
        self.first, self.last = min(self.first, at), max(self.last, at)
        self.statuses[status] += 1

    @property
    def rate(self) -> float:
        """Requests over first to last, by nginx's clock."""
        return self.count / (self.last - self.first) if self.last > self.first else 0.0


@dataclass
class Side:
    """One tool's round: what it reported, and the wall-clock span it had the target."""

    name: str
    started: float  # unix time, just before the tool was started
    ended: float  # unix time, once it was done (gonogo: once summarise returned)
    rps: float
    count: int
    failures: int
    facts: list[str] = field(default_factory=list)  # what the tool itself found wrong
    served: Served = field(default_factory=Served)
    marks: dict[str, float] = field(default_factory=dict)  # gonogo: unix times along the run
    measured_s: float = 0.0  # gonogo: the length summarise divides by
    command: str = ""  # as shown in the report

    @property
    def start_overhead(self) -> float:
        return self.served.first - self.started

    @property
    def end_overhead(self) -> float:
        return self.ended - self.served.last


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per tool (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all three (default 3)")
    args = parser.parse_args()
    nginx, wrk = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("wrk")
    missing = [] if Path(nginx).is_file() else ["nginx: apt-get install -y nginx"]
    missing += [] if wrk else ["wrk: apt-get install -y wrk"]
    if missing or wrk is None:
        print("not found:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    sides: list[Side] = []
    with tempfile.TemporaryDirectory(prefix="gonogo-bench-load-") as tmp:
        directory = Path(tmp)
        with _nginx(nginx, directory) as base:
            for index in range(args.rounds):
                sides.append(_gonogo(base, args.duration, directory / f"gonogo-{index}"))
                time.sleep(1)  # the spans stay apart in nginx's log
                sides.append(_locust(base, args.duration, directory / f"locust-{index}"))
                time.sleep(1)
                sides.append(_wrk(wrk, base, args.duration))
                time.sleep(1)
        strays = _assign(directory / "access.log", sides)
    wrong = _disagreements(sides, strays)
    if wrong:  # figures of runs that did not see the same requests would compare nothing
        print("the sides did not find the same facts:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    _report(sides, args.duration, args.rounds, load)
    return 0


@contextmanager
def _nginx(nginx: str, directory: Path) -> Iterator[str]:
    """nginx on a free port in a process group of its own; yields the base URL. Stopped by
    group: QUIT (graceful, which flushes the access log), KILL if it lingers."""
    (directory / "temp").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = directory / "nginx.conf"
    workers = os.cpu_count() or 1
    conf.write_text(NGINX_CONF.format(dir=directory, port=port, path=PATH, workers=workers))
    error_log = directory / "error.log"
    process = subprocess.Popen(
        [nginx, "-p", str(directory), "-c", str(conf), "-e", str(error_log), "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"nginx did not start:\n{error_log.read_text()}") from None
                time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop_group(process, signal.SIGQUIT)


def _stop_group(process: subprocess.Popen[bytes], first: signal.Signals) -> None:
    """`first` to the group, KILL to what is left 10 s later; returns once the group is gone
    (or 10 s after KILL)."""
    for sent in (first, signal.SIGKILL):
        with suppress(ProcessLookupError):  # the group ended meanwhile
            os.killpg(process.pid, sent)
        deadline = time.monotonic() + 10
        while process.poll() is None or group_members(process.pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return


def _gonogo(base: str, duration: int, report_dir: Path) -> Side:
    """The load stage as the suite runs it, then the KPIs as the decision record gets them."""
    scenario = LoadScenario.model_validate(
        {
            "requests": [{"name": "ok", "path": PATH}],
            "users": USERS,
            "spawn_rate": USERS,
            "duration_s": duration,
            "wait_s": [0, 0],
            "processes": PROCESSES,
            "grace_s": GRACE_S,
        }
    )
    called = time.time()
    run = run_load(
        scenario,
        base_url=base,
        headers={},
        ca_file=None,
        verify_tls=True,
        report_dir=report_dir,
        progress=lambda _line: None,
    )
    returned = time.time()
    summary = summarise(run.results, run.cpu, run.cores)
    ended = time.time()
    total = summary.total
    facts = []
    if run.stop_reason != "duration" or summary.workers != PROCESSES:
        facts.append(f"stop reason {run.stop_reason}, {summary.workers} workers")
    if set(total.statuses) - {"200"}:
        facts.append(f"statuses {total.statuses}")
    side = Side(GONOGO, called, ended, total.rps, total.count, total.failures, facts)
    side.measured_s = summary.duration_s
    side.command = (
        f"run_load(LoadScenario: GET {PATH}, users {USERS}, spawn_rate {USERS}, duration_s "
        f"{duration}, wait_s [0, 0], processes {PROCESSES}), then summarise(...).total.rps"
    )
    side.marks = {
        "test_start": float(run.results["started_at"]),  # Locust's test_start, on the master
        "written": float(run.results["ended_at"]),  # the recorder wrote its document
        "returned": returned,
    }
    return side


def _locust(base: str, duration: int, report_dir: Path) -> Side:
    report_dir.mkdir()
    locustfile = report_dir / "static_user.py"
    locustfile.write_text(LOCUSTFILE)
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", base,
        "-u", str(USERS), "-r", str(USERS), "-t", f"{duration}s",
        "--processes", str(PROCESSES), "--csv", str(report_dir / "locust"),
        "--only-summary", "--loglevel", "WARNING",
    ]  # fmt: skip
    started = time.time()
    group = _bounded(command, duration)
    ended = time.time()
    facts = [] if group.returncode == 0 and not group.timed_out else [_ended(group)]
    stats = report_dir / "locust_stats.csv"
    rows = {}
    if stats.is_file():
        with stats.open(newline="", encoding="utf-8") as file:
            rows = {row["Name"]: row for row in csv.DictReader(file)}
    row = rows.get("Aggregated")
    if row is None:
        return Side(LOCUST, started, ended, 0.0, 0, 0, [*facts, f"no Aggregated row in {stats}"])
    count, failures = int(row["Request Count"]), int(row["Failure Count"])
    side = Side(LOCUST, started, ended, float(row["Requests/s"]), count, failures, facts)
    side.command = shlex.join(command)
    return side


def _wrk(wrk: str, base: str, duration: int) -> Side:
    command = [wrk, f"-t{PROCESSES}", f"-c{USERS}", f"-d{duration}s", f"{base}{PATH}"]
    started = time.time()
    group = _bounded(command, duration)
    ended = time.time()
    out = group.output_tail
    facts = [] if group.returncode == 0 and not group.timed_out else [_ended(group)]
    requests = re.search(r"^\s*(\d+) requests in", out, re.MULTILINE)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.MULTILINE)
    if requests is None or rps is None:
        return Side(WRK, started, ended, 0.0, 0, 0, [*facts, f"unreadable output: {out!r}"])
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)  # printed only when there were some
    if errors:
        facts.append(f"socket errors: {errors.group(1)}")
    failures = int(non_2xx.group(1)) if non_2xx else 0
    side = Side(WRK, started, ended, float(rps.group(1)), int(requests.group(1)), failures, facts)
    side.command = shlex.join(command)
    return side


def _bounded(command: list[str], duration: int) -> GroupRun:
    """The tool in a process group of its own, signalled past duration + GRACE_S; returns once
    no process of the group is left."""
    return run_bounded(
        command,
        env=os.environ,
        bound_s=duration + GRACE_S,
        progress_prefix="\0",  # no progress lines: all output goes to the tail
        progress=lambda _line: None,
    )


def _ended(group: GroupRun) -> str:
    how = "timed out" if group.timed_out else f"exited {group.returncode}"
    return f"{how}: {group.output_tail[-2000:]}"


def _assign(log: Path, sides: list[Side]) -> Counter[str]:
    """nginx's lines, each to the side whose span holds it; returns the statuses of lines in
    no span (nothing else talks to this nginx, so there should be none)."""
    strays: Counter[str] = Counter()
    spans = sorted(sides, key=lambda side: side.started)
    starts = [side.started for side in spans]
    with log.open(encoding="ascii") as file:
        for line in file:
            at_text, status = line.split()
            at = float(at_text)
            index = bisect.bisect_right(starts, at) - 1
            if index >= 0 and at <= spans[index].ended:
                spans[index].served.add(at, status)
            else:
                strays[status] += 1
    return strays


def _disagreements(sides: list[Side], strays: Counter[str]) -> list[str]:
    """What each side found where it is not what all must find; empty when all agree."""
    wrong = [f"nginx logged requests outside every run: {dict(strays)}"] if strays else []
    for index, side in enumerate(sides):
        name = f"{side.name}, round {index // 3 + 1}"
        served = side.served
        wrong += [f"{name}: {fact}" for fact in side.facts]
        if set(served.statuses) - {"200"}:
            wrong.append(f"{name}: nginx answered {dict(served.statuses)}")
        if side.failures:
            wrong.append(f"{name}: {side.failures} of {side.count} requests failed")
        if not 0 < side.count <= served.count <= side.count + USERS:
            wrong.append(
                f"{name}: counted {side.count} requests, nginx logged {served.count} "
                f"(expected the count, or up to {USERS} more cut off in flight)"
            )
    return wrong


def _report(sides: list[Side], duration: int, rounds: int, load: float) -> None:
    cores = os.cpu_count() or 1
    print(
        f"{rounds} rounds of {duration} s per side, {USERS} users or connections, no wait; "
        f"{cores} cores, load average {load:.2f} at the start"
    )
    by_name = {name: [s for s in sides if s.name == name] for name in (GONOGO, LOCUST, WRK)}
    print("\nevery round: the tool's requests/s | nginx logged /s | logged but not counted")
    for name, runs in by_name.items():
        own = " ".join(f"{side.rps:>6.0f}" for side in runs)
        logged = " ".join(f"{side.served.rate:>6.0f}" for side in runs)
        uncounted = " ".join(f"{side.served.count - side.count:>2}" for side in runs)
        print(f"{name:<11} {own} | {logged} | {uncounted}")
    best = {name: max(runs, key=lambda side: side.rps) for name, runs in by_name.items()}
    ours, theirs, ceiling = best[GONOGO], best[LOCUST], best[WRK]
    print(
        f"\n{'side, best round':<17} {'requests/s':>11} {'vs gonogo':>10} {'nginx logged /s':>16}"
    )
    for name, side in best.items():
        print(
            f"{name:<17} {side.rps:>11.0f} {side.rps / ours.rps:>9.2f}x {side.served.rate:>16.0f}"
        )
    ratio = ours.rps / theirs.rps
    ruler = max(s.served.rate for s in by_name[GONOGO]) / max(
        s.served.rate for s in by_name[LOCUST]
    )
    print(
        f"gonogo / raw Locust: {ratio:.1%} (summarise: {ours.count} requests over "
        f"{ours.measured_s:g} s, nginx logged them over {ours.served.last - ours.served.first:.2f}"
        f" s); by nginx's log: {ruler:.1%}"
    )
    start = statistics.median(side.start_overhead for side in by_name[GONOGO])
    end = statistics.median(side.end_overhead for side in by_name[GONOGO])
    print(f"\noverhead, median of {rounds} (every round)")
    _overhead("gonogo: run_load called -> first request", start, by_name[GONOGO], "start")
    _overhead("gonogo: last request -> summarise returned", end, by_name[GONOGO], "end")
    locust_start = statistics.median(side.start_overhead for side in by_name[LOCUST])
    locust_end = statistics.median(side.end_overhead for side in by_name[LOCUST])
    _overhead("raw Locust: started -> first request", locust_start, by_name[LOCUST], "start")
    _overhead("raw Locust: last request -> exited", locust_end, by_name[LOCUST], "end")
    for side in by_name[GONOGO]:
        marks, served = side.marks, side.served
        print(
            f"  gonogo round: test_start +{marks['test_start'] - side.started:.2f} s after the "
            f"call, first request +{served.first - side.started:.2f} s; from the last request: "
            f"document written +{marks['written'] - served.last:.2f} s, run_load returned "
            f"+{marks['returned'] - served.last:.2f} s, summarise took "
            f"{(side.ended - marks['returned']) * 1000:.0f} ms"
        )
    print()
    targets = [
        (f"gonogo >= {TARGET_RATIO:.0%} of raw Locust", ratio >= TARGET_RATIO, f"{ratio:.1%}"),
        (f"start overhead < {TARGET_OVERHEAD_S:g} s", start < TARGET_OVERHEAD_S, f"{start:.2f} s"),
        (f"end overhead < {TARGET_OVERHEAD_S:g} s", end < TARGET_OVERHEAD_S, f"{end:.2f} s"),
    ]
    for name, met, figure in targets:
        print(f"target {name:<30} {'met' if met else 'MISSED':<7} ({figure})")
    print("\nfor bench/README.md:")
    print(
        f"| {ours.rps:.0f} | {theirs.rps:.0f} | {ceiling.rps:.0f} | {ratio:.1%} | {ruler:.1%} "
        f"| {start:.2f} s | {end:.2f} s | {locust_start:.2f} s | {locust_end:.2f} s |"
    )
    print("\ncommands (the last round's):")
    for name, runs in by_name.items():
        print(f"  {name}: {runs[-1].command}")
    print("  this benchmark: .venv/bin/python bench/load.py")


def _overhead(label: str, median: float, runs: list[Side], which: str) -> None:
    every = [side.start_overhead if which == "start" else side.end_overhead for side in runs]
    print(f"  {label:<44} {median:.2f} s ({' '.join(f'{value:.2f}' for value in every)})")


if __name__ == "__main__":
    sys.exit(main())
