"""Time gonogo's dependency probes and a declarative flow against the commands run by hand today.

Run from the repository root: `.venv/bin/python bench/api.py`. It uses the demo as it finds
it (`gonogo demo up`); when none of it runs, it starts the demo and stops it again at the end.
Then, side by side in one run:

- dependencies: gonogo's `probe_dependency` for the demo's PostgreSQL (log in, SELECT 1, the
  schema query in a read-only transaction) and Redis (AUTH, PING, INFO server, SET/GET/DEL of
  a scratch key), in process, median of 20 after one warm-up; against what the documents run:
  `pg_isready`, `psql -tAc QUERY` and four `redis-cli` processes (PING, SET ... PX 30000, GET,
  DEL, as a script doing the round trip would), each a whole process, best of 5 after one
  warm-up;
- the flow: gonogo's `run_flow` of the demo's `item-round-trip` (login, create, read, listed,
  delete, gone, then the create step's cleanup DELETE, which meets the 404 it accepts: 7
  requests), in process, median of 10 after one warm-up; against the same six requests as
  `curl` processes, the token taken from the login JSON in Python between them, best of 5
  after one warm-up.

Both sides must find the same facts (query value 2, PONG, the round trip done; statuses 200,
201, 200, 200, 204, 404) or the script exits 1; missed speed targets are printed, not failed.
The medians are set against best runs, which favours the command-line side.

Passwords and the token never appear on argv: PGPASSWORD and REDISCLI_AUTH carry the store
passwords, 0600 files in a private temporary directory the login body (`--data @file`) and the
Authorization header (`-H @file`). Only 127.0.0.1 is contacted.

nginx lets one address log in 30 times a minute, in bursts of up to 40 beyond that pace. One
run logs in 17 times in about 2 s (11 gonogo, 6 curl), and nginx forgets one every 2 s: leave
35 s between runs, and do not run it while other suites log in to the same demo; a login
refused with 429 makes the script exit 1 and say so.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _demo import demo_as_found

from gonogo.demo.deployment import DemoConfig
from gonogo.environment_dependencies import Dependency
from gonogo.environment_file import LoadedEnvironment, load_environment
from gonogo.errors import GonogoError, TargetUnreachableError
from gonogo.flows import FlowRun, run_flow
from gonogo.probes.dependencies import DependencyFacts, probe_dependency
from gonogo.probes.http import tls_context

REPO = Path(__file__).resolve().parent.parent
QUERY = "SELECT count(*) FROM pg_tables WHERE tablename IN ('items', 'files')"
FLOW = "item-round-trip"
EXPECTED_FACTS = {"accepting": True, "query": 2, "ping": "PONG", "round trip": "ok"}
EXPECTED_STATUSES = [200, 201, 200, 200, 204, 404]
PROBE_ROUNDS, FLOW_ROUNDS, CLI_RUNS = 20, 10, 5
TIMEOUT_S = 5.0
TOOLS = {
    "pg_isready": "postgresql-client",
    "psql": "postgresql-client",
    "redis-cli": "redis-tools",
    "curl": "curl",
}


class _Unexpected(Exception):
    """A curl step got another status than the flow expects: the steps after it are not run."""


def main() -> int:
    found = {name: _tool(name) for name in TOOLS}
    tools = {name: path for name, path in found.items() if path is not None}
    missing = [f"{name}: apt-get install -y {TOOLS[name]}" for name in TOOLS if name not in tools]
    if missing:
        print("not found:\n  " + "\n  ".join(missing), file=sys.stderr)
        return 2
    try:
        with (
            demo_as_found(Path.cwd()) as config,
            tempfile.TemporaryDirectory(prefix="gonogo-bench-api-") as tmp,
        ):
            variables = config.variables()
            loaded = load_environment(
                REPO / "environments" / "demo.yaml", {**os.environ, **variables}
            )
            dependencies = _dependencies(config, variables)
            ours = _gonogo_dependencies(dependencies)
            cli_env = {
                **os.environ,
                "PGPASSWORD": variables["GONOGO_DEMO_POSTGRES_PASSWORD"],
                "REDISCLI_AUTH": variables["GONOGO_DEMO_REDIS_PASSWORD"],
            }
            theirs, commands = _cli_dependencies(tools, config, cli_env)
            flow_ours = _gonogo_flow(loaded)
            flow_theirs, curl = _curl_flows(
                tools["curl"], config, variables["GONOGO_DEMO_PASSWORD"], Path(tmp)
            )
    except TargetUnreachableError as exc:  # gonogo found no answer where the tools may have
        print(exc, file=sys.stderr)
        return 1
    except GonogoError as exc:
        print(exc, file=sys.stderr)
        return 2
    wrong = _disagreements(ours, theirs, flow_ours, flow_theirs)
    if wrong:  # figures of runs that did not find the facts would compare nothing
        expected = " ".join(map(str, EXPECTED_STATUSES))
        print(
            f"the sides did not find the expected facts (flow statuses: {expected}; a 429 is "
            "the login rate limit, other statuses may mean green is active):\n  "
            + "\n  ".join(wrong),
            file=sys.stderr,
        )
        return 1
    _report(ours, theirs, flow_ours, flow_theirs, [*commands, curl])
    return 0


def _tool(name: str) -> str | None:
    """PATH first; pg_isready and psql also live in PostgreSQL's versioned bin directory."""
    found = shutil.which(name)
    if found is None:
        versioned = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
        found = str(versioned[-1]) if versioned else None
    return found


