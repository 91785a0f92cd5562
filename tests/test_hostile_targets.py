"""The suite against hostile targets: a gate runs exactly when things are broken, so it must
behave best when its targets behave worst.

Each test points the checks a user would naturally point at one misbehaving server (see
tests/hostile_servers.py) and runs the real suite as a child process, as a user runs it. It
asserts that the decision is NO-GO; that every check touching the target failed with a
finding naming the URL and what happened (a few checks whose claim stays true, such as "the
port accepts" against a server that accepts and then hangs, are listed as passing, with why);
that each check ended within its own timeout (2 x timeout + 1 s); that the child's peak memory
stayed within the baseline run's plus MEMORY_MARGIN_MB; and that the whole run ended within a
bound computed from the timeouts. The baseline is the same kinds of checks against a
well-behaved server and real Redis and PostgreSQL: it must be GO.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gonogo.bad_input import bad_cases
from gonogo.environment_flows import BadInput
from gonogo.errors import TargetTimeoutError
from gonogo.probes.bad_input import send_cases
from gonogo.probes.http import fetch
from gonogo.probes.limits import burst
from gonogo.probes.openapi import Operation, call_operations
from tests import hostile_servers as hostile
from tests.certificates import trusted_leaf
from tests.dependency_servers import BANNER, DatabaseServer, RedisServer
from tests.netns import IP, namespace_pair, run_in
from tests.server_kit import Listener

REPO = Path(__file__).resolve().parent.parent
TIMEOUT_S = 1.0  # defaults.timeout_s of every environment here
# One check may run a little past its timeout (a connect, then a whole exchange; libpq rounds
# its connect timeout up to 2 s), never much more.
CHECK_BOUND_S = 2 * TIMEOUT_S + 1
WAIT = {"check": "live", "attempts": 2, "interval_s": 0.1}
WAIT_BOUND_S = WAIT["attempts"] * CHECK_BOUND_S + WAIT["interval_s"]
# Peak RSS over the baseline a hostile run may reach. Every body is capped at 1 MiB (an
# OpenAPI document at 16 MiB) and headers at 100 KiB, so a bounded run stays within a few MiB
# of the baseline; 64 MiB still catches a body or header block read whole (a 10 GB body, or
# the endless one, would be gigabytes), without failing on allocator noise.
MEMORY_MARGIN_MB = 64
# What a run costs beyond its checks (interpreter, collection, reports), over the baseline's.
OVERHEAD_SLACK_S = 10.0
CHILD_LIMIT_S = 240  # a child still running by then is killed: the test fails, never hangs
UNRESOLVABLE = "gonogo-hostile.invalid"  # RFC 6761: never a real name


@dataclass(frozen=True)
class Run:
    """One run of the suite as a child process: its exit code, decision record and costs."""

    returncode: int
    record: dict[str, Any]
    output: str
    wall_s: float
    peak_rss_mb: float

    @property
    def checks(self) -> dict[str, dict[str, Any]]:
        return {check["id"]: check for check in self.record["checks"]}

    @property
    def overhead_s(self) -> float:
        """Wall time not spent inside any check."""
        return self.wall_s - sum(check["duration_s"] for check in self.record["checks"])


# wait4 on a child of this process would report at least this process's own peak RSS: Popen
# (v)forks it, and exec keeps the larger of the old and the new memory's high-water marks.
# So a small launcher, started by Popen and reaped with wait4, forks the suite from its own
# few MiB, reaps it with wait4 and writes down the suite's ru_maxrss (KiB on Linux).
_LAUNCHER = """
import json, os, sys
usage_file, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(usage_file, "w") as out:
    json.dump({"ru_maxrss": usage.ru_maxrss}, out)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_suite(environment: dict[str, Any], directory: Path, prefix: Sequence[str] = ()) -> Run:
    """The real suite with `environment` as its file; its peak RSS as wait4 reports it.

    `prefix` runs it inside something (a network namespace, a mount namespace); each of those
    execs the suite in place, so the pid reaped is the suite's own.
    """
    env_file = directory / "environment.yaml"
    env_file.write_text(yaml.safe_dump(environment, sort_keys=False))
    report_dir = directory / "reports"
    log = directory / "output.txt"
    argv = [
        *prefix,
        sys.executable,
        *("-m", "pytest", f"--env={env_file}", f"--report-dir={report_dir}"),
        *("-p", "no:cacheprovider"),
    ]
    usage_file = directory / "usage.json"
    started = time.monotonic()
    with log.open("wb") as output:
        launcher = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(usage_file), *argv],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as one if it must be
        )
    launcher.returncode = _reap(launcher.pid, started + CHILD_LIMIT_S)  # reaped here
    wall_s = time.monotonic() - started
    text = log.read_text(errors="replace")
    assert (report_dir / "decision.json").is_file(), f"no decision record:\n{text[-3000:]}"
    return Run(
        launcher.returncode,
        json.loads((report_dir / "decision.json").read_text()),
        text,
        wall_s,
        json.loads(usage_file.read_text())["ru_maxrss"] / 1024,
    )


