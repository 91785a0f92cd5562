"""Benchmark the whole edge stage on the demo against the pile of tools it replaces.

Run from the repository root: `.venv/bin/python bench/edge.py`. It starts a private demo
(blue) on free 127.0.0.1 ports, then times, best of 3 after one warm-up:

- gonogo: `pytest --env=environments/demo.yaml -m edge` as a whole process (ports 1-1024 and
  the demo's ports, TLS, redirect, headers and grade, cookies, CORS, compression, caching,
  body limit, rate limit, exposed paths);
- the pile: `nmap -sT` over the same ports, sslyze over the same TLS scope, and one `curl`
  per request the edge checks make, run one after another as a script would.

It stops the demo by its pid files. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gonogo.demo.deployment import DemoConfig, down, up

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 2.0


def _best(argvs: list[list[str]], env: dict[str, str], runs: int = 3) -> float:
    """Best wall time of running every argv in turn; one untimed warm-up first."""
    times = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        for argv in argvs:
            subprocess.run(argv, env=env, capture_output=True, timeout=300, check=False)
        if attempt:
            times.append(time.perf_counter() - started)
    return min(times)


def _pile(config: DemoConfig, sslyze_python: str, oversized: Path) -> list[list[str]]:
    https, http = f"https://127.0.0.1:{config.https_port}", f"http://127.0.0.1:{config.http_port}"
    ca = str(config.ca_file)
    curl = ["curl", "-s", "-o", "/dev/null", "-D", "-", "--max-time", "5", "--cacert", ca]
    login = [
        *("-X", "POST", "-H", "content-type: application/json"),
        *("--data", '{"username":"demo","password":"x"}'),
    ]
    ports = f"1-1024,{config.https_port},{config.http_port},{config.admin_port}"
    cors = [
        [*curl, "-X", "OPTIONS", "-H", f"Origin: {o}", "-H", "Access-Control-Request-Method: GET"]
        for o in ("https://app.demo.test", "https://evil.example")
    ] + [[*curl, "-H", f"Origin: {o}"] for o in ("https://app.demo.test", "https://evil.example")]
    exposed = ["/.git/config", "/.env", "/nginx_status", "/server-status", "/console", "/debug"]
    return [
        ["nmap", "-sT", "-Pn", "-n", "-p", ports, "127.0.0.1"],
        [
            *(sslyze_python, "-m", "sslyze", "--quiet", "--mozilla_config", "disable"),
            *("--tlsv1", "--tlsv1_1", "--tlsv1_2", "--tlsv1_3", "--certinfo"),
            *("--certinfo_ca_file", ca, "--sni", "localhost", f"127.0.0.1:{config.https_port}"),
        ],
        [*curl, f"{http}/api/v1/status?probe=1"],
        [*curl, f"{https}/api/v1/status"],
        [*curl, f"{https}/health/live"],
        [*curl, *login, f"{https}/api/v1/login"],
        *[[*c, f"{https}/api/v1/status"] for c in cors],
        [*curl, "-H", "Accept-Encoding: gzip", f"{https}/api/v1/catalog"],
        [*curl, f"{https}/static/app.css"],
        [*curl, "-X", "POST", "--data-binary", f"@{oversized}", f"{https}/api/v1/items"],
        *[[*curl, "-X", "POST", f"{https}/api/v1/password-reset"] for _ in range(7)],
        *[[*curl, f"{https}{path}"] for path in exposed],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sslyze-python", default=".venv-bench/bin/python")
    options = parser.parse_args()
    missing = [tool for tool in ("nmap", "curl") if shutil.which(tool) is None]
    if missing or not Path(options.sslyze_python).exists():
        print(f"missing: {missing or options.sslyze_python}; run `make bench`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gonogo-bench-edge-") as scratch:
        config = DemoConfig.with_free_ports(Path(scratch) / "demo")
        try:
            up(config)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
            env = {**env, **config.variables(), "PYTHONPYCACHEPREFIX": f"{scratch}/pycache"}
            gonogo = [
                *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "edge"),
                f"--env={REPO / 'environments' / 'demo.yaml'}",
                f"--report-dir={scratch}/reports",
            ]
            checked = subprocess.run(gonogo, env=env, capture_output=True, text=True, check=False)
            print(checked.stdout.strip().splitlines()[-1])
            ours = _best([gonogo], env)
            oversized = Path(scratch) / "oversized.bin"
            oversized.write_bytes(bytes(16 * 1024 * 1024 + 1))
            tools = _pile(config, options.sslyze_python, oversized)
            pile = _best(tools, env)
        finally:
            down(config)
    print(f"gonogo edge stage, whole process: {ours:.2f} s (target < {TARGET_S:g} s)")
    print(
        f"nmap + sslyze + {len(tools) - 2} curl, in turn: {pile:.2f} s ({pile / ours:.2f}x gonogo)"
    )
    if ours >= TARGET_S:
        print(f"target missed: {ours:.2f} s >= {TARGET_S:g} s")
    return 0 if checked.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
