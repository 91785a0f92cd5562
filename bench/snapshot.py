"""Time writing the demo's environment file from the live deployment: `gonogo snapshot` against
the pile of tools a person would otherwise run to gather the same facts.

Run from the repository root: `.venv/bin/python bench/snapshot.py [--runs N]` (default 5). It
uses the demo as it finds it (`gonogo demo up`); when none of it runs, it starts the demo and
stops it again at the end. Then, side by side on the same demo, each side a whole run, the two
alternating, best of N after one untimed warm-up of each:

- gonogo: `python -m gonogo snapshot BASE HTTP/ --ports <the demo's https, http, admin, blue,
  green and worker ports> --server-name localhost --ca-file CA --docker ENGINE --project
  PROJECT --host local:// -o FILE --force` in a new process: health paths, a port scan (those
  ports and the risky store and admin ports), TLS, the redirect, headers, cookies, the
  project's containers with their logs, the listening sockets; a file that loads;
- the pile, one process after another as a script would run them: sslyze (versions SSLv3 to
  TLS 1.3, certinfo against the demo CA, SNI localhost), `nmap -sT` over the same ports,
  `curl` of the base URL, of each of gonogo's health paths and of its absent-page probe, `curl`
  of the http:// URL for the redirect, `docker ps` of the project, then `docker inspect` and
  `docker logs` of each container, and `ss -tlnH`. Raw output, still to be read and written
  as YAML by hand.

Afterwards the last file gonogo wrote is loaded with `load_environment` (its entries per
section are printed) and run once with `pytest --env=FILE`: its decision must be GO on the
blue demo, or this script exits 1, as it does when a command fails or times out. Only
127.0.0.1 and the demo's Docker engine are contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _demo import demo_as_found

from gonogo.demo.deployment import DemoConfig
from gonogo.environment_file import load_environment
from gonogo.errors import GonogoError
from gonogo.snapshot import ABSENT_PATH, HEALTH_PATHS, RISKY_PORTS

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 120.0  # per command; each runs in a few seconds at most
CURL_TIMEOUT_S = 5  # curl's own --max-time, gonogo's per-operation default
PYTEST_TIMEOUT_S = 600.0
INSTALL = "`make bench` installs it (scripts/install-bench-tools.sh)"


class _RunError(Exception):
    """A command failed or ran out of time, or gonogo's file did not load: no figure holds."""


