"""Benchmark gonogo's TLS probe against sslyze and sslscan on one local nginx endpoint.

Run from the repository root: `.venv/bin/python bench/tls.py`. It starts nginx on a free
127.0.0.1 port with the demo's TLS settings, times each tool as a whole process (best of 5),
times `probe` inside this process (median of 20), checks that gonogo and sslyze agree on the
accepted versions and TLS 1.2 suites, and stops nginx by its pid. Only 127.0.0.1 is contacted.

Needs, besides nginx (/usr/sbin/nginx):
    sslscan    apt-get install -y sslscan
    sslyze     python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install sslyze
               (its own venv: sslyze is not a gonogo dependency; see --sslyze-python)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gonogo.demo.pki import ensure_pki
from gonogo.probes.tls import probe

SSLYZE_VENV = "/tmp/bench-venv"
SSLYZE_PYTHON = f"{SSLYZE_VENV}/bin/python"
DEMO_CIPHERS = ":".join(
    f"ECDHE-{auth}-{cipher}"
    for auth in ("ECDSA", "RSA")
    for cipher in ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "CHACHA20-POLY1305")
)
SSLYZE_VERSIONS = {
    "ssl_3_0_cipher_suites": "SSLv3",
    "tls_1_0_cipher_suites": "TLSv1",
    "tls_1_1_cipher_suites": "TLSv1.1",
    "tls_1_2_cipher_suites": "TLSv1.2",
    "tls_1_3_cipher_suites": "TLSv1.3",
}
# The demo's server block, minus the proxying (nginx answers by itself).
NGINX_CONF = """
worker_processes 1;
pid "{dir}/nginx.pid";
error_log "{dir}/error.log" notice;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path "{dir}/temp/client_body";
    proxy_temp_path "{dir}/temp/proxy";
    fastcgi_temp_path "{dir}/temp/fastcgi";
    uwsgi_temp_path "{dir}/temp/uwsgi";
    scgi_temp_path "{dir}/temp/scgi";
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate "{cert}";
        ssl_certificate_key "{key}";
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_ciphers {ciphers};
        ssl_prefer_server_ciphers off;
        ssl_session_cache shared:bench_tls:1m;
        ssl_session_tickets off;
        return 200 "ok\\n";
    }}
}}
"""
GONOGO_SNIPPET = """
import json, sys
from pathlib import Path
from gonogo.probes.tls import probe
facts = probe("127.0.0.1", {port}, server_name="localhost", timeout_s=5, ca_file=Path({ca!r}))
json.dump({{"accepted": facts.accepted, "untestable": facts.untestable,
           "tls12": facts.tls12_ciphers, "tls13": facts.tls13_suites}}, sys.stdout)
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sslyze-python", default=SSLYZE_PYTHON)
    parser.add_argument("--runs", type=int, default=5, help="whole-process runs per tool")
    parser.add_argument("--in-process-runs", type=int, default=20)
    args = parser.parse_args()
    nginx, sslscan = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("sslscan")
    missing = _missing(nginx, sslscan, args.sslyze_python)
    if missing:
        print("\n".join(missing), file=sys.stderr)
        return 2
    if sslscan is None:  # reported by _missing; this tells mypy
        return 2
    with (
        tempfile.TemporaryDirectory(prefix="gonogo-bench-tls-") as tmp,
        _nginx(nginx, Path(tmp)) as (port, ca),
    ):
        out = Path(tmp) / "sslyze.json"
        commands = {
            "gonogo": [sys.executable, "-c", GONOGO_SNIPPET.format(port=port, ca=str(ca))],
            "sslyze": [
                args.sslyze_python,
                "-m",
                "sslyze",
                "--quiet",
                "--mozilla_config",
                "disable",
                "--sslv3",
                "--tlsv1",
                "--tlsv1_1",
                "--tlsv1_2",
                "--tlsv1_3",
                "--certinfo",
                "--certinfo_ca_file",
                str(ca),
                "--sni",
                "localhost",
                "--json_out",
                str(out),
                f"127.0.0.1:{port}",
            ],
            "sslscan": [
                sslscan,
                "--no-colour",
                "--sni-name=localhost",
                "--no-compression",
                "--no-fallback",
                "--no-groups",
                "--no-heartbleed",
                "--no-renegotiation",
                f"127.0.0.1:{port}",
            ],
        }
        # Python tools run with compiled bytecode, as an installed package would: this shell
        # may set PYTHONDONTWRITEBYTECODE, which makes every run compile gonogo anew.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        best: dict[str, float] = {}
        outputs: dict[str, str] = {}
        for tool, argv in commands.items():
            best[tool], outputs[tool] = _best_of(argv, args.runs, env)
        agree = _compare(json.loads(outputs["gonogo"]), json.loads(out.read_text()))
        in_process = _in_process(port, ca, args.in_process_runs)
    _report(commands, best, in_process, args.runs, args.in_process_runs)
    return 0 if agree else 1