def _dependencies(config: DemoConfig, variables: dict[str, str]) -> list[Dependency]:
    return [
        Dependency.model_validate(
            {
                "name": "postgres",
                "url": f"postgresql://demo@127.0.0.1:{config.postgres_port}/demo",
                "password": variables["GONOGO_DEMO_POSTGRES_PASSWORD"],
                "query": {"sql": QUERY, "equals": 2},
            }
        ),
        Dependency.model_validate(
            {
                "name": "redis",
                "url": f"redis://127.0.0.1:{config.redis_port}/0",
                "password": variables["GONOGO_DEMO_REDIS_PASSWORD"],
                "round_trip": True,
            }
        ),
    ]


def _gonogo_dependencies(dependencies: list[Dependency]) -> dict[str, Any]:
    """Median per column over the rounds; the warm-up pays for importing the drivers. Every
    round's facts are checked: it stops at the first round that finds others."""
    times: dict[str, list[float]] = {"postgres": [], "redis": [], "total": []}
    for attempt in range(PROBE_ROUNDS + 1):
        found: dict[str, DependencyFacts] = {}
        for dependency in dependencies:
            started = time.perf_counter()
            found[dependency.label] = probe_dependency(
                dependency, timeout_s=TIMEOUT_S, ca_file=None, verify_tls=True
            )
            if attempt:
                times[dependency.label].append((time.perf_counter() - started) * 1000)
        if attempt:
            times["total"].append(times["postgres"][-1] + times["redis"][-1])
        postgres, redis = found["postgres"], found["redis"]
        facts = {
            "accepting": True,  # probe_postgres raises unless it logged in and SELECT 1 answered
            "query": postgres.query_error or postgres.query_value,
            "ping": "PONG",  # probe_redis raises unless PING was answered
            "round trip": redis.round_trip_error or ("ok" if redis.round_trip_done else "not done"),
        }
        if facts != EXPECTED_FACTS:
            break
    return {
        "ms": {column: statistics.median(values) for column, values in times.items() if values},
        "facts": facts,
        "server": f"{postgres.server}, {redis.server}",
    }


