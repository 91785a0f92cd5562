"""The demo's processes: spawned in their own session, found by pid file, signalled only if ours."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from gonogo.demo._files import write_file
from gonogo.demo.config import COMPONENT_PORTS, DemoConfig
from gonogo.errors import DemoError

__all__ = [
    "POLL_S",
    "children",
    "executable",
    "is_ours",
    "log_path",
    "log_tail",
    "pid_path",
    "port_taken",
    "running_pid",
    "send_signal",
    "spawn",
    "stop",
    "wait_gone",
]

POLL_S = 0.1
_LOG_LINES = 20

# Popen objects of the processes this interpreter started: polling them reaps exited children,
# and keeping them referenced stops Popen from warning that they still run.
_children: dict[int, subprocess.Popen[bytes]] = {}
# PostgreSQL's TERM is a "smart" shutdown that waits for every client to disconnect, and the
# APIs' pools keep connections open; INT is its fast shutdown, which ends the sessions first.
_STOP_SIGNALS = {"postgres": signal.SIGINT}


def spawn(
    config: DemoConfig,
    name: str,
    argv: list[str],
    env: Mapping[str, str] | None = None,
    user: str | None = None,
) -> int:
    with log_path(config, name).open("ab") as log:
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
            # For a server that refuses to run as root (PostgreSQL); without extra_groups the
            # child would keep root's supplementary groups.
            user=user,
            group=user,
            extra_groups=None if user is None else [],
        )
    _children[child.pid] = child
    write_file(pid_path(config, name), f"{child.pid}\n")
    return child.pid


def running_pid(config: DemoConfig, name: str) -> int | None:
    try:
        pid = int(pid_path(config, name).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if is_ours(pid, config, name) else None


def is_ours(pid: int, config: DemoConfig, name: str) -> bool:
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
    ports = (int(getattr(config, field)) for field in COMPONENT_PORTS[name])
    return any(re.search(rf"(?<![0-9]){port}(?![0-9])", cmdline) for port in ports)


def stop(config: DemoConfig, names: Iterable[str], timeout_s: float) -> list[str]:
    """TERM first so each component can shut down cleanly; KILL only what outlives `timeout_s`."""
    stopping: dict[str, int] = {}
    for name in names:
        pid = running_pid(config, name)
        if pid is not None:
            send_signal(pid, _STOP_SIGNALS.get(name, signal.SIGTERM))
            stopping[name] = pid
    deadline = time.monotonic() + timeout_s
    while _survivors(config, stopping) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for name in _survivors(config, stopping):
        _kill_group(stopping[name])
    deadline = time.monotonic() + 2.0
    while _survivors(config, stopping) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    return list(stopping)


def _survivors(config: DemoConfig, pids: Mapping[str, int]) -> list[str]:
    return [name for name, pid in pids.items() if is_ours(pid, config, name)]


def children(pid: int) -> set[int]:
    """Direct children of `pid`, read from /proc (nginx's workers, for a reload)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        # Field 4 is the parent pid; the command name before it may contain spaces.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def wait_gone(pids: Iterable[int], deadline: float) -> set[int]:
    """Wait until none of `pids` is alive or the deadline passes; returns those still alive."""
    alive = set(pids)
    while alive:
        alive = {pid for pid in alive if Path(f"/proc/{pid}").exists()}
        if not alive or time.monotonic() >= deadline:
            break
        time.sleep(POLL_S / 10)
    return alive


def send_signal(pid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _kill_group(pid: int) -> None:
    # Each component leads its own process group (start_new_session), so the group holds
    # exactly that component and its workers; PostgreSQL's backends lead groups of their
    # own, so direct children are killed by pid as well.
    for child in children(pid):
        send_signal(child, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)


def port_taken(host: str, port: int) -> bool:
    with socket.socket() as probe:
        # Like the servers themselves: a port with only TIME_WAIT leftovers counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def executable(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if found is None:
        raise DemoError(
            f"{name}: not found on PATH or in /usr/sbin; the demo needs it installed "
            f"(Debian or Ubuntu: apt-get install {name})"
        )
    return found


def log_tail(config: DemoConfig, name: str) -> str:
    path = log_path(config, name)
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16384))
            lines = log.read().decode(errors="replace").splitlines()[-_LOG_LINES:]
    except OSError as exc:
        return f"its log {path} is unreadable: {exc}"
    return f"last {len(lines)} lines of {path}:\n" + "\n".join(lines)


def pid_path(config: DemoConfig, name: str) -> Path:
    return config.run_dir / "run" / f"{name}.pid"


def log_path(config: DemoConfig, name: str) -> Path:
    return config.run_dir / "logs" / f"{name}.log"