def _reap(pid: int, deadline: float) -> int:
    """The launcher's exit code, once reaped with wait4; if it outlives `deadline`, its process
    group (it and the suite) is killed first. Until reaped, that group id is ours alone."""
    while time.monotonic() < deadline:
        reaped, status, _ = os.wait4(pid, os.WNOHANG)
        if reaped:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    _, status, _ = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status)


# --- environment pieces -----------------------------------------------------------------------


def environment(name: str, base_url: str, **sections: Any) -> dict[str, Any]:
    defaults = {"timeout_s": TIMEOUT_S, **sections.pop("defaults", {})}
    return {"name": name, "base_url": base_url, "defaults": defaults, **sections}


def smoke(name: str, url: str) -> dict[str, Any]:
    """A health check: status 200 and a JSON field, as most smoke checks are."""
    return {
        "name": name,
        "request": {"url": url},
        "expect": {"status": 200, "json": {"status": "ok"}},
    }


def web(url: str) -> dict[str, Any]:
    """What a user checks on a web front: its headers, its session cookie, a secret path."""
    return {
        "headers": [{"name": "front-headers", "url": f"{url}/"}],
        "cookies": [
            {
                "name": "session-cookie",
                "request": {
                    "method": "POST",
                    "url": f"{url}/login",
                    "json": {"username": "ci", "password": "pw"},
                },
                "cookies": ["session"],
            }
        ],
        "exposed_paths": [{"name": "env-file", "url": f"{url}/.env"}],
    }


def login_flow(url: str) -> list[dict[str, Any]]:
    """Log in, capture the token from the JSON answer, use it."""
    return [
        {
            "name": "session",
            "steps": [
                {
                    "name": "login",
                    "request": {
                        "method": "POST",
                        "url": f"{url}/api/v1/login",
                        "json": {"username": "ci", "password": "pw"},
                    },
                    "expect": {"status": 200},
                    "capture": {"token": "access_token"},
                },
                {
                    "name": "me",
                    "request": {
                        "url": f"{url}/api/v1/me",
                        "headers": {"Authorization": "Bearer {{ token }}"},
                    },
                },
            ],
        }
    ]


def openapi(url: str) -> list[dict[str, Any]]:
    return [{"name": "api-document", "url": f"{url}/openapi.json"}]


# Generous for a loaded test machine; the default 100 ms is about production dependencies.
LATENCY_MS = 500


def http_dependency(url: str) -> dict[str, Any]:
    return {"name": "http-dependency", "url": f"{url}/health", "latency_ms": LATENCY_MS}


def store_dependencies(host: str, port: int) -> list[dict[str, Any]]:
    """The same host:port taken for a Redis, a PostgreSQL and an SSH-like TCP service."""
    return dependencies(
        {"name": "tcp-dependency", "url": f"tcp://{host}:{port}", "banner": "^SSH-2.0"},
        {"name": "redis-dependency", "url": f"redis://{host}:{port}/0"},
        {"name": "postgres-dependency", "url": f"postgresql://app@{host}:{port}/shop"},
    )


def dependencies(*entries: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"latency_ms": LATENCY_MS, **entry} for entry in entries]


# Check ids the pieces above produce, and the fetch each family's message names.
WEB_CHECKS = {
    "test_security_header_values[front-headers]": "GET {url}/",
    "test_hsts[front-headers]": "GET {url}/",
    "test_content_security_policy[front-headers]": "GET {url}/",
    "test_no_information_leaks[front-headers]": "GET {url}/",
    "test_cookie_flags[session-cookie]": "POST {url}/login",
    "test_path_not_served[env-file]": "GET {url}/.env",
}
OPENAPI_CHECKS = {
    "test_openapi_operations_answer[api-document]": "GET {url}/openapi.json",
    "test_openapi_responses_match_schema[api-document]": "GET {url}/openapi.json",
}
TLS_CHECKS = (
    "protocols",
    "ciphers",
    "certificate_trusted",
    "certificate_lifetime",
    "certificate_key",
    "chain_served",
)
# Check ids that consume the wait (the readiness fixture): the first of them to run pays for it.
WAIT_USERS = (
    "test_deployment_becomes_ready[",
    "test_status_is_expected[",
    "test_json_fields_match[",
    "test_latency_within_budget[",
    "test_path_not_served[",
    "test_security_header_values[",
    "test_hsts[",
    "test_content_security_policy[",
    "test_no_information_leaks[",
    "test_header_grade[",
)


def smoke_checks(name: str) -> list[str]:
    return [f"test_status_is_expected[{name}]", f"test_json_fields_match[{name}]"]


def dependency_checks(name: str, *, banner: bool = False) -> list[str]:
    found = [
        f"test_dependency_answers[{name}]",
        f"test_dependency_latency_within_budget[{name}]",
    ]
    return found + ([f"test_dependency_banner[{name}]"] if banner else [])


# --- judging a run ----------------------------------------------------------------------------


