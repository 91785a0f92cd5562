"""Start, watch, switch and stop the demo's processes, signalling only what its own pid files name.

Layout of a run dir (default `.gonogo/demo`):
    demo.env, redis.conf     secrets (0600); demo.env is what a shell sources to run the suite
    state.json               active colour and the addresses the running processes were given
    run/<name>.pid           one per component; logs/<name>.log, one per component
    nginx/, redis/, pki/     working dirs for nginx and Redis, and the demo CA
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import jinja2

from gonogo.demo.pki import ensure_pki
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

COLOURS = ("blue", "green")
COMPONENTS = ("redis", "api-blue", "api-green", "nginx")
_PORT_VARIABLES = {
    "http_port": "GONOGO_DEMO_HTTP_PORT",
    "https_port": "GONOGO_DEMO_HTTPS_PORT",
    "blue_port": "GONOGO_DEMO_BLUE_PORT",
    "green_port": "GONOGO_DEMO_GREEN_PORT",
    "redis_port": "GONOGO_DEMO_REDIS_PORT",
}
# Characters that nginx.conf and redis.conf cannot hold inside a quoted path.
_UNSAFE_PATH_CHARS = frozenset("\"'\\$;{}\n\r\t")
_POLL_S = 0.1
_PROBE_TIMEOUT_S = 1.0
_STOP_TIMEOUT_S = 10.0
_LOG_LINES = 20

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DemoConfig:
    """Where the demo lives and which loopback ports it uses; the same values make the same demo."""

    run_dir: Path
    host: str = "127.0.0.1"
    http_port: int = 18080
    https_port: int = 18443
    blue_port: int = 18001
    green_port: int = 18002
    redis_port: int = 16379

    def __post_init__(self) -> None:
        if not self.run_dir.is_absolute():
            raise ValueError(f"run_dir: expected an absolute path, got {self.run_dir}")
        unsafe = sorted(_UNSAFE_PATH_CHARS.intersection(str(self.run_dir)))
        if unsafe:
            raise ValueError(
                f"run_dir: {self.run_dir} contains {''.join(unsafe)!r}, which the generated "
                "nginx and Redis configs cannot quote; choose another directory"
            )
        try:
            loopback = ipaddress.IPv4Address(self.host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"host: expected an IPv4 loopback address such as 127.0.0.1, got {self.host!r}; "
                "the demo holds a known password and must not listen beyond this machine"
            )
        ports = self.ports()
        for field, port in ports.items():
            _check_port(field, port)
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"ports: expected five different ports, got {ports}")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], cwd: Path) -> DemoConfig:
        """Read GONOGO_DEMO_DIR and the GONOGO_DEMO_*_PORT variables, defaulting what is unset."""
        run_dir = (cwd / environ.get("GONOGO_DEMO_DIR", ".gonogo/demo")).resolve()
        ports = {
            field: _parse_port(variable, environ[variable])
            for field, variable in _PORT_VARIABLES.items()
            if variable in environ
        }
        config = cls(run_dir=run_dir)
        return _with_ports(config, {**config.ports(), **ports})

    @classmethod
    def with_free_ports(cls, run_dir: Path) -> DemoConfig:
        """A config on ports free right now, so parallel runs and a running demo do not collide."""
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(socket.socket()) for _ in _PORT_VARIABLES]
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            ports = {
                field: int(sock.getsockname()[1])
                for field, sock in zip(_PORT_VARIABLES, sockets, strict=True)
            }
        return _with_ports(cls(run_dir=run_dir), ports)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.https_port}"

    @property
    def env_file(self) -> Path:
        return self.run_dir / "demo.env"

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "pki" / "ca.pem"

    def ports(self) -> dict[str, int]:
        return {field: int(getattr(self, field)) for field in _PORT_VARIABLES}

    def variables(self) -> dict[str, str]:
        """The environment a shell or test needs to run the suite against this demo."""
        password = _read_env_file(self.env_file).get("GONOGO_DEMO_PASSWORD")
        if not password:
            raise DemoError(
                f"{self.env_file}: no GONOGO_DEMO_PASSWORD; run `gonogo demo up` to create it"
            )
        return {**self._public_variables(), "GONOGO_DEMO_PASSWORD": password}

    def _public_variables(self) -> dict[str, str]:
        ports = {variable: str(getattr(self, f)) for f, variable in _PORT_VARIABLES.items()}
        return {"GONOGO_DEMO_DIR": str(self.run_dir), **ports}


def _with_ports(config: DemoConfig, ports: Mapping[str, int]) -> DemoConfig:
    return DemoConfig(
        run_dir=config.run_dir,
        host=config.host,
        http_port=ports["http_port"],
        https_port=ports["https_port"],
        blue_port=ports["blue_port"],
        green_port=ports["green_port"],
        redis_port=ports["redis_port"],
    )


def _parse_port(variable: str, text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"{variable}: expected a port number, got {text!r}") from None
    _check_port(variable, port)
    return port


def _check_port(name: str, port: int) -> None:
    # Below 1024 would need root and could clash with real services on the machine.
    if not 1024 <= port <= 65535:
        raise ValueError(f"{name}: expected a port in 1024-65535, got {port}")


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


@dataclass(frozen=True)
class _Recorded:
    active: str | None
    config: DemoConfig


@dataclass(frozen=True)
class _Secrets:
    password: str
    redis_password: str


# Popen objects of the processes this interpreter started: polling them reaps exited children,
# and keeping them referenced stops Popen from warning that they still run.
_children: dict[int, subprocess.Popen[bytes]] = {}
_COMPONENT_PORTS = {
    "redis": ("redis_port",),
    "api-blue": ("blue_port",),
    "api-green": ("green_port",),
    "nginx": ("https_port", "http_port"),
}


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
    recorded = _check_addresses(config)
    for directory in ("run", "logs", "nginx/tmp", "redis", "pki"):
        (config.run_dir / directory).mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = _load_secrets(config)
    _write_env_file(config, keys)
    _write_state(config, recorded.active if recorded else None)

    started: dict[str, int] = {}
    for name in ("redis", "api-blue", "api-green"):
        pid = _running_pid(config, name)
        if pid is None:
            started[name] = _start(config, name, keys, colour)
            say(f"{name}: started, pid {started[name]}, port {_port(config, name)}")
        else:
            say(f"{name}: already running, pid {pid}")
    for name, pid in started.items():
        _wait_ready(config, name, pid, colour, keys, deadline, timeout_s)
        say(f"{name}: ready")

    nginx_pid = _running_pid(config, "nginx")
    if nginx_pid is None:
        nginx_pid = _start(config, "nginx", keys, colour)
        say(f"nginx: started, pid {nginx_pid}, {config.url}")
        _wait_ready(config, "nginx", nginx_pid, colour, keys, deadline, timeout_s)
        say("nginx: ready")
    elif recorded is None or recorded.active != colour:
        say(f"nginx: already running, pid {nginx_pid}; switching it to {colour}")
        _point_nginx_at(config, colour, nginx_pid, deadline, timeout_s)
    else:
        say(f"nginx: already running, pid {nginx_pid}")
    _write_state(config, colour)
    return status(config)


def down(config: DemoConfig, timeout_s: float = _STOP_TIMEOUT_S) -> list[str]:
    """Stop the processes named by the pid files (TERM, then KILL), and return their names."""
    try:
        recorded = _read_state(config)
    except DemoError:
        recorded = None  # a damaged state file must not keep the processes alive
    current = recorded.config if recorded else config
    stopping: dict[str, int] = {}
    for name in reversed(COMPONENTS):  # nginx first, so no request meets a stopped API
        pid = _running_pid(current, name)
        if pid is not None:
            _signal(pid, signal.SIGTERM)
            stopping[name] = pid
    deadline = time.monotonic() + timeout_s
    while _survivors(current, stopping) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    for name in _survivors(current, stopping):
        _kill_group(stopping[name])
    deadline = time.monotonic() + 2.0
    while _survivors(current, stopping) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    for name in COMPONENTS:
        _pid_path(config, name).unlink(missing_ok=True)
    _state_path(config).unlink(missing_ok=True)
    return list(stopping)


def status(config: DemoConfig) -> DemoState:
    """Which components run now, on the addresses they were started with."""
    recorded = _read_state(config)
    current = recorded.config if recorded else config
    components = []
    for name in COMPONENTS:
        pid = _running_pid(current, name)
        components.append(ComponentState(name, pid, pid is not None, _port(current, name)))
    return DemoState(tuple(components), recorded.active if recorded else None, current.url)


def switch(config: DemoConfig, colour: str, timeout_s: float = 10.0) -> DemoState:
    """Point nginx at the other release and wait until its answers come from that release."""
    _check_colour(colour, "switch")
    _check_addresses(config)
    nginx_pid = _running_pid(config, "nginx")
    if nginx_pid is None:
        raise DemoError(
            f"switch to {colour}: nginx is not running in {config.run_dir}; "
            "start the demo with `gonogo demo up`"
        )
    api = f"api-{colour}"
    if _running_pid(config, api) is None:
        raise DemoError(
            f"switch to {colour}: {api} is not running (expected on port {_port(config, api)}); "
            "`gonogo demo up` starts it"
        )
    _point_nginx_at(config, colour, nginx_pid, time.monotonic() + timeout_s, timeout_s)
    _write_state(config, colour)
    return status(config)


def _check_colour(colour: str, action: str) -> None:
    if colour not in COLOURS:
        raise DemoError(f"{action}: expected colour blue or green, got {colour!r}")


def _silent(_: str) -> None:
    """Progress sink for callers that do not report progress."""


# -- processes --------------------------------------------------------------------------------


def _start(config: DemoConfig, name: str, keys: _Secrets, colour: str) -> int:
    """Write the component's config, check that its ports are free, and launch it."""
    for field in _COMPONENT_PORTS[name]:
        port = int(getattr(config, field))
        if _port_taken(config.host, port):
            raise DemoError(
                f"{name}: port {port} on {config.host} is taken by a process outside this demo; "
                f"stop that process, or choose another port with {_PORT_VARIABLES[field]}"
            )
    if name == "redis":
        _write_file(_redis_conf_path(config), _redis_conf(config, keys), 0o600)
        return _spawn(config, name, [_executable("redis-server"), str(_redis_conf_path(config))])
    if name == "nginx":
        ensure_pki(config.run_dir)
        _write_file(_nginx_dir(config) / "upstream.conf", _upstream_conf(config, colour))
        _write_file(_nginx_dir(config) / "nginx.conf", _nginx_conf(config))
        _nginx_check(config)
        return _spawn(config, name, _nginx_argv(config))
    release = name.removeprefix("api-")
    argv = [
        sys.executable,
        *("-m", "uvicorn", "gonogo.demo.app:app"),
        *("--host", config.host, "--port", str(_port(config, name))),
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
    }
    return _spawn(config, name, argv, env)


