"""Time a rollback from "the demo starts failing" to "rolled back and verified": gonogo's watch
window and rollback hook against the hand-written script a team uses today.

Run from the repository root: `.venv/bin/python bench/rollback.py [--rounds N]` (default 3).
It uses the demo as it finds it (`gonogo demo up`); when none of it runs, it starts the demo
and stops it again at the end. Background users send 20 requests a second through nginx for
the whole run (one in five a feedback form without a rating: blue answers 422, green 500).
Then, round after round, each side starting on blue after 12 s of settling:

- gonogo: `pytest --env=environments/demo.yaml -m watch --watch 3m --rollback` in a new
  process: the demo's watch window every 5 s (the smoke check `status`, firing on 3 failures
  in a row; the query `error-ratio`, 5xx above 5 % for 10 s), its hook `hooks/demo-rollback.sh`
  (`gonogo demo switch blue`), then its verification: `-m smoke` in a fresh pytest process;
- the script, the documents' "health check fails 3 times in a row -> switch back -> health
  check" in bash: `curl` /api/v1/status, a failure when not 200 or slower than 0.3 s (the
  smoke check's budget), `sleep 5`; after 3 failures in a row `gonogo demo switch blue`, then
  `curl` /health/ready once a second until it answers 200.

Each side's process is started on blue, and the demo is switched to green as soon as the side
reports its first measurement, so both meet the failure at the same point of their interval.
The clock starts when `switch(config, "green")` returns (nginx serves green) and stops when
the process exits. gonogo's detection is the time its watch fired (the record's
`watch.started_at` plus the firing measurement's `t`), the script's the time it printed
"rolling back". Each side is bounded at 180 s after the switch, then killed with its process
group.

The sides differ in two ways. gonogo keeps its 5 s schedule, the script sleeps 5 s
after each check, as such scripts do, so green's 0.6 s answers stretch its interval. gonogo
verifies with the `smoke` selection in a new pytest process (29 checks on the demo: the wait
check, the eight smoke requests' status, JSON and latency, both stores, bad input, the OpenAPI
document), the script with one endpoint. A round that does not end on blue with a verified
rollback (gonogo: decision ROLLBACK and `rollback.restored`; the script: exit 0) makes this
script exit 1; a total above the documents' 60 s is printed, not failed. Only 127.0.0.1 is
contacted.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from _demo import demo_as_found

from gonogo.demo.config import SECRET_VARIABLES
from gonogo.demo.deployment import DemoConfig, status, switch
from gonogo.demo.traffic import MAX_DURATION_S, send_traffic
from gonogo.errors import GonogoError

REPO = Path(__file__).resolve().parent.parent
GONOGO_COMMAND = [
    *(sys.executable, "-m", "pytest", "--env=environments/demo.yaml", "-m", "watch"),
    *("--watch", "3m", "--rollback", "-p", "no:cacheprovider", "-q", "--history=none"),
]
BUDGET_S = 60.0  # the documents' rollback budget
BOUND_S = 180.0  # each side's process after the switch (the script also bounds itself)
FIRST_MEASUREMENT_S = 60.0  # start-up allowed before a side reports its first measurement
SETTLE_S = 12.0  # Prometheus's 10 s rate window forgets the previous round's 500s
RATE = 20.0
LEGEND = """\
detection    to gonogo's watch firing / the script printing "rolling back"
to hook      gonogo ending its session (judging, the decision record) before it runs the hook
switch back  the hook / the script's switch: the same `gonogo demo switch blue`
verify       gonogo re-runs `-m smoke` (29 checks) in a new pytest process; the script asks
             /health/ready, once a second, until it answers 200
after        gonogo writing its reports and exiting"""
COLUMNS = ("total", "detection", "to_action", "action", "verification", "after")
SCRIPT = r"""#!/bin/bash
# Health check every 5 s; 3 failures in a row: switch back to blue, then wait until ready.
set -u
curl=(curl -s -o /dev/null --max-time 5 --cacert "$CA")
failures=0
while ((SECONDS < 180)); do
    read -r code took < <("${curl[@]}" -w '%{http_code} %{time_total}' "$BASE/api/v1/status")
    if [[ $code == 200 ]] && awk -v t="$took" 'BEGIN { exit !(t <= 0.3) }'; then
        failures=0
    else
        failures=$((failures + 1))
    fi
    echo "check: $code in ${took} s, $failures failed in a row"
    if ((failures >= 3)); then
        echo "rolling back"
        "$GONOGO" demo switch blue || exit 1
        echo "switched"
        until [[ $("${curl[@]}" -w '%{http_code}' "$BASE/health/ready") == 200 ]]; do
            ((SECONDS < 180)) || exit 1
            sleep 1
        done
        echo "ready"
        exit 0
    fi
    sleep 5