def assert_no_go(
    run: Run,
    baseline: Run,
    findings: dict[str, Sequence[str]],
    *,
    passing: dict[str, str] | None = None,
    skipped: dict[str, str] | None = None,
    waits: bool = False,
) -> None:
    """NO-GO; each check in `findings` failed with every fragment in its message; the checks in
    `passing` passed (values say why that is right) and those in `skipped` were skipped with
    the fragment given; no other check ran. Then the time and memory bounds."""
    passing, skipped = passing or {}, skipped or {}
    assert (run.returncode, run.record["decision"]) == (1, "NO-GO"), run.output[-3000:]
    checks = run.checks
    assert set(checks) == set(findings) | set(passing) | set(skipped), (
        f"unexpected checks: {sorted(set(checks) ^ (set(findings) | set(passing) | set(skipped)))}"
    )
    for check_id, fragments in findings.items():
        check = checks[check_id]
        message = check["message"] or ""
        assert check["outcome"] == "failed", f"{check_id} {check['outcome']}: {message}"
        for fragment in fragments:
            assert fragment in message, f"{check_id}: {message!r} lacks {fragment!r}"
    for check_id in passing:
        assert checks[check_id]["outcome"] == "passed", (check_id, checks[check_id]["message"])
    for check_id, fragment in skipped.items():
        assert checks[check_id]["outcome"] == "skipped", check_id
        assert fragment in checks[check_id]["message"], (check_id, checks[check_id]["message"])
    assert_within_bounds(run, baseline, waits=waits)


def assert_within_bounds(run: Run, baseline: Run, *, waits: bool = False) -> None:
    """Every check within CHECK_BOUND_S (the one that carried the wait: plus its budget), the
    run within the sum of those bounds plus the baseline's overhead, memory near baseline."""
    carrier = next((c["id"] for c in run.record["checks"] if c["id"].startswith(WAIT_USERS)), None)
    bounds = {}
    for check in run.record["checks"]:
        bound = CHECK_BOUND_S + (WAIT_BOUND_S if waits and check["id"] == carrier else 0)
        bounds[check["id"]] = bound
        assert check["duration_s"] <= bound, (
            f"{check['id']} took {check['duration_s']:.2f} s, bound {bound:g} s: {check['message']}"
        )
    wall_bound = sum(bounds.values()) + baseline.overhead_s + OVERHEAD_SLACK_S
    assert run.wall_s <= wall_bound, f"run took {run.wall_s:.1f} s, bound {wall_bound:.1f} s"
    assert run.overhead_s <= baseline.overhead_s + OVERHEAD_SLACK_S, (
        f"{run.overhead_s:.1f} s outside checks, baseline {baseline.overhead_s:.1f} s"
    )
    assert run.peak_rss_mb <= baseline.peak_rss_mb + MEMORY_MARGIN_MB, (
        f"peak RSS {run.peak_rss_mb:.0f} MB, baseline {baseline.peak_rss_mb:.0f} MB "
        f"+ {MEMORY_MARGIN_MB} MB"
    )


def web_findings(url: str, *fragments: str) -> dict[str, list[str]]:
    """The web and OpenAPI checks on `url`, each expecting its request and `fragments`."""
    return {
        check_id: [where.format(url=url), *fragments]
        for check_id, where in {**WEB_CHECKS, **OPENAPI_CHECKS}.items()
    }


