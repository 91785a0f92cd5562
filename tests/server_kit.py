"""Plumbing for the real servers tests start: spawn with a log, wait until ready, stop by pid;
and plain TCP listeners standing in for a service that accepts and then says (almost) nothing.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HOST = "127.0.0.1"


def spawn(argv: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
    """The server with stdout and stderr in `log`, for the message when it fails to start."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, **kwargs
        )


def wait_until(
    attempt: Callable[[], object],
    process: subprocess.Popen[Any],
    log: Path,
    what: str,
    timeout_s: float,
) -> None:
    """Retry `attempt` until it stops raising; fail with the server's log when the server
    exits or `timeout_s` passes first."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            attempt()
            return
        except Exception:  # any failure means "not yet"
            if process.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exited ({process.returncode})"
                    if process.returncode is not None
                    else (f"not ready within {timeout_s:g} s")
                )
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
                pytest.fail(f"{what}: {state}:\n{tail}", pytrace=False)
        time.sleep(0.05)


def end(process: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout_s: float = 15) -> None:
    """`sig` asks the server for its own clean shutdown; KILL only what outlives `timeout_s`."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout_s)


def tcp_connect(port: int) -> None:
    """Raises until something accepts on the port."""
    socket.create_connection((HOST, port), timeout=1).close()


def session_members(session_id: int) -> list[int]:
    """Live pids in the session a server led (start_new_session=True): what it forked."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[3]) == session_id and fields[0] != "Z":
                    members.append(int(entry.name))
    return members


class Listener:
    """A loopback TCP server in a thread that accepts, says `greeting` (may be empty) and
    then nothing more, until closed."""

    def __init__(self, greeting: bytes = b"") -> None:
        self._greeting = greeting
        self._server = socket.create_server((HOST, 0))
        self._server.settimeout(0.05)
        self.port: int = self._server.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self._accepted.append(conn)
            with contextlib.suppress(OSError):
                conn.sendall(self._greeting)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for conn in self._accepted:
            conn.close()
        self._server.close()