done
exit 1
"""


@dataclass(frozen=True)
class Round:
    """One side's round, in seconds from the switch to green; `problem` says why it was not a
    verified rollback (its times then mean nothing)."""

    total: float = 0.0
    detection: float = 0.0
    to_action: float = 0.0  # gonogo: ending its session, judging, writing the record
    action: float = 0.0  # the hook, or the script's own switch command
    verification: float = 0.0
    fired: str = ""
    problem: str | None = None

    @property
    def after(self) -> float:
        """From the verification to the exit: gonogo writes its reports."""
        return self.total - self.detection - self.to_action - self.action - self.verification


class _Output:
    """A child's stdout as it arrives, with the time each chunk came: pytest rewrites its
    progress line with a carriage return and no newline, so lines would arrive too late."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.text = ""
        self._stamps: list[tuple[int, float]] = []  # length of text after a chunk, its time
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while chunk := os.read(stream.fileno(), 65536):
            arrived = time.time()
            with self._changed:
                self.text += decoder.decode(chunk)
                self._stamps.append((len(self.text), arrived))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def seen(self, text: str, timeout_s: float = 0.0) -> float | None:
        """When `text` first arrived, waiting up to `timeout_s` for it; None if it did not."""
        with self._changed:
            self._changed.wait_for(lambda: text in self.text or self._closed, timeout_s)
            at = self.text.find(text)
            if at < 0:
                return None
            return next(t for length, t in self._stamps if length >= at + len(text))

    def close(self) -> None:
        self._thread.join(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both sides (default 3)")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    try:
        with (
            demo_as_found(REPO) as config,
            _users(config, args.rounds),
            tempfile.TemporaryDirectory(prefix="gonogo-bench-rollback-") as tmp,
        ):
            ours, theirs = _rounds(config, Path(tmp), args.rounds)
    except GonogoError as exc:
        print(exc, file=sys.stderr)
        return 2
    _report(ours, theirs)
    failed = [r.problem for r in (*ours, *theirs) if r.problem]
    for problem in failed:
        print(f"not a verified rollback: {problem}", file=sys.stderr)
    return 1 if failed else 0


@contextmanager
def _users(config: DemoConfig, rounds: int) -> Iterator[None]:
    """Background traffic for as long as the block runs, bounded by what the rounds can take."""
    stop = threading.Event()
    bound = min(MAX_DURATION_S, rounds * 2 * (SETTLE_S + FIRST_MEASUREMENT_S + BOUND_S))
    thread = threading.Thread(
        target=send_traffic,
        args=(config,),
        kwargs={"duration_s": bound, "rate": RATE, "stop": stop},
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)


def _rounds(config: DemoConfig, tmp: Path, rounds: int) -> tuple[list[Round], list[Round]]:
    """gonogo's and the script's rounds, alternating; the demo is left on blue however it ends."""
    script = tmp / "rollback.sh"
    script.write_text(SCRIPT)
    ours: list[Round] = []
    theirs: list[Round] = []
    try:
        for number in range(1, rounds + 1):
            ours.append(_gonogo_round(config, tmp / f"gonogo-{number}"))
            _show(number, "gonogo", ours[-1])
            theirs.append(_script_round(config, script))
            _show(number, "script", theirs[-1])
    finally:
        switch(config, "blue")
    return ours, theirs


def _gonogo_round(config: DemoConfig, report_dir: Path) -> Round:
    _on_blue(config)
    command = [*GONOGO_COMMAND, f"--report-dir={report_dir}"]
    switched, ended, output = _race(config, command, "gonogo watch:")
    if switched is None or ended is None:
        return Round(problem=f"gonogo: {_why(switched, output)}")
    try:
        record = json.loads((report_dir / "decision.json").read_text())
    except (OSError, ValueError) as exc:
        return Round(problem=f"gonogo: no decision record ({exc}): {output.text[-1500:]}")
    rollback = record.get("rollback") or {}
    verify = rollback.get("verify") or {}
    fired_at, fired = _fired(record["watch"])
    active, problem = status(config).active, None
    if record["decision"] != "ROLLBACK" or rollback.get("restored") is not True:
        problem = f"gonogo: {record['decision']}, {rollback.get('note', 'no rollback section')}"
    elif active != "blue":
        problem = f"gonogo: restored, but the demo serves {active}"
    finished = datetime.fromisoformat(record["finished_at"]).timestamp()
    return Round(
        total=ended - switched,
        detection=fired_at - switched,
        to_action=finished - fired_at,
        action=rollback.get("duration_s") or 0.0,
        verification=verify.get("duration_s") or 0.0,
        fired=fired,
        problem=problem,
    )


def _fired(watch: dict[str, Any]) -> tuple[float, str]:
    """When the window fired (wall clock), and which of its entries fired then."""
    started = datetime.fromisoformat(watch["started_at"]).timestamp()
    fired = [e for e in watch["entries"] if e["outcome"] == "fired"]
    if not fired:
        return float("nan"), f"nothing fired ({watch['stopped_early'] or 'the window ran out'})"
    at = min(e["measurements"][-1]["t"] for e in fired)
    return started + at, ", ".join(e["label"] for e in fired)


def _script_round(config: DemoConfig, script: Path) -> Round:
    _on_blue(config)
    switched, ended, output = _race(config, ["bash", str(script)], "check:", _script_env(config))
    if switched is None or ended is None:
        return Round(problem=f"script: {_why(switched, output)}")
    rolling, done, ready = (
        output.seen(f"\n{line}\n") for line in ("rolling back", "switched", "ready")
    )
    if rolling is None or done is None or ready is None:
        return Round(problem=f"script: exited without a verified rollback: {output.text[-1500:]}")
    problem = None if status(config).active == "blue" else "script: the demo is not on blue"
    return Round(
        total=ended - switched,
        detection=rolling - switched,
        action=done - rolling,
        verification=ready - done,
        fired="status: 3 failures in a row",
        problem=problem,
    )


def _script_env(config: DemoConfig) -> dict[str, str]:
    """What `gonogo demo switch` needs to find the demo; not the demo's passwords."""
    public = {k: v for k, v in config.variables().items() if k not in SECRET_VARIABLES}
    return {
        **os.environ,
        **public,
        "BASE": config.url,
        "CA": str(config.ca_file),
        "GONOGO": str(Path(sys.executable).with_name("gonogo")),
    }


def _on_blue(config: DemoConfig) -> None:
    switch(config, "blue")
    time.sleep(SETTLE_S)


def _race(
    config: DemoConfig, command: list[str], first: str, env: dict[str, str] | None = None
) -> tuple[float | None, float | None, _Output]:
    """Start a side, switch the demo to green once it reports `first`, and wait for its exit:
    (when the switch returned, when the side exited, its output); a time is None when that did
    not happen in time, and the side was killed with its process group."""
    env = env or {**os.environ, **config.variables()}
    with subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as process:
        assert process.stdout is not None
        output = _Output(process.stdout)
        switched = ended = None
        try:
            if output.seen(first, FIRST_MEASUREMENT_S) is not None:
                switch(config, "green")
                switched = time.time()
                process.wait(timeout=BOUND_S)
                ended = time.time()
        except subprocess.TimeoutExpired:
            pass
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            output.close()
    return switched, ended, output


def _why(switched: float | None, output: _Output) -> str:
    if switched is None:
        what = f"no first measurement within {FIRST_MEASUREMENT_S:g} s"
    else:
        what = f"still running {BOUND_S:g} s after the switch, killed"
    return f"{what}: {output.text[-1500:]}"


def _show(number: int, side: str, result: Round) -> None:
    if result.problem:
        print(f"round {number}, {side}: {result.problem}")
        return
    print(
        f"round {number}, {side}: {_s(result.total)} in all, fired after {_s(result.detection)} "
        f"({result.fired})"
    )


def _report(ours: list[Round], theirs: list[Round]) -> None:
    print("\nfrom the switch to green returning (nginx serves green) to the side's exit:")
    header = ("", "side", "total", "detection", "to hook", "switch back", "verify", "after")
    rows: list[tuple[str, ...]] = [header]
    for number, (gonogo, script) in enumerate(zip(ours, theirs, strict=True), start=1):
        rows += [_row(str(number), "gonogo", gonogo), _row(str(number), "script", script)]
    rows += [_median_row("gonogo", ours), _median_row("script", theirs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    ratios = [
        g.total / s.total
        for g, s in zip(ours, theirs, strict=True)
        if not g.problem and not s.problem
    ]
    if ratios:
        each = ", ".join(f"{r:.2f}x" for r in ratios)
        print(f"\ngonogo / script, total: {statistics.median(ratios):.2f}x median ({each})")
    totals = [r.total for r in ours if not r.problem]
    if totals:
        worst = max(totals)
        verdict = "met" if worst <= BUDGET_S else "MISSED"
        print(f"gonogo within the documents' {BUDGET_S:g} s: {verdict}, worst round {worst:.1f} s")
    print("\n" + LEGEND)


def _row(number: str, side: str, result: Round) -> tuple[str, ...]:
    if result.problem:
        return (number, side, "failed", *[""] * (len(COLUMNS) - 1))
    return (number, side, *(_s(getattr(result, column)) for column in COLUMNS))


def _median_row(side: str, results: list[Round]) -> tuple[str, ...]:
    done = [r for r in results if not r.problem]
    cells = [[getattr(r, column) for r in done] for column in COLUMNS]
    return ("median", side, *(_s(statistics.median(c)) if c else "-" for c in cells))


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


if __name__ == "__main__":
    sys.exit(main())