@dataclass(frozen=True)
class PileRun:
    """One run of the pile: its wall time, each tool's share, and the raw output it left."""

    seconds: float
    tools: dict[str, tuple[int, float]]  # tool -> (processes, seconds)
    containers: int
    output_bytes: int
    output_lines: int

    @property
    def processes(self) -> int:
        return sum(count for count, _ in self.tools.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each side (default 5)")
    parser.add_argument("--sslyze-python", default=".venv-bench/bin/python")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: expected at least 1")
    missing = _missing(args.sslyze_python)
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    try:
        with (
            demo_as_found(REPO) as config,
            tempfile.TemporaryDirectory(prefix="gonogo-bench-snapshot-") as tmp,
        ):
            return _bench(config, Path(tmp), args.runs, args.sslyze_python)
    except GonogoError as exc:
        print(exc, file=sys.stderr)
        return 2
    except _RunError as exc:
        print(exc, file=sys.stderr)
        return 1


def _missing(sslyze_python: str) -> list[str]:
    missing = [
        f"{tool} not found: {INSTALL}" for tool in ("nmap", "curl") if shutil.which(tool) is None
    ]
    if shutil.which("docker") is None:
        missing.append("docker not found: install the Docker CLI (docker-ce-cli or docker.io)")
    if shutil.which("ss") is None:
        missing.append("ss not found: apt-get install -y iproute2")
    if not Path(sslyze_python).is_file():
        missing.append(f"{sslyze_python} not found (sslyze's own venv): {INSTALL}")
    return missing


def _bench(config: DemoConfig, tmp: Path, runs: int, sslyze_python: str) -> int:
    # As an installed package would have its bytecode, without writing into the source tree.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    docker_host = config.variables().get("GONOGO_DEMO_DOCKER_HOST", "")
    out = tmp / "snapshot.yaml"
    gonogo = _gonogo_command(config, docker_host, out)
    fixed = _pile_commands(config, sslyze_python)
    docker = ["docker", *(("-H", docker_host) if docker_host else ())]
    print(f"gonogo: {shlex.join(gonogo)}")
    ours: list[float] = []
    theirs: list[PileRun] = []
    for attempt in range(runs + 1):  # the first of each is the untimed warm-up
        started = time.perf_counter()
        written = _run(gonogo, env)
        seconds = time.perf_counter() - started
        pile = _pile(fixed, docker, config.project, env)
        if attempt:
            ours.append(seconds)
            theirs.append(pile)
    summary = written.stderr.decode(errors="replace").strip().splitlines()
    print(summary[-1] if summary else "gonogo snapshot: printed no summary")
    best_ours, best_pile = min(ours), min(theirs, key=lambda run: run.seconds)
    _report(best_ours, best_pile, runs)
    _load(out)
    return _decide(out, config, tmp / "reports")


def _demo_ports(config: DemoConfig) -> list[int]:
    """The ports both sides scan besides the risky ones: https, http, admin, blue, green, worker."""
    return [
        *(config.https_port, config.http_port, config.admin_port),
        *(config.blue_port, config.green_port, config.worker_port),
    ]


def _gonogo_command(config: DemoConfig, docker_host: str, out: Path) -> list[str]:
    ports = _demo_ports(config)
    return [
        *(sys.executable, "-m", "gonogo", "snapshot", config.url),
        f"http://{config.host}:{config.http_port}/",
        *("--ports", ",".join(str(port) for port in ports)),
        *("--server-name", "localhost", "--ca-file", str(config.ca_file)),
        *("--docker", docker_host, "--project", config.project, "--host", "local://"),
        *("-o", str(out), "--force"),
    ]


def _pile_commands(config: DemoConfig, sslyze_python: str) -> list[list[str]]:
    """Every command of the pile but the Docker ones, which depend on what `docker ps` lists."""
    ca = str(config.ca_file)
    ports = {*_demo_ports(config), *RISKY_PORTS}
    curl = ["curl", "-s", "--max-time", str(CURL_TIMEOUT_S), "-D", "-", "-o", "/dev/null"]
    return [
        [
            *(sslyze_python, "-m", "sslyze", "--quiet", "--mozilla_config", "disable"),
            *("--sslv3", "--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--certinfo"),
            *("--certinfo_ca_file", ca, "--sni", "localhost", "--json_out", "-"),
            f"{config.host}:{config.https_port}",
        ],
        [
            *("nmap", "-sT", "-Pn", "-n", "--host-timeout", "60s"),
            *("-p", ",".join(str(port) for port in sorted(ports)), config.host),
        ],
        *(
            [*curl, "-k", "--cacert", ca, f"{config.url}{path}"]
            for path in ("/", *HEALTH_PATHS, ABSENT_PATH)
        ),
        [*curl, f"http://{config.host}:{config.http_port}/"],
        ["ss", "-tlnH"],
    ]


def _pile(fixed: list[list[str]], docker: list[str], project: str, env: dict[str, str]) -> PileRun:
    tools: dict[str, tuple[int, float]] = {}
    outputs: list[bytes] = []

    def run(argv: list[str]) -> bytes:
        started = time.perf_counter()
        done = _run(argv, env)
        tool = "sslyze" if "sslyze" in argv else Path(argv[0]).name
        count, seconds = tools.get(tool, (0, 0.0))
        tools[tool] = (count + 1, seconds + time.perf_counter() - started)
        outputs.append(done.stdout + done.stderr)
        return done.stdout

    started = time.perf_counter()
    for argv in fixed:
        run(argv)
    label = f"label=com.docker.compose.project={project}"
    ids = run([*docker, "ps", "-a", "--filter", label, "-q"]).decode().split()
    for container in ids:
        run([*docker, "inspect", container])
        run([*docker, "logs", container])
    seconds = time.perf_counter() - started
    output = b"".join(outputs)
    return PileRun(seconds, tools, len(ids), len(output), output.count(b"\n"))


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        what = f"`{shlex.join(argv)}`: still running after {TIMEOUT_S:g} s, killed"
        raise _RunError(what) from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()[-1500:]
        raise _RunError(f"`{shlex.join(argv)}` exited {done.returncode}: {said}")
    return done


def _report(ours: float, pile: PileRun, runs: int) -> None:
    tools = " + ".join(
        f"{count} {tool}" if count > 1 else tool for tool, (count, _) in pile.tools.items()
    )
    rows = [
        ("side", f"best of {runs}, whole run", "time / pile"),
        ("gonogo snapshot, one process", f"{ours:.2f} s", f"{ours / pile.seconds:.2f}x"),
        (f"{tools}, in turn", f"{pile.seconds:.2f} s", "1.00x"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    shares = ", ".join(f"{tool} {seconds:.2f} s" for tool, (_, seconds) in pile.tools.items())
    print(f"\nthe pile's best run, by tool: {shares} ({pile.containers} container(s))")
    print(f"gonogo / pile: {ours / pile.seconds:.2f}x")
    print(
        f"the pile left {pile.output_lines} lines ({pile.output_bytes / 1024:.0f} KiB) of raw "
        f"output from {pile.processes} processes, still to be read and written as YAML by hand"
    )


def _load(out: Path) -> None:
    """gonogo's file, loaded as `pytest --env` loads it; a failure here is the script's exit 1."""
    try:
        environment = load_environment(out, os.environ).environment
    except GonogoError as exc:
        raise _RunError(f"gonogo's file does not load: {exc}") from None
    counts = []
    for name in type(environment).model_fields:
        value = getattr(environment, name)
        if isinstance(value, list) and value and name != "public_variables":
            counts.append(f"{len(value)} {name}")
    wait = "; wait set" if environment.wait is not None else ""
    lines = len(out.read_text().splitlines())
    print(f"gonogo's file: {lines} lines, loads: entries {', '.join(counts)}{wait}")


def _decide(out: Path, config: DemoConfig, report_dir: Path) -> int:
    """Run the file once, as a user would; GO is expected from the blue demo."""
    command = [
        *(sys.executable, "-m", "pytest", f"--env={out}", f"--report-dir={report_dir}"),
        *("-p", "no:cacheprovider", "-q"),
    ]
    env = {**os.environ, **config.variables()}
    try:
        ran = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=PYTEST_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        print(f"pytest --env=FILE: still running after {PYTEST_TIMEOUT_S:g} s", file=sys.stderr)
        return 1
    try:
        decision = json.loads((report_dir / "decision.json").read_text())["decision"]
    except (OSError, ValueError, KeyError) as exc:
        print(f"pytest --env=FILE: no decision ({exc}): {ran.stdout[-1500:]}", file=sys.stderr)
        return 1
    lines = ran.stdout.strip().splitlines()
    tally = next((line for line in reversed(lines) if line[:1].isdigit()), "no tally")
    print(f"pytest --env=FILE: {decision} ({tally})")
    if decision != "GO":
        print(f"expected GO on the blue demo:\n{ran.stdout[-3000:]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
