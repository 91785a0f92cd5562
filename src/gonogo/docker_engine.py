"""A Docker engine to run the demo's and the project's own containers on, started only if needed.

An engine that already answers (at DOCKER_HOST, or the system socket) is used as it is and
never stopped. Otherwise gonogo starts its own dockerd with its own data root, exec root,
socket and pid file, so it can never be mistaken for, or touch, another engine:

    /var/lib/gonogo/docker       data root (images and containers; vfs storage, no overlay)
    /run/gonogo/docker           exec root, docker.sock, dockerd.pid, dockerd.log

It runs with `--bridge=none --iptables=false`: containers use the host network, and the
machine's firewall and routes stay exactly as they were.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions

from gonogo.errors import DemoError

__all__ = [
    "OWN_ENGINE",
    "Engine",
    "ensure_engine",
    "running_engine",
    "stop_own_engine_if_idle",
]

_DATA_ROOT = Path("/var/lib/gonogo/docker")
_EXEC_ROOT = Path("/run/gonogo/docker")
_SYSTEM_SOCKET = "unix:///var/run/docker.sock"
_PING_TIMEOUT_S = 3.0
_POLL_S = 0.2


@dataclass(frozen=True)
class Engine:
    """Where the engine answers, and whether gonogo's own dockerd is the one answering."""

    base_url: str
    own: bool

    def client(self, timeout_s: float = 30.0) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, timeout=timeout_s)


OWN_ENGINE = f"unix://{_EXEC_ROOT / 'docker.sock'}"

# The dockerd this interpreter started: referenced so that Popen does not warn, when garbage
# collected, that its process still runs (it is meant to), and reaped once stopped.
_started: list[subprocess.Popen[bytes]] = []


def running_engine() -> Engine | None:
    """The engine that answers now, in the order ensure_engine looks; None if none does."""
    explicit = os.environ.get("DOCKER_HOST")
    if explicit:
        if not _answers(explicit):
            raise DemoError(
                f"DOCKER_HOST={explicit}: no Docker engine answers there; start it, or unset "
                "DOCKER_HOST to let gonogo start its own engine"
            )
        return Engine(explicit, own=explicit == OWN_ENGINE)
    for url in (OWN_ENGINE, _SYSTEM_SOCKET):
        if _answers(url):
            return Engine(url, own=url == OWN_ENGINE)
    return None


def ensure_engine(timeout_s: float = 60.0) -> Engine:
    """An engine that answers a ping: DOCKER_HOST's, gonogo's own, the system's, or a new one."""
    engine = running_engine()
    if engine is not None:
        return engine
    dockerd = _start_dockerd()
    _started.append(dockerd)
    deadline = time.monotonic() + timeout_s
    while not _answers(OWN_ENGINE):
        if dockerd.poll() is not None:
            raise DemoError(
                f"dockerd exited with status {dockerd.returncode} before answering on "
                f"{OWN_ENGINE}; last lines of {_log_path()}:\n{_log_tail()}"
            )
        if time.monotonic() > deadline:
            raise DemoError(
                f"dockerd did not answer on {OWN_ENGINE} within {timeout_s:g} s; "
                f"last lines of {_log_path()}:\n{_log_tail()}"
            )
        time.sleep(_POLL_S)
    return Engine(OWN_ENGINE, own=True)


def stop_own_engine_if_idle(timeout_s: float = 20.0) -> bool:
    """Stop gonogo's own dockerd once no container is left on it; True if it was stopped.

    The demo and the project's tests share the engine: whichever leaves it empty stops it,
    and an engine gonogo did not start is never stopped.
    """
    pid = _dockerd_pid()
    if pid is None:
        return False
    with contextlib.suppress(docker.errors.DockerException, requests.exceptions.RequestException):
        if docker.DockerClient(base_url=OWN_ENGINE, timeout=_PING_TIMEOUT_S).containers.list(
            all=True
        ):
            return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _dockerd_pid() == pid and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    if _dockerd_pid() == pid:
        os.kill(pid, signal.SIGKILL)
    for child in _started:
        if child.pid == pid:
            child.wait(timeout_s)
    _started[:] = [child for child in _started if child.poll() is None]
    return True


def _answers(url: str) -> bool:
    if url.startswith("unix://") and not _socket_accepts(url.removeprefix("unix://")):
        return False  # asked of the SDK, a failed unix connect leaks its socket
    try:
        client = docker.DockerClient(base_url=url, timeout=_PING_TIMEOUT_S)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError):
        return False


def _socket_accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(_PING_TIMEOUT_S)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _start_dockerd() -> subprocess.Popen[bytes]:
    dockerd = shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/usr/bin")
    if dockerd is None:
        raise DemoError(
            "no Docker engine answers (DOCKER_HOST unset, /var/run/docker.sock silent) and "
            "dockerd is not installed; run scripts/install-system-packages.sh "
            "(Debian: apt-get install docker.io)"
        )
    if os.geteuid() != 0:
        raise DemoError(
            "no Docker engine answers, and starting one needs root; start your engine or "
            "point DOCKER_HOST at one"
        )
    for directory in (_DATA_ROOT, _EXEC_ROOT):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    argv = [
        dockerd,
        *("--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"),
        *("--storage-driver=vfs", "--data-root", str(_DATA_ROOT)),
        *("--exec-root", str(_EXEC_ROOT / "exec"), "--pidfile", str(_pid_path())),
        *("--host", OWN_ENGINE),
    ]
    with _log_path().open("ab") as log:
        # Its own session: a Ctrl-C meant for pytest or `gonogo demo` must not stop the engine.
        return subprocess.Popen(  # noqa: S603 - fixed argv of our own
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _pid_path() -> Path:
    return _EXEC_ROOT / "dockerd.pid"


def _log_path() -> Path:
    return _EXEC_ROOT / "dockerd.log"


def _dockerd_pid() -> int | None:
    """The pid in our pid file, if that process is a dockerd on our data root (pids get reused)."""
    try:
        pid = int(_pid_path().read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if str(_DATA_ROOT).encode() in cmdline else None


def _log_tail(lines: int = 15) -> str:
    try:
        with _log_path().open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            return "\n".join(log.read().decode(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"
