"""Start, watch, switch and stop the demo's processes, signalling only what its own pid files name.

Layout of a run dir (default `.gonogo/demo`):
    demo.env, redis.conf     secrets (0600); demo.env is what a shell sources to run the suite
    state.json               active colour and the addresses the running processes were given
    run/<name>.pid           one per component; logs/<name>.log, one per component
    nginx/, redis/, pki/     working dirs for nginx and Redis, and the demo CA
    postgres/                the PostgreSQL cluster, except as root: PostgreSQL runs as the
                             `postgres` user then, with its cluster in /var/lib/gonogo/postgres
                             (`down --purge` removes it)
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from gonogo.demo._files import write_file
from gonogo.demo._nginx import nginx_argv, reload_for, write_nginx_config
from gonogo.demo._postgres import DATABASE, ROLE, cluster, drop_unreachable, prepare
from gonogo.demo._processes import (
    children,
    executable,
    pid_path,
    port_taken,
    running_pid,
    spawn,
    stop,
    wait_gone,
)
from gonogo.demo._prometheus import prometheus_argv_for
from gonogo.demo._readiness import wait_ready, wait_release
from gonogo.demo._state import (
    Secrets,
    check_addresses,
    load_secrets,
    read_state,
    redis_conf,
    redis_conf_path,
    state_path,
    write_state,
)
from gonogo.demo._worker import SERVICE, ensure_worker, remove_workers, worker_state
from gonogo.demo.config import (
    COLOURS,
    COMPONENT_PORTS,
    COMPONENTS,
    PORT_VARIABLES,
    DemoConfig,
    component_port,
    write_env_file,
)
from gonogo.demo.pki import ensure_pki
from gonogo.docker_engine import Engine, ensure_engine, running_engine, stop_own_engine_if_idle
from gonogo.errors import DemoError

__all__ = [
    "COLOURS",
    "COMPONENTS",
    "ComponentState",
    "DemoConfig",
    "DemoError",
    "DemoState",
    "down",
    "status",
    "switch",
    "up",
]

_STOP_TIMEOUT_S = 10.0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ComponentState:
    """One demo process as found now; `pid` is None unless a live process of ours holds it."""

    name: str
    pid: int | None
    running: bool
    port: int


@dataclass(frozen=True)
class DemoState:
    """The demo as found now: its processes, which release nginx serves, and where."""

    components: tuple[ComponentState, ...]
    active: str | None
    url: str

    @property
    def all_running(self) -> bool:
        return all(component.running for component in self.components)

    def component(self, name: str) -> ComponentState:
        for component in self.components:
            if component.name == name:
                return component
        raise KeyError(f"no demo component {name!r}; expected one of {', '.join(COMPONENTS)}")


def up(
    config: DemoConfig,
    colour: str = "blue",
    timeout_s: float = 30.0,
    *,
    progress: Progress | None = None,
) -> DemoState:
    """Start what is not running, wait until each part answers, and have nginx serve `colour`.

    Running processes are left alone, so a second `up` is cheap and changes nothing.
    """
    _check_colour(colour, "up")
    say = progress or _silent
    deadline = time.monotonic() + timeout_s
    recorded = check_addresses(config)
    for directory in ("run", "logs", "nginx/tmp", "redis", "pki"):
        (config.run_dir / directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = load_secrets(config)
    drop_unreachable(config, keys)
    engine = ensure_engine()
    say(f"docker engine: {engine.base_url}" + (" (gonogo's own)" if engine.own else ""))
    write_env_file(config, keys.variables(), engine.base_url)
    write_state(config, recorded.active if recorded else None)

    started: dict[str, int] = {}
    # PostgreSQL last but one: on a first start its initdb runs while the APIs import.
    for name in ("redis", "api-blue", "api-green", "postgres", "prometheus"):
        pid = running_pid(config, name)
        if pid is None:
            started[name] = _start(config, name, keys, colour)
            say(f"{name}: started, pid {started[name]}, port {component_port(config, name)}")
        else:
            say(f"{name}: already running, pid {pid}")
    for name, pid in started.items():
        wait_ready(config, name, pid, colour, keys, deadline, timeout_s)
        say(f"{name}: ready")

    nginx_pid = running_pid(config, "nginx")
    if nginx_pid is None:
        nginx_pid = _start(config, "nginx", keys, colour)
        say(f"nginx: started, pid {nginx_pid}, {config.url}")
        wait_ready(config, "nginx", nginx_pid, colour, keys, deadline, timeout_s)
        say("nginx: ready")
    elif recorded is None or recorded.active != colour:
        say(f"nginx: already running, pid {nginx_pid}; switching it to {colour}")
        _point_nginx_at(config, colour, nginx_pid, deadline, timeout_s)
    else:
        say(f"nginx: already running, pid {nginx_pid}")
    _check_worker_port(config, engine)
    worker = ensure_worker(config, colour, engine, time.monotonic() + timeout_s)
    say(f"{SERVICE}: container {worker} ({colour}) running on :{config.worker_port}")
    write_state(config, colour)
    return status(config)


def down(config: DemoConfig, timeout_s: float = _STOP_TIMEOUT_S, purge: bool = False) -> list[str]:
    """Stop the processes named by the pid files (TERM, then KILL), and return their names.

    The PostgreSQL cluster is kept, items and files with it, unless `purge` asks otherwise.
    """
    try:
        recorded = read_state(config)
    except DemoError:
        recorded = None  # a damaged state file must not keep the processes alive
    current = recorded.config if recorded else config
    # nginx first, so no request meets a stopped API.
    stopped = stop(current, reversed(COMPONENTS), timeout_s)
    try:
        engine = running_engine()
    except DemoError:
        engine = None  # DOCKER_HOST names an engine that is gone: nothing of ours runs there
    if engine is not None:
        if remove_workers(current, engine):
            stopped.append(SERVICE)
        stop_own_engine_if_idle()
    for name in COMPONENTS:
        pid_path(config, name).unlink(missing_ok=True)
    state_path(config).unlink(missing_ok=True)
    if purge:
        cluster(config).remove()
    return stopped


def status(config: DemoConfig) -> DemoState:
    """Which components run now, on the addresses they were started with."""
    recorded = read_state(config)
    current = recorded.config if recorded else config
    components = []
    for name in COMPONENTS:
        pid = running_pid(current, name)
        components.append(ComponentState(name, pid, pid is not None, component_port(current, name)))
    try:
        worker = worker_state(current, running_engine())
    except DemoError:
        worker = worker_state(current, None)
    components.append(ComponentState(SERVICE, worker.pid, worker.running, current.worker_port))
    return DemoState(tuple(components), recorded.active if recorded else None, current.url)


def switch(config: DemoConfig, colour: str, timeout_s: float = 10.0) -> DemoState:
    """Point nginx at the other release and wait until its answers come from that release."""
    _check_colour(colour, "switch")
    check_addresses(config)
    nginx_pid = running_pid(config, "nginx")
    if nginx_pid is None:
        raise DemoError(
            f"switch to {colour}: nginx is not running in {config.run_dir}; "
            "start the demo with `gonogo demo up`"
        )
    api = f"api-{colour}"
    if running_pid(config, api) is None:
        raise DemoError(
            f"switch to {colour}: {api} is not running "
            f"(expected on port {component_port(config, api)}); `gonogo demo up` starts it"
        )
    _point_nginx_at(config, colour, nginx_pid, time.monotonic() + timeout_s, timeout_s)
    ensure_worker(config, colour, ensure_engine(), time.monotonic() + timeout_s)
    write_state(config, colour)
    return status(config)


def _check_colour(colour: str, action: str) -> None:
    if colour not in COLOURS:
        raise DemoError(f"{action}: expected colour blue or green, got {colour!r}")


def _silent(_: str) -> None:
    """Progress sink for callers that do not report progress."""


def _start(config: DemoConfig, name: str, keys: Secrets, colour: str) -> int:
    """Ports first: a foreign process on one would otherwise fail the launch later, less clearly."""
    for field in COMPONENT_PORTS[name]:
        port = int(getattr(config, field))
        if port_taken(config.host, port):
            raise DemoError(
                f"{name}: port {port} on {config.host} is taken by a process outside this demo; "
                f"stop that process, or choose another port with {PORT_VARIABLES[field]}"
            )
    if name == "redis":
        write_file(redis_conf_path(config), redis_conf(config, keys), 0o600)
        return spawn(config, name, [executable("redis-server"), str(redis_conf_path(config))])
    if name == "postgres":
        found = prepare(config, keys)
        argv = found.server_argv(config.host, config.postgres_port)
        return spawn(config, name, argv, user=found.user)
    if name == "prometheus":
        return spawn(config, name, prometheus_argv_for(config))
    if name == "nginx":
        ensure_pki(config.run_dir)
        write_nginx_config(config, colour)
        return spawn(config, name, nginx_argv(config))
    release = name.removeprefix("api-")
    argv = [
        sys.executable,
        *("-m", "uvicorn", "gonogo.demo.app:app"),
        *("--host", config.host, "--port", str(component_port(config, name))),
        *("--no-access-log", "--timeout-graceful-shutdown", "5"),
    ]
    # Secrets travel in the environment: a command line is readable by every user via ps.
    env = {
        **os.environ,
        "GONOGO_DEMO_RELEASE": release,
        "GONOGO_DEMO_PASSWORD": keys.password,
        "GONOGO_DEMO_REDIS_HOST": config.host,
        "GONOGO_DEMO_REDIS_PORT": str(config.redis_port),
        "GONOGO_DEMO_REDIS_PASSWORD": keys.redis_password,
        "GONOGO_DEMO_POSTGRES_HOST": config.host,
        "GONOGO_DEMO_POSTGRES_PORT": str(config.postgres_port),
        "GONOGO_DEMO_POSTGRES_USER": ROLE,
        "GONOGO_DEMO_POSTGRES_PASSWORD": keys.postgres_password,
        "GONOGO_DEMO_POSTGRES_DATABASE": DATABASE,
    }
    return spawn(config, name, argv, env)


def _check_worker_port(config: DemoConfig, engine: Engine) -> None:
    """A foreign listener on the worker's port would make the container exit, less clearly."""
    if worker_state(config, engine).running or not port_taken(config.host, config.worker_port):
        return
    raise DemoError(
        f"{SERVICE}: port {config.worker_port} on {config.host} is taken by a process outside "
        "this demo; stop that process, or choose another port with GONOGO_DEMO_WORKER_PORT"
    )


def _point_nginx_at(
    config: DemoConfig, colour: str, nginx_pid: int, deadline: float, timeout_s: float
) -> None:
    old_workers = children(nginx_pid)
    reload_for(config, colour, nginx_pid)
    # Until the old workers exit they may still accept connections and proxy them to the
    # previous release; one good answer from a new worker would not prove the switch.
    lingering = wait_gone(old_workers, deadline)
    if lingering:
        raise DemoError(
            f"switch to {colour}: nginx workers {sorted(lingering)} of the previous "
            f"configuration still running after {timeout_s:g} s"
        )
    wait_release(config, "nginx", nginx_pid, colour, deadline, timeout_s)