def _missing(nginx: str, sslscan: str | None, sslyze_python: str) -> list[str]:
    missing = []
    if not Path(nginx).is_file():
        missing.append("nginx not found: apt-get install -y nginx")
    if sslscan is None:
        missing.append("sslscan not found: apt-get install -y sslscan")
    if not Path(sslyze_python).is_file():
        missing.append(
            f"{sslyze_python} not found: python3 -m venv {SSLYZE_VENV} && "
            f"{SSLYZE_VENV}/bin/pip install sslyze (or pass --sslyze-python)"
        )
    return missing


@contextmanager
def _nginx(nginx: str, directory: Path) -> Iterator[tuple[int, Path]]:
    """nginx on a free port with the demo's TLS settings; yields (port, CA file)."""
    pki = ensure_pki(directory)
    (directory / "temp").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conf = directory / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            dir=directory,
            port=port,
            cert=pki.server_cert,
            key=pki.server_key,
            ciphers=DEMO_CIPHERS,
        )
    )
    error_log = directory / "error.log"
    argv = [nginx, "-p", str(directory), "-c", str(conf), "-e", str(error_log)]
    process = subprocess.Popen(
        [*argv, "-g", "daemon off;"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        yield port, pki.ca_cert
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _best_of(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, str]:
    """Fastest whole-process wall time of `runs` after one untimed warm-up, and its output."""
    best, stdout = float("inf"), ""
    for run in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=120, check=False, env=env
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{argv[0]} exited {done.returncode}:\n{done.stderr}")
        if run:
            best, stdout = min(best, elapsed), done.stdout
    return best, stdout


def _compare(gonogo: dict[str, list[str]], sslyze: dict[str, object]) -> bool:
    """Print what each tool found; True when they agree on versions and TLS 1.2 suites."""
    results = sslyze["server_scan_results"][0]["scan_result"]  # type: ignore[index]
    accepted, tls12, tls13 = set(), set(), set()
    for key, version in SSLYZE_VERSIONS.items():
        found = results[key]["result"]
        if found["is_tls_version_supported"]:
            accepted.add(version)
        names = {suite["cipher_suite"]["openssl_name"] for suite in found["accepted_cipher_suites"]}
        tls12 |= names if version == "TLSv1.2" else set()
        tls13 |= names if version == "TLSv1.3" else set()
    untestable = set(gonogo["untestable"])
    same_versions = accepted - untestable == set(gonogo["accepted"]) and not accepted & untestable
    same_tls12 = tls12 == set(gonogo["tls12"])
    print(f"accepted versions  gonogo {sorted(gonogo['accepted'])}  sslyze {sorted(accepted)}")
    print(f"  untestable by gonogo here: {sorted(untestable)} (sslyze: refused)")
    print(f"TLS 1.2 suites     gonogo {sorted(gonogo['tls12'])}")
    print(f"                   sslyze {sorted(tls12)}")
    print(f"TLS 1.3 suites     gonogo {sorted(gonogo['tls13'])} (negotiated only)")
    print(f"                   sslyze {sorted(tls13)}")
    verdict = "agree" if same_versions and same_tls12 else "DISAGREE"
    print(f"versions and TLS 1.2 suites: gonogo and sslyze {verdict}\n")
    return same_versions and same_tls12


def _in_process(port: int, ca: Path, runs: int) -> list[float]:
    """Milliseconds per probe() call after one warm-up (contexts built, trust store loaded)."""
    probe("127.0.0.1", port, server_name="localhost", timeout_s=5, ca_file=ca)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        probe("127.0.0.1", port, server_name="localhost", timeout_s=5, ca_file=ca)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _report(
    commands: dict[str, list[str]],
    best: dict[str, float],
    in_process: list[float],
    runs: int,
    in_process_runs: int,
) -> None:
    base = best["gonogo"]
    print(f"{'tool':<8} {f'best of {runs} (ms)':>18} {'time / gonogo':>14}")
    for tool, seconds in best.items():
        print(f"{tool:<8} {seconds * 1000:>18.1f} {seconds / base:>13.2f}x")
    median = statistics.median(in_process)
    print(
        f"probe() in process, median of {in_process_runs}: {median:.1f} ms "
        f"(min {min(in_process):.1f}, max {max(in_process):.1f})\n"
    )
    targets = [
        ("sslyze >= 5x gonogo", best["sslyze"] / base >= 5, f"{best['sslyze'] / base:.1f}x"),
        ("gonogo faster than sslscan", base < best["sslscan"], f"{best['sslscan'] / base:.2f}x"),
        ("probe() in process < 50 ms", median < 50, f"{median:.1f} ms"),
    ]
    for name, met, figure in targets:
        print(f"target {name:<28} {'met' if met else 'MISSED':<7} ({figure})")
    print("\ncommands:")
    for tool, argv in commands.items():
        shown = " ".join(a if tool != "gonogo" or a != argv[-1] else "'<snippet>'" for a in argv)
        print(f"  {tool}: {shown}")


if __name__ == "__main__":
    sys.exit(main())
