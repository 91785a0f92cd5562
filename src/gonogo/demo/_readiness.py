"""Waits that end only when a component really answers: Redis to AUTH, PostgreSQL to a login
with the demo's password, HTTP with its release."""

from __future__ import annotations

import functools
import socket
import ssl
import time
from collections.abc import Callable

import httpx

from gonogo.demo._postgres import connection_problem, ensure_schema
from gonogo.demo._processes import POLL_S, is_ours, log_tail
from gonogo.demo._prometheus import JOB
from gonogo.demo._state import Secrets
from gonogo.demo.config import DemoConfig, component_port
from gonogo.errors import DemoError, GonogoError
from gonogo.probes.prometheus import instant_query

__all__ = ["wait_ready", "wait_release"]

_PROBE_TIMEOUT_S = 1.0
_HISTORY_S = 12  # scrapes, one a second: longer than the demo's longest query window


def wait_ready(
    config: DemoConfig,
    name: str,
    pid: int,
    colour: str,
    keys: Secrets,
    deadline: float,
    timeout_s: float,
) -> None:
    if name == "redis":
        probe = functools.partial(_redis_problem, config.host, config.redis_port, keys)
        _poll(config, name, pid, "AUTH + PING to answer +OK +PONG", probe, deadline, timeout_s)
    elif name == "postgres":
        probe = functools.partial(connection_problem, config, keys)
        what = f"a login on {config.host}:{config.postgres_port} with the demo's password"
        _poll(config, name, pid, what, probe, deadline, timeout_s)
        ensure_schema(config, keys)
    elif name == "prometheus":
        url = f"http://{config.host}:{config.prometheus_port}/-/ready"
        with httpx.Client(timeout=_PROBE_TIMEOUT_S, trust_env=False) as client:
            probe = functools.partial(_ready_problem, client, url)
            _poll(config, name, pid, f"{url} to answer 200", probe, deadline, timeout_s)
        # The demo's queries judge 10 s windows of rates: a Prometheus younger than that has
        # nothing to judge them on, and its answer would rightly be "no data".
        base = f"http://{config.host}:{config.prometheus_port}"
        probe = functools.partial(_history_problem, base)
        what = f"{_HISTORY_S} s of scrapes of both releases in {base}"
        _poll(config, name, pid, what, probe, deadline, timeout_s)
    else:
        release = colour if name == "nginx" else name.removeprefix("api-")
        wait_release(config, name, pid, release, deadline, timeout_s)


def wait_release(
    config: DemoConfig, name: str, pid: int, release: str, deadline: float, timeout_s: float
) -> None:
    if name == "nginx":
        url = f"{config.url}/health/live"
        verify: ssl.SSLContext | bool = _ca_context(config)
    else:
        url = f"http://{config.host}:{component_port(config, name)}/health/live"
        verify = True
    # trust_env=False: a proxy from the environment must never carry these loopback requests.
    with httpx.Client(verify=verify, timeout=_PROBE_TIMEOUT_S, trust_env=False) as client:
        probe = functools.partial(_release_problem, client, url, release)
        _poll(config, name, pid, f"{url} to report release {release}", probe, deadline, timeout_s)


def _poll(
    config: DemoConfig,
    name: str,
    pid: int,
    what: str,
    probe: Callable[[], str | None],
    deadline: float,
    timeout_s: float,
) -> None:
    """Stop as soon as the process dies: its log, not the deadline, then says what went wrong."""
    while True:
        problem = probe()
        if problem is None:
            return
        if not is_ours(pid, config, name):
            raise DemoError(
                f"{name} (pid {pid}) exited while gonogo waited for {what}; "
                f"last answer: {problem}; {log_tail(config, name)}"
            )
        if time.monotonic() >= deadline:
            raise DemoError(
                f"{name} (pid {pid}) not ready within {timeout_s:g} s: waited for {what}; "
                f"last answer: {problem}; {log_tail(config, name)}"
            )
        time.sleep(POLL_S)


def _redis_problem(host: str, port: int, keys: Secrets) -> str | None:
    command = _resp("AUTH", keys.redis_password) + _resp("PING")
    reply = b""
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S) as conn:
            conn.sendall(command)
            while reply.count(b"\r\n") < 2 and len(reply) < 1024:
                chunk = conn.recv(1024)
                if not chunk:
                    break
                reply += chunk
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if reply == b"+OK\r\n+PONG\r\n" else f"replied {reply[:100]!r}"


def _resp(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _history_problem(base_url: str) -> str | None:
    query = f'min(count_over_time(up{{job="{JOB}"}}[{_HISTORY_S + 3}s]))'
    try:
        series = instant_query(base_url, query, timeout_s=_PROBE_TIMEOUT_S)
    except GonogoError as exc:
        return str(exc)
    samples = series[0].points[-1][1] if series and series[0].points else 0.0
    return None if samples >= _HISTORY_S else f"{samples:g} scrapes so far"


def _ready_problem(client: httpx.Client, url: str) -> str | None:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def _release_problem(client: httpx.Client, url: str, release: str) -> str | None:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"HTTP 200 with a body that is not JSON: {response.text[:100]!r}"
    found = body.get("release") if isinstance(body, dict) else None
    return None if found == release else f"release {found!r}"


def _ca_context(config: DemoConfig) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(config.ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise DemoError(
            f"{config.ca_file}: cannot load the demo CA ({exc}); "
            "`gonogo demo down` then `gonogo demo up` recreates it"
        ) from exc