def add(findings: dict[str, list[str]], check_ids: Sequence[str], *fragments: str) -> None:
    for check_id in check_ids:
        findings.setdefault(check_id, []).extend(fragments)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1 and localhost, and the CA file."""
    leaf, ca_file = trusted_leaf(tmp_path_factory.mktemp("pki"))
    return hostile.server_context(leaf.pem, leaf.key), ca_file


@pytest.fixture(scope="module")
def baseline(
    pki: tuple[ssl.SSLContext, Path],
    redis_server: RedisServer,
    postgres_server: DatabaseServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    """Every kind of check the hostile runs use, against well-behaved targets: GO."""
    context, ca_file = pki
    with (
        hostile.well_behaved_server() as good,
        hostile.well_behaved_server(context) as good_tls,
        contextlib.closing(Listener(BANNER)) as banner,
    ):
        stores = [
            {
                "name": "tcp-dependency",
                "url": f"tcp://127.0.0.1:{banner.port}",
                "banner": "^SSH-2.0",
            },
            {"name": "redis-dependency", "url": redis_server.url()},
            {"name": "postgres-dependency", "url": postgres_server.url("postgresql")},
            http_dependency(good.url),
        ]
        env = environment(
            "baseline",
            good.url,
            defaults={"ca_file": str(ca_file)},
            wait=WAIT,
            smoke=[smoke("live", "/health/live"), smoke("tls-live", f"{good_tls.url}/health/live")],
            ports=[{"name": "front-port", "host": "127.0.0.1", "open": [good.port]}],
            tls=[
                {
                    "name": "front-tls",
                    "url": f"127.0.0.1:{good_tls.port}",
                    "server_name": "localhost",
                }
            ],
            **web(good.url),
            dependencies=dependencies(*stores),
            flows=login_flow(good.url),
            openapi=openapi(good.url),
        )
        yield run_suite(env, tmp_path_factory.mktemp("baseline"))


def test_baseline_is_go(baseline: Run) -> None:
    assert (baseline.returncode, baseline.record["decision"]) == (0, "GO"), baseline.output[-3000:]
    assert {c["outcome"] for c in baseline.record["checks"]} == {"passed"}
    assert len(baseline.checks) == 31
    assert_within_bounds(baseline, baseline, waits=True)


# --- the hostile targets ----------------------------------------------------------------------

NO_ANSWER = "no complete answer within 1 s"
NO_CONNECTION = "no connection within 1 s (host down or port filtered?)"


def test_port_that_accepts_and_never_answers(baseline: Run, tmp_path: Path) -> None:
    with hostile.silent_server() as silent:
        url, port = silent.url, silent.port
        env = environment(
            "silent",
            url,
            wait=WAIT,
            smoke=[smoke("live", "/health/live")],
            ports=[{"name": "front-port", "host": "127.0.0.1", "open": [port]}],
            tls=[{"name": "front-tls", "url": f"127.0.0.1:{port}", "server_name": "localhost"}],
            **web(url),
            dependencies=[*store_dependencies("127.0.0.1", port), http_dependency(url)],
            flows=login_flow(url),
            openapi=openapi(url),
            bad_input=[
                {
                    "name": "login-input",
                    "url": "/api/v1/login",
                    "json": {"username": "ci", "password": "pw"},
                    "max_cases": 10,
                }
            ],
        )
        run = run_suite(env, tmp_path)
    findings = web_findings(url, NO_ANSWER)
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {NO_ANSWER}")
    add(
        findings,
        ["test_deployment_becomes_ready[live]"],
        "live: not ready after 2 attempts",
        f"last answer: GET {url}/health/live: {NO_ANSWER}",
    )
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {NO_ANSWER}")
    add(
        findings,
        [f"test_tls_{check}[front-tls]" for check in TLS_CHECKS],
        f"127.0.0.1:{port} (server name localhost): no TLS answer within 1 s",
    )
    tcp = f"tcp-dependency (tcp://127.0.0.1:{port})"
    add(findings, ["test_dependency_banner[tcp-dependency]"], tcp, "first line '', expected")
    add(findings, ["test_dependency_latency_within_budget[tcp-dependency]"], tcp, "budget 500 ms")
    for name, reason in (
        ("redis-dependency (redis://127.0.0.1", "no answer within 1 s"),
        ("postgres-dependency (postgresql://app@127.0.0.1", "no answer within 2 s"),
        ("http-dependency (http://127.0.0.1", NO_ANSWER),
    ):
        add(findings, dependency_checks(name.split()[0]), f"{name}:{port}", reason)
    add(
        findings,
        ["test_bad_input_rejected_cleanly[login-input]"],
        f"login-input ({url}/api/v1/login): 1 of 10 bad requests not answered with a 4xx",
        f"malformed JSON -> {NO_ANSWER}",
        "9 more not sent: case malformed JSON got no answer within 1 s",
    )
    add(
        findings,
        ["test_errors_carry_no_debug_output[login-input]"],
        f"login-input ({url}/api/v1/login): none of 10 bad requests was answered",
    )
    add(
        findings,
        ["test_healthy_after_bad_input[login-input]"],
        f"after the bad input, live: GET {url}/health/live: {NO_ANSWER}",
    )
    assert_no_go(
        run,
        baseline,
        findings,
        passing={
            "test_ports_open[front-port]": "the port accepts: a TCP connect is all it claims",
            "test_dependency_answers[tcp-dependency]": "tcp:// claims a connect; banner judges",
        },
        skipped={"test_flow_step[session/2-me]": "not run: step login failed"},
        waits=True,
    )


def test_answer_trickling_in_byte_by_byte(baseline: Run, tmp_path: Path) -> None:
    # A byte every 0.5 s: each read gets one before httpx's 1 s read timeout, so only a
    # deadline for the whole exchange, headers included, ends these requests.
    with hostile.trickling_server(interval_s=0.5) as trickle:
        url = trickle.url
        env = environment(
            "trickle",
            url,
            smoke=[smoke("live", "/health/live")],
            **web(url),
            endpoints=[{"name": "upload", "url": "/upload", "body_limit_bytes": 1024}],
            rate_limits=[
                {"name": "login-limit", "request": {"url": "/login"}, "limit": 3, "window_s": 5}
            ],
            dependencies=dependencies(
                http_dependency(url),
                {"name": "redis-dependency", "url": f"redis://127.0.0.1:{trickle.port}/0"},
            ),
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    headers_late = f"{NO_ANSWER} (the status line and headers had not all arrived)"
    findings = web_findings(url, headers_late)
    add(
        findings,
        dependency_checks("redis-dependency"),
        f"redis-dependency (redis://127.0.0.1:{trickle.port}/0): no answer within 1 s",
    )
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {headers_late}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {NO_ANSWER}")
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {headers_late}")
    add(
        findings,
        ["test_body_limit[upload]"],
        f"POST {url}/upload: no answer within 1 s (sent 1025 of 1025 body bytes)",
    )
    add(
        findings,
        ["test_rate_limited[login-limit]"],
        f"GET {url}/login: request 1 of a burst of 5: {NO_ANSWER} (0 answered before it)",
    )
    assert_no_go(
        run, baseline, findings, skipped={"test_flow_step[session/2-me]": "not run: step login"}
    )


def test_connection_reset_midway_through_the_answer(baseline: Run, tmp_path: Path) -> None:
    with hostile.resetting_server() as resetting:
        url = resetting.url
        env = environment(
            "reset",
            url,
            smoke=[smoke("live", "/health/live")],
            **web(url),
            dependencies=[http_dependency(url)],
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    reset = (
        "connection reset by the server (after the headers and 13 body bytes; Content-Length 1000)"
    )
    findings = web_findings(url, reset)
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {reset}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {reset}")
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {reset}")
    assert_no_go(
        run, baseline, findings, skipped={"test_flow_step[session/2-me]": "not run: step login"}
    )


def test_garbage_instead_of_a_tls_server_hello(
    baseline: Run, pki: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    with hostile.garbage_tls_server() as garbage:
        port, url = garbage.port, f"https://127.0.0.1:{garbage.port}"
        env = environment(
            "garbage-tls",
            url,
            defaults={"ca_file": str(pki[1])},
            smoke=[smoke("live", "/health/live")],
            tls=[{"name": "front-tls", "url": f"127.0.0.1:{port}", "server_name": "localhost"}],
            **web(url),
            dependencies=dependencies(
                http_dependency(url),
                {"name": "rediss-dependency", "url": f"rediss://127.0.0.1:{port}/0"},
                {
                    "name": "postgres-dependency",
                    "url": f"postgresql://app@127.0.0.1:{port}/shop?sslmode=verify-full",
                },
            ),
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    not_tls = "TLS handshake failed: the answer is not TLS (wrong version number)"
    findings = web_findings(url, not_tls)
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {not_tls}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {not_tls}")
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {not_tls}")
    add(
        findings,
        [f"test_tls_{check}[front-tls]" for check in TLS_CHECKS],
        f"127.0.0.1:{port} (server name localhost): answered with something that is not TLS",
    )
    add(
        findings,
        dependency_checks("rediss-dependency"),
        f"rediss-dependency (rediss://127.0.0.1:{port}/0): TLS handshake failed",
    )
    add(
        findings,
        dependency_checks("postgres-dependency"),
        f"postgres-dependency (postgresql://app@127.0.0.1:{port}/shop?sslmode=verify-full): "
        "not PostgreSQL: the server answered the TLS negotiation (SSLRequest) with something else",
    )
    assert_no_go(
        run, baseline, findings, skipped={"test_flow_step[session/2-me]": "not run: step login"}
    )


def test_handshake_then_silence(
    baseline: Run, pki: tuple[ssl.SSLContext, Path], tmp_path: Path
) -> None:
    """A TLS server, and a PostgreSQL server, that complete their handshake and then stall."""
    context, ca_file = pki
    with (
        hostile.stalling_tls_server(context) as stalling,
        hostile.postgres_stalling_server() as postgres,
    ):
        port, url = stalling.port, stalling.url
        env = environment(
            "stalling-tls",
            url,
            defaults={"ca_file": str(ca_file)},
            smoke=[smoke("live", "/health/live")],
            tls=[{"name": "front-tls", "url": f"127.0.0.1:{port}", "server_name": "localhost"}],
            **web(url),
            dependencies=dependencies(
                http_dependency(url),
                {"name": "rediss-dependency", "url": f"rediss://127.0.0.1:{port}/0"},
                {
                    "name": "postgres-dependency",
                    "url": f"postgresql://app@127.0.0.1:{postgres.port}/shop",
                },
            ),
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    late = f"{NO_ANSWER} (the status line and headers had not all arrived)"
    findings = web_findings(url, late)
    add(
        findings,
        dependency_checks("postgres-dependency"),
        f"postgres-dependency (postgresql://app@127.0.0.1:{postgres.port}/shop): logged in, "
        "then no answer to SELECT 1 within 1 s",
    )
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {late}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {late}")
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {late}")
    add(
        findings,
        dependency_checks("rediss-dependency"),
        f"rediss-dependency (rediss://127.0.0.1:{port}/0): no answer within 1 s",
    )
    # The handshake itself is sound, and that is all the TLS checks judge.
    passing = {f"test_tls_{check}[front-tls]": "the TLS layer is sound" for check in TLS_CHECKS}
    assert_no_go(
        run,
        baseline,
        findings,
        passing=passing,
        skipped={"test_flow_step[session/2-me]": "not run: step login"},
    )


def test_body_that_never_ends(baseline: Run, tmp_path: Path) -> None:
    with hostile.endless_body_server() as endless:
        url = endless.url
        env = environment(
            "endless-body",
            url,
            smoke=[smoke("live", "/health/live")],
            **web(url),
            dependencies=[http_dependency(url)],
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    # As fast as loopback goes for a whole second: hundreds of MiB read, 1 MiB kept.
    endless_body = f"{NO_ANSWER} (after the headers and "
    findings = web_findings(url, endless_body, "MiB of the body)")
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {endless_body}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {endless_body}")
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {endless_body}")
    assert_no_go(
        run, baseline, findings, skipped={"test_flow_step[session/2-me]": "not run: step login"}
    )


def test_ten_gigabyte_content_length(baseline: Run, tmp_path: Path) -> None:
    with (
        hostile.huge_length_server() as fast,
        hostile.huge_length_server(interval_s=0.05) as slow,
    ):
        url = fast.url
        env = environment(
            "ten-gigabytes",
            url,
            smoke=[smoke("live", "/health/live"), smoke("slow-live", f"{slow.url}/health/live")],
            **web(url),
            dependencies=[http_dependency(url)],
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    declared = f"; Content-Length {hostile.TEN_GIGABYTES})"
    findings = web_findings(url, f"{NO_ANSWER} (after the headers and ", declared)
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {NO_ANSWER}", declared)
    add(
        findings,
        smoke_checks("slow-live"),
        f"GET {slow.url}/health/live: {NO_ANSWER} (after the headers and ",
        f"KiB of the body{declared}",
    )
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {NO_ANSWER}", declared)
    assert_no_go(run, baseline, findings)


def test_megabyte_of_response_headers(baseline: Run, tmp_path: Path) -> None:
    with hostile.huge_headers_server() as huge:
        url = huge.url
        env = environment(
            "huge-headers",
            url,
            smoke=[smoke("live", "/health/live")],
            **web(url),
            dependencies=[http_dependency(url)],
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    too_long = "status line and headers exceed 100 KiB"
    findings = web_findings(url, too_long)
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {too_long}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {too_long}")
    add(findings, dependency_checks("http-dependency"), f"({url}/health): {too_long}")
    assert_no_go(
        run, baseline, findings, skipped={"test_flow_step[session/2-me]": "not run: step login"}
    )


def test_redirect_loop(baseline: Run, tmp_path: Path) -> None:
    with hostile.redirect_loop_server() as looping:
        url, port = looping.url, looping.port
        env = environment(
            "redirect-loop",
            f"{url}/loop-a",
            smoke=[smoke("live", f"{url}/loop-a")],
            redirects=[{"name": "to-https", "url": f"{url}/loop-a", "https_port": port}],
            **web(url),
            dependencies=[http_dependency(url)],
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    moved = "status 301, expected 200"
    findings: dict[str, list[str]] = {
        "test_http_redirects_to_https[to-https]": [f"to-https ({url}/loop-a)", "loop"],
        "test_status_is_expected[live]": [f"live (GET {url}/loop-a): {moved}"],
        "test_json_fields_match[live]": [f"live ({url}/loop-a): expected a JSON body"],
        "test_security_header_values[front-headers]": [f"front-headers ({url}/, status 301)"],
        "test_hsts[front-headers]": [f"front-headers ({url}/, status 301)"],
        "test_content_security_policy[front-headers]": [f"front-headers ({url}/, status 301)"],
        "test_cookie_flags[session-cookie]": [f"session-cookie (POST {url}/login, status 301)"],
        "test_path_not_served[env-file]": [f"env-file ({url}/.env): served with status 301"],
        "test_flow_step[session/1-login]": [
            f"POST {url}/api/v1/login",
            "expected status 200, got 301",
        ],
        "test_openapi_operations_answer[api-document]": [
            f"{url}/openapi.json: expected status 200 with the OpenAPI document, found 301"
        ],
        "test_openapi_responses_match_schema[api-document]": ["found 301"],
        "test_dependency_answers[http-dependency]": [f"({url}/health): {moved}"],
    }
    assert_no_go(
        run,
        baseline,
        findings,
        passing={
            "test_no_information_leaks[front-headers]": "a bare 301 leaks no server version",
            "test_dependency_latency_within_budget[http-dependency]": "the 301 came at once",
        },
        skipped={"test_flow_step[session/2-me]": "not run: step login"},
    )


def test_invalid_json_where_json_is_expected(baseline: Run, tmp_path: Path) -> None:
    with hostile.invalid_json_server() as broken:
        url = broken.url
        env = environment(
            "invalid-json",
            url,
            smoke=[smoke("live", "/health/live")],
            **web(url),
            dependencies=[http_dependency(url)],
            flows=login_flow(url),
            openapi=openapi(url),
        )
        run = run_suite(env, tmp_path)
    not_json = "body is not JSON (Unterminated string starting at: line 1 column 34"
    findings: dict[str, list[str]] = {
        "test_json_fields_match[live]": [
            f"live ({url}/health/live): expected a JSON body",
            not_json,
        ],
        "test_security_header_values[front-headers]": [f"front-headers ({url}/, status 200)"],
        "test_hsts[front-headers]": ["Strict-Transport-Security missing"],
        "test_content_security_policy[front-headers]": ["Content-Security-Policy missing"],
        "test_cookie_flags[session-cookie]": [f"(POST {url}/login, status 200)", "no Secure"],
        "test_path_not_served[env-file]": [f"env-file ({url}/.env): served with status 200"],
        "test_flow_step[session/1-login]": ["access_token", "not JSON"],
        "test_openapi_operations_answer[api-document]": [
            f"{url}/openapi.json: expected an OpenAPI document",
            "(neither JSON nor YAML; not JSON: Unterminated string",
        ],
        "test_openapi_responses_match_schema[api-document]": ["neither JSON nor YAML"],
    }
    assert_no_go(
        run,
        baseline,
        findings,
        passing={
            # Each claims a status only, and 200 is what came; the JSON checks find the rest.
            "test_status_is_expected[live]": "status 200 is true",
            "test_no_information_leaks[front-headers]": "no version in any header",
            "test_dependency_answers[http-dependency]": "status 200 is true",
            "test_dependency_latency_within_budget[http-dependency]": "it came at once",
        },
        skipped={"test_flow_step[session/2-me]": "not run: step login"},
    )


def _nsswitch_hosts() -> list[str]:
    for line in Path("/etc/nsswitch.conf").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields and fields[0] == "hosts:":
            return fields[1:]
    return ["files", "dns"]  # glibc's default without the line


def _loopback_resolver(tmp_path: Path) -> list[str]:
    """The command prefix that runs a program with /etc/resolv.conf naming only 127.0.0.1, in a
    mount namespace of its own; fails unless nothing else could send a query elsewhere."""
    # Anything but files and dns (resolve: systemd-resolved, mdns, a cache daemon's module)
    # could answer or forward without reading /etc/resolv.conf.
    sources = [s for s in _nsswitch_hosts() if not s.startswith("[")]
    assert set(sources) <= {"files", "dns"}, f"/etc/nsswitch.conf hosts: {sources}"
    assert UNRESOLVABLE not in Path("/etc/hosts").read_text()
    # Nothing may listen on 127.0.0.1:53, so a query is refused at once and goes nowhere.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 53))
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    script = f'mount --bind {shlex.quote(str(resolv))} /etc/resolv.conf && exec "$@"'
    prefix = ["unshare", "--mount", "--", "sh", "-c", script, "sh"]
    seen = subprocess.run(
        [*prefix, "cat", "/etc/resolv.conf"], capture_output=True, text=True, timeout=30
    )
    if seen.returncode != 0:
        pytest.skip(f"cannot give the suite a resolver of its own: {seen.stderr.strip()}")
    assert seen.stdout == "nameserver 127.0.0.1\n"
    return prefix


def test_host_name_that_does_not_resolve(baseline: Run, tmp_path: Path) -> None:
    prefix = _loopback_resolver(tmp_path)
    host, url = UNRESOLVABLE, f"http://{UNRESOLVABLE}:8080"
    env = environment(
        "unresolvable",
        url,
        smoke=[smoke("live", "/health/live"), smoke("tls-live", f"https://{host}/health/live")],
        ports=[{"name": "front-port", "host": host, "open": [443]}],
        tls=[{"name": "front-tls", "url": f"{host}:443"}],
        **web(url),
        dependencies=[*store_dependencies(host, 5432), http_dependency(url)],
        flows=login_flow(url),
        openapi=openapi(url),
    )
    run = run_suite(env, tmp_path, prefix)
    unknown = "host name does not resolve (Temporary failure in name resolution)"
    findings = web_findings(url, unknown)
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {unknown}")
    add(findings, smoke_checks("tls-live"), f"GET https://{host}/health/live: {unknown}")
    add(findings, ["test_flow_step[session/1-login]"], f"POST {url}/api/v1/login: {unknown}")
    add(
        findings,
        ["test_ports_open[front-port]"],
        f"host name {host} does not resolve (Temporary failure in name resolution)",
    )
    add(
        findings,
        [f"test_tls_{check}[front-tls]" for check in TLS_CHECKS],
        f"{host}:443: host name {host} does not resolve",
    )
    add(
        findings,
        dependency_checks("tcp-dependency", banner=True),
        f"tcp-dependency (tcp://{host}:5432): host name {host} does not resolve",
    )
    for name, where in (
        ("redis-dependency", f"redis://{host}:5432/0"),
        ("postgres-dependency", f"postgresql://app@{host}:5432/shop"),
        ("http-dependency", f"{url}/health"),
    ):
        add(findings, dependency_checks(name), f"{name} ({where}): host name does not resolve")
    assert_no_go(
        run, baseline, findings, skipped={"test_flow_step[session/2-me]": "not run: step login"}
    )


FILTERED_RULESET = """
table inet hostile {{
    chain input {{
        type filter hook input priority 0; policy accept;
        tcp dport {port} drop
    }}
}}
"""


def test_port_filtered_in_a_network_namespace(baseline: Run, tmp_path: Path) -> None:
    """The suite runs in namespace A; B drops every packet to the port, as a firewall does."""
    port = 8443
    with namespace_pair("gonogo-hostile") as pair:
        run_in(pair.b, ["nft", "-f", "-"], input=FILTERED_RULESET.format(port=port))
        host, url = pair.b_address, f"http://{pair.b_address}:{port}"
        env = environment(
            "filtered",
            url,
            smoke=[smoke("live", "/health/live")],
            ports=[{"name": "front-port", "host": host, "open": [port]}],
            tls=[{"name": "front-tls", "url": f"{host}:{port}", "server_name": "localhost"}],
            dependencies=[*store_dependencies(host, port), http_dependency(url)],
        )
        run = run_suite(env, tmp_path, [IP, "netns", "exec", pair.a])
    findings: dict[str, list[str]] = {}
    add(findings, smoke_checks("live"), f"GET {url}/health/live: {NO_CONNECTION}")
    add(
        findings,
        ["test_ports_open[front-port]"],
        f"front-port: port {port} filtered on {host}; expected open: {port}",
    )
    add(
        findings,
        [f"test_tls_{check}[front-tls]" for check in TLS_CHECKS],
        f"{host}:{port} (server name localhost): {NO_CONNECTION}",
    )
    add(
        findings,
        dependency_checks("tcp-dependency", banner=True),
        f"tcp-dependency (tcp://{host}:{port}): {NO_CONNECTION}",
    )
    for name, where, reason in (
        ("redis-dependency", f"redis://{host}:{port}/0", "no answer within 1 s"),
        ("postgres-dependency", f"postgresql://app@{host}:{port}/shop", "no answer within 2 s"),
        ("http-dependency", f"{url}/health", NO_CONNECTION),
    ):
        add(findings, dependency_checks(name), f"{name} ({where}): {reason}")
    assert_no_go(run, baseline, findings)


# --- the probes' own bounds, asked directly ---------------------------------------------------


def _timers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if isinstance(thread, threading.Timer)]


def test_fetch_deadline_covers_a_trickled_head() -> None:
    # A byte every 0.2 s of a ~90-byte answer: 18 s for httpx alone, whose timeouts are per read.
    with hostile.trickling_server(interval_s=0.2) as trickle:
        started = time.monotonic()
        with pytest.raises(TargetTimeoutError) as caught:
            fetch(f"{trickle.url}/x", timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert str(caught.value) == (
        f"GET {trickle.url}/x: no complete answer within 0.5 s "
        "(the status line and headers had not all arrived)"
    )
    assert not _timers()


def test_fetch_deadline_covers_a_stalled_tls_handshake() -> None:
    with hostile.silent_server() as silent:
        started = time.monotonic()
        with pytest.raises(TargetTimeoutError) as caught:
            fetch(f"https://127.0.0.1:{silent.port}/x", timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert str(caught.value).endswith(
        ": no complete answer within 0.5 s (the TLS handshake had not completed)"
    )


def test_fetch_keeps_the_start_of_a_large_body_that_ends() -> None:
    body = bytes(3 * hostile.ONE_MEBIBYTE)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with hostile.HostileServer(hostile.answer(head.encode(), body)) as large:
        response = fetch(f"{large.url}/x", timeout_s=5)
    assert (response.status, len(response.body), response.truncated) == (200, 1048576, True)


def test_burst_deadline_covers_a_trickle() -> None:
    with hostile.trickling_server(interval_s=0.2) as trickle:
        started = time.monotonic()
        with pytest.raises(TargetTimeoutError) as caught:
            burst(f"{trickle.url}/x", count=3, timeout_s=0.5, within_s=10)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert str(caught.value) == (
        f"GET {trickle.url}/x: request 1 of a burst of 3: no complete answer within 0.5 s "
        "(0 answered before it)"
    )
    assert not _timers()


def test_burst_deadline_follows_each_new_connection() -> None:
    # The well-behaved server closes every connection: each request of the burst opens one,
    # and each is watched by the same watchdog, which is quiet once the burst is over.
    with hostile.well_behaved_server() as good:
        fact = burst(f"{good.url}/health", count=3, timeout_s=1, within_s=10)
    assert fact.statuses == (200, 200, 200)
    assert not _timers()


def test_openapi_calls_stop_at_the_first_timeout() -> None:
    with hostile.silent_server() as silent:
        operations = [Operation(p, p, f"{silent.url}{p}") for p in ("/a", "/b", "/c")]
        started = time.monotonic()
        answers = call_operations(operations, headers={}, timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert [(a.called, a.status) for a in answers] == [(True, None), (False, None), (False, None)]
    assert "no complete answer within 0.5 s" in (answers[0].error or "")
    assert answers[1].error == "not called: GET /a got no answer within 0.5 s"


def test_bad_input_stops_at_the_first_timeout() -> None:
    entry = BadInput.model_validate(
        {"url": "/login", "json": {"username": "ci", "password": "pw"}, "max_cases": 4}
    )
    with hostile.silent_server() as silent:
        started = time.monotonic()
        answers = send_cases(bad_cases(entry, f"{silent.url}/login", "t1"), timeout_s=0.5)
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert [a.sent for a in answers] == [True, False, False, False]
    assert answers[0].error is not None and "no complete answer within 0.5 s" in answers[0].error
    assert answers[3].error == f"not sent: case {answers[0].case.name} got no answer within 0.5 s"