def _spawn(
    config: DemoConfig, name: str, argv: list[str], env: Mapping[str, str] | None = None
) -> int:
    log_path = _log_path(config, name)
    with log_path.open("ab") as log:
        stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        log.write(f"--- {stamp} gonogo demo: starting {name}: {shlex.join(argv)}\n".encode())
        log.flush()
        # argv holds fixed executables and paths of our own; no shell is involved.
        child = subprocess.Popen(  # noqa: S603
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=config.run_dir,
            env=env,
            # Own session: Ctrl-C in the terminal that ran `up` must not reach the demo.
            start_new_session=True,
        )
    _children[child.pid] = child
    _write_file(_pid_path(config, name), f"{child.pid}\n")
    return child.pid


def _running_pid(config: DemoConfig, name: str) -> int | None:
    try:
        pid = int(_pid_path(config, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _is_ours(pid, config, name) else None


def _is_ours(pid: int, config: DemoConfig, name: str) -> bool:
    """Alive, and its command line names our run dir or the component's port.

    Pids get recycled: a pid file that outlived its process may now name anything.
    """
    child = _children.get(pid)
    if child is not None:
        # Our own child: its pid cannot be reused before we reap it, and between fork and
        # exec its cmdline is still ours, so the check below would wrongly fail.
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        # A zombie's cmdline reads empty, so it never matches below.
        cmdline = (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return False
    if f"{config.run_dir}/" in cmdline:
        return True
    ports = (int(getattr(config, field)) for field in _COMPONENT_PORTS[name])
    return any(re.search(rf"(?<![0-9]){port}(?![0-9])", cmdline) for port in ports)


def _survivors(config: DemoConfig, pids: Mapping[str, int]) -> list[str]:
    return [name for name, pid in pids.items() if _is_ours(pid, config, name)]


def _signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _kill_group(pid: int) -> None:
    # Each component leads its own process group (start_new_session), so the group holds
    # exactly that component and its workers.
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def _port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # Like the servers themselves: a port with only TIME_WAIT leftovers counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _executable(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if found is None:
        raise DemoError(
            f"{name}: not found on PATH or in /usr/sbin; the demo needs it installed "
            f"(Debian or Ubuntu: apt-get install {name})"
        )
    return found


# -- readiness --------------------------------------------------------------------------------


def _wait_ready(
    config: DemoConfig,
    name: str,
    pid: int,
    colour: str,
    keys: _Secrets,
    deadline: float,
    timeout_s: float,
) -> None:
    if name == "redis":
        probe = functools.partial(_redis_problem, config.host, config.redis_port, keys)
        _poll(config, name, pid, "AUTH + PING to answer +OK +PONG", probe, deadline, timeout_s)
    else:
        release = colour if name == "nginx" else name.removeprefix("api-")
        _wait_release(config, name, pid, release, deadline, timeout_s)


def _wait_release(
    config: DemoConfig, name: str, pid: int, release: str, deadline: float, timeout_s: float
) -> None:
    if name == "nginx":
        url = f"{config.url}/health/live"
        verify: ssl.SSLContext | bool = _ca_context(config)
    else:
        url = f"http://{config.host}:{_port(config, name)}/health/live"
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
    """Call `probe` until it reports no problem; fail early if the process died."""
    while True:
        problem = probe()
        if problem is None:
            return
        if not _is_ours(pid, config, name):
            raise DemoError(
                f"{name} (pid {pid}) exited while gonogo waited for {what}; "
                f"last answer: {problem}; {_log_tail(config, name)}"
            )
        if time.monotonic() >= deadline:
            raise DemoError(
                f"{name} (pid {pid}) not ready within {timeout_s:g} s: waited for {what}; "
                f"last answer: {problem}; {_log_tail(config, name)}"
            )
        time.sleep(_POLL_S)


def _redis_problem(host: str, port: int, keys: _Secrets) -> str | None:
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


def _log_tail(config: DemoConfig, name: str) -> str:
    path = _log_path(config, name)
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16384))
            lines = log.read().decode(errors="replace").splitlines()[-_LOG_LINES:]
    except OSError as exc:
        return f"its log {path} is unreadable: {exc}"
    return f"last {len(lines)} lines of {path}:\n" + "\n".join(lines)


# -- nginx ------------------------------------------------------------------------------------


def _point_nginx_at(
    config: DemoConfig, colour: str, nginx_pid: int, deadline: float, timeout_s: float
) -> None:
    upstream = _nginx_dir(config) / "upstream.conf"
    previous = upstream.read_text() if upstream.exists() else None
    _write_file(upstream, _upstream_conf(config, colour))
    try:
        _nginx_check(config)
    except DemoError:
        if previous is not None:
            _write_file(upstream, previous)
        raise
    # SIGHUP: nginx re-reads its config and replaces workers without dropping connections.
    _signal(nginx_pid, signal.SIGHUP)
    _wait_release(config, "nginx", nginx_pid, colour, deadline, timeout_s)


def _nginx_argv(config: DemoConfig) -> list[str]:
    return [
        _executable("nginx"),
        *("-p", f"{_nginx_dir(config)}/"),
        # -e: even before reading the config, nginx logs here instead of /var/log/nginx.
        *("-e", str(_log_path(config, "nginx"))),
        *("-c", str(_nginx_dir(config) / "nginx.conf")),
        *("-g", "daemon off;"),
    ]


def _nginx_check(config: DemoConfig) -> None:
    argv = [*_nginx_argv(config), "-t"]
    try:
        result = subprocess.run(  # noqa: S603 -- fixed executable, our own paths
            argv, capture_output=True, text=True, timeout=10, check=False
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"nginx -t: no verdict within 10 s on {argv[-4]}") from None
    if result.returncode != 0:
        output = (result.stderr + result.stdout).strip()
        raise DemoError(f"nginx -t rejected {argv[-4]} (exit {result.returncode}):\n{output}")


def _nginx_conf(config: DemoConfig) -> str:
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("gonogo.demo", "templates"),
        # Renders nginx syntax, not HTML: escaping would corrupt quotes in the config.
        autoescape=False,  # noqa: S701
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    nginx_dir = _nginx_dir(config)
    return templates.get_template("nginx.conf").render(
        run_dir=config.run_dir,
        nginx_dir=nginx_dir,
        temp_dir=nginx_dir / "tmp",
        error_log=_log_path(config, "nginx"),
        access_log=config.run_dir / "logs" / "nginx-access.log",
        upstream_conf=nginx_dir / "upstream.conf",
        server_cert=config.run_dir / "pki" / "server.pem",
        server_key=config.run_dir / "pki" / "server.key",
        host=config.host,
        http_port=config.http_port,
        https_port=config.https_port,
    )


def _upstream_conf(config: DemoConfig, colour: str) -> str:
    port = _port(config, f"api-{colour}")
    return (
        f"# Active release: {colour}. Rewritten by `gonogo demo switch`.\n"
        f"upstream gonogo_api {{\n    server {config.host}:{port};\n}}\n"
    )


# -- files ------------------------------------------------------------------------------------


def _redis_conf(config: DemoConfig, keys: _Secrets) -> str:
    lines = [
        "# Rendered by `gonogo demo up`; holds the Redis password, hence mode 0600.",
        f"bind {config.host}",
        f"port {config.redis_port}",
        "protected-mode yes",
        f"requirepass {keys.redis_password}",
        # A demo cache: nothing worth persisting, and no dump files left behind.
        'save ""',
        "appendonly no",
        f'dir "{config.run_dir / "redis"}"',
        "daemonize no",
        'logfile ""',
        # Puts the config path, hence the run dir, in the process title that `down` checks.
        'proc-title-template "{title} {listen-addr} {server-mode} {config-file}"',
    ]
    return "\n".join(lines) + "\n"


def _load_secrets(config: DemoConfig) -> _Secrets:
    password = _read_env_file(config.env_file).get("GONOGO_DEMO_PASSWORD")
    redis_password = None
    with contextlib.suppress(FileNotFoundError):
        for line in _redis_conf_path(config).read_text().splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "requirepass":
                redis_password = words[1]
    return _Secrets(
        password=password or secrets.token_urlsafe(18),
        redis_password=redis_password or secrets.token_urlsafe(32),
    )


def _write_env_file(config: DemoConfig, keys: _Secrets) -> None:
    values = {**config._public_variables(), "GONOGO_DEMO_PASSWORD": keys.password}
    lines = [
        "# gonogo demo: `set -a; . <this file>; set +a` exports what a run against the demo needs.",
        *(f"{key}={shlex.quote(value)}" for key, value in values.items()),
    ]
    _write_file(config.env_file, "\n".join(lines) + "\n", 0o600)


def _read_env_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    values = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = "".join(shlex.split(raw))
    return values


def _write_state(config: DemoConfig, active: str | None) -> None:
    state = {"active": active, "host": config.host, "ports": config.ports()}
    _write_file(_state_path(config), json.dumps(state, indent=2) + "\n")


def _read_state(config: DemoConfig) -> _Recorded | None:
    path = _state_path(config)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DemoError(
            f"{path}: unreadable ({exc}); `gonogo demo down` stops the demo and removes it"
        ) from exc
    try:
        active = data["active"]
        if active not in (None, *COLOURS):
            raise ValueError(f"active: expected blue, green or null, got {active!r}")
        recorded = _with_ports(DemoConfig(config.run_dir, host=data["host"]), data["ports"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DemoError(
            f"{path}: not a demo state file ({exc}); "
            "`gonogo demo down` stops the demo and removes it"
        ) from exc
    return _Recorded(active=active, config=recorded)


def _check_addresses(config: DemoConfig) -> _Recorded | None:
    recorded = _read_state(config)
    if recorded is not None and recorded.config != config:
        changes = ", ".join(
            f"{field.removesuffix('_port')} {getattr(recorded.config, field)} -> "
            f"{getattr(config, field)}"
            for field in ("host", *_PORT_VARIABLES)
            if getattr(recorded.config, field) != getattr(config, field)
        )
        raise DemoError(
            f"{_state_path(config)}: the demo there was started on other addresses than this "
            f"run asks for ({changes}); run `gonogo demo down` first, then `gonogo demo up` again"
        )
    return recorded


def _write_file(path: Path, text: str, mode: int = 0o644) -> None:
    # Write-then-rename: nginx reloading or a reader never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, mode)
        file.write(text)
    tmp.replace(path)


def _port(config: DemoConfig, name: str) -> int:
    return int(getattr(config, _COMPONENT_PORTS[name][0]))


def _pid_path(config: DemoConfig, name: str) -> Path:
    return config.run_dir / "run" / f"{name}.pid"


def _log_path(config: DemoConfig, name: str) -> Path:
    return config.run_dir / "logs" / f"{name}.log"


def _state_path(config: DemoConfig) -> Path:
    return config.run_dir / "state.json"


def _redis_conf_path(config: DemoConfig) -> Path:
    return config.run_dir / "redis.conf"


def _nginx_dir(config: DemoConfig) -> Path:
    return config.run_dir / "nginx"