def _cli_dependencies(
    tools: dict[str, str], config: DemoConfig, env: dict[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Best per column over the runs; each run uses a new scratch key, as each script run would.
    Every run's facts are checked: it stops at the first run that finds others."""
    host, pg_port, redis_port = "127.0.0.1", str(config.postgres_port), str(config.redis_port)
    pg_isready = [tools["pg_isready"], "-h", host, "-p", pg_port]
    psql = [
        tools["psql"],
        f"host={host} port={pg_port} user=demo dbname=demo",
        *("-tAc", QUERY),
    ]
    redis_cli = [tools["redis-cli"], "-h", host, "-p", redis_port, "--no-auth-warning"]
    times: dict[str, list[float]] = {"postgres": [], "redis": [], "total": []}
    for attempt in range(CLI_RUNS + 1):
        key = f"gonogo:bench:{secrets.token_hex(8)}"
        started = time.perf_counter()
        ready, count = _run(pg_isready, env), _run(psql, env)
        middle = time.perf_counter()
        said = [
            _run([*redis_cli, *command], env)
            for command in (["PING"], ["SET", key, "v", "PX", "30000"], ["GET", key], ["DEL", key])
        ]
        ended = time.perf_counter()
        if attempt:
            times["postgres"].append((middle - started) * 1000)
            times["redis"].append((ended - middle) * 1000)
            times["total"].append((ended - started) * 1000)
        round_trip = [out for _, out in said[1:]]
        facts = {
            "accepting": ready[0] == 0,
            "query": int(count[1]) if count[0] == 0 and count[1].isdigit() else count[1],
            "ping": said[0][1],
            "round trip": "ok" if round_trip == ["OK", "v", "1"] else f"SET/GET/DEL: {round_trip}",
        }
        if facts != EXPECTED_FACTS:
            break
    shown = [
        shlex.join(pg_isready),
        f'PGPASSWORD=... {psql[0]} "{psql[1]}" -tAc "{QUERY}"',  # as typed, not shlex-quoted
        f"REDISCLI_AUTH=... {shlex.join(redis_cli)} PING | SET {key} v PX 30000 | GET | DEL",
    ]
    ms = {column: min(values) for column, values in times.items() if values}
    return {"ms": ms, "facts": facts}, shown


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=TIMEOUT_S * 6, check=False
    )
    return done.returncode, (done.stdout.strip() or done.stderr.strip())


def _gonogo_flow(loaded: LoadedEnvironment) -> dict[str, Any]:
    """A new run_id per round, so each creates its own item; stops at the first failed round
    rather than spend more of the login rate limit."""
    environment = loaded.environment
    flow = next(flow for flow in environment.flows if flow.name == FLOW)
    tls = tls_context(environment.defaults.ca_file, environment.defaults.verify_tls)
    times: list[float] = []
    for attempt in range(FLOW_ROUNDS + 1):
        started = time.perf_counter()
        run = run_flow(
            flow,
            resolve_url=environment.url,
            default_headers=environment.defaults.headers,
            timeout_s=environment.defaults.timeout_s,
            tls=tls,
            run_id=uuid.uuid4().hex[:12],
            learn_secret=loaded.redactor.add,
        )
        if attempt:
            times.append((time.perf_counter() - started) * 1000)
        if not run.passed:
            break
    return {"ms": statistics.median(times) if times else None, "run": run}


def _flow_statuses(run: FlowRun) -> list[int]:
    return [step.response.status for step in run.steps if step.response is not None]


def _curl_flows(
    curl: str, config: DemoConfig, password: str, tmp: Path
) -> tuple[dict[str, Any], str]:
    """Best of the runs; every run is checked, so one odd status anywhere counts."""
    login, auth, out = tmp / "login.json", tmp / "authorization", tmp / "body"
    _write_private(login, json.dumps({"username": "demo", "password": password}))
    command = [
        *(curl, "-sS", "--max-time", f"{TIMEOUT_S:g}", "--cacert", str(config.ca_file)),
        *("-o", str(out), "-w", "%{http_code}"),
    ]
    times, seen = [], []
    for attempt in range(CLI_RUNS + 1):
        elapsed, statuses = _curl_flow(command, config.url, login, auth, out)
        seen.append(statuses)
        if attempt:
            times.append(elapsed * 1000)
        if statuses != EXPECTED_STATUSES:
            break
    shown = f"{shlex.join(command)} [-X METHOD] [-H @{auth.name}] [--data @{login.name}|JSON] URL"
    return {"ms": min(times) if times else None, "statuses": seen[-1]}, shown


def _curl_flow(
    curl: list[str], base: str, login: Path, auth: Path, out: Path
) -> tuple[float, list[int]]:
    """The six requests of the flow as a script would make them, one curl process each; stops
    at the first unexpected status, and deletes the item if it was created but not deleted."""
    statuses: list[int] = []

    def step(expected: int, *args: str) -> bytes:
        out.unlink(missing_ok=True)
        done = subprocess.run([*curl, *args], capture_output=True, text=True, check=False)
        statuses.append(int(done.stdout) if done.stdout.isdigit() else 0)
        if statuses[-1] != expected:
            raise _Unexpected
        return out.read_bytes() if out.exists() else b""

    post_json = ["-X", "POST", "-H", "content-type: application/json", "--data"]
    bearer = ["-H", f"@{auth}"]
    leftover = None
    started = time.perf_counter()
    try:
        answer = step(200, *post_json, f"@{login}", f"{base}/api/v1/login")
        _write_private(auth, f"Authorization: Bearer {json.loads(answer)['access_token']}\n")
        body = {"name": f"gonogo-bench-{uuid.uuid4().hex[:12]}", "description": "bench/api.py"}
        created = step(201, *post_json, json.dumps(body), *bearer, f"{base}/api/v1/items")
        item = leftover = f"{base}/api/v1/items/{json.loads(created)['id']}"
        step(200, *bearer, item)
        step(200, *bearer, f"{base}/api/v1/items")
        step(204, "-X", "DELETE", *bearer, item)
        leftover = None
        step(404, *bearer, item)
    except (_Unexpected, ValueError, KeyError):
        if leftover is not None:
            subprocess.run([*curl, "-X", "DELETE", *bearer, leftover], capture_output=True)
    return time.perf_counter() - started, statuses


def _write_private(path: Path, text: str) -> None:
    """Created 0600 before anything is written, so the secret is never readable by others."""
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
        file.write(text)


def _report(
    ours: dict[str, Any],
    theirs: dict[str, Any],
    flow_ours: dict[str, Any],
    flow_theirs: dict[str, Any],
    commands: list[str],
) -> None:
    print(f"\ndependencies ({ours['server']})")
    print(f"{'side':<44} {'postgres':>9} {'redis':>8} {'total':>8} {'vs gonogo':>10}")
    base = ours["ms"]["total"]
    for side, row in (
        (f"gonogo probe_dependency x2, median of {PROBE_ROUNDS}", ours["ms"]),
        (f"pg_isready + psql + 4 redis-cli, best of {CLI_RUNS}", theirs["ms"]),
    ):
        print(
            f"{side:<44} {row['postgres']:>6.1f} ms {row['redis']:>5.1f} ms "
            f"{row['total']:>5.1f} ms {row['total'] / base:>9.2f}x"
        )
    print(f"\nflow {FLOW}")
    print(f"{'side':<44} {'time':>9} {'vs gonogo':>10}")
    flow_base = flow_ours["ms"]
    for side, ms in (
        (f"gonogo run_flow (7 requests), median of {FLOW_ROUNDS}", flow_ours["ms"]),
        (f"6 curl processes, best of {CLI_RUNS}", flow_theirs["ms"]),
    ):
        print(f"{side:<44} {ms:>6.1f} ms {ms / flow_base:>9.2f}x")
    print()
    targets = [
        ("gonogo dependency probes faster than the CLI", base, theirs["ms"]["total"]),
        ("gonogo flow faster than curl processes", flow_ours["ms"], flow_theirs["ms"]),
    ]
    for name, gonogo, cli in targets:
        verdict = "met" if gonogo < cli else "MISSED"
        print(f"target {name:<46} {verdict:<7} ({cli / gonogo:.2f}x)")
    print("\ncommands (passwords via the environment and 0600 files, never argv):")
    print("\n".join(f"  {command}" for command in commands))
    print("  this benchmark: .venv/bin/python bench/api.py")


def _disagreements(
    ours: dict[str, Any],
    theirs: dict[str, Any],
    flow_ours: dict[str, Any],
    flow_theirs: dict[str, Any],
) -> list[str]:
    """What each side found where it is not what both must find; empty when all agree."""
    wrong = []
    for side, facts in (("gonogo", ours["facts"]), ("CLI", theirs["facts"])):
        if facts != EXPECTED_FACTS:
            wrong.append(f"dependencies, {side}: {facts}, expected {EXPECTED_FACTS}")
    run: FlowRun = flow_ours["run"]
    if _flow_statuses(run) != EXPECTED_STATUSES or not run.passed:
        reasons = [s.describe() for s in run.steps if s.outcome != "passed"]
        reasons += [c.problem for c in run.cleanups if not c.ok]
        wrong.append(f"flow, gonogo: statuses {_flow_statuses(run)}; " + "; ".join(reasons))
    if flow_theirs["statuses"] != EXPECTED_STATUSES:
        wrong.append(f"flow, curl: statuses {flow_theirs['statuses']}")
    return wrong


if __name__ == "__main__":
    sys.exit(main())
