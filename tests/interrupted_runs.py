"""A run of the suite in its own process that a test can watch, signal and account for: what it
printed so far (progress lines included, which end in no newline), and every process it
started, whatever session or process group they moved to."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class SuiteProcess:
    """`python -m pytest ARGS` started in a session of its own, its output read as it comes."""

    def __init__(self, args: list[str], env: Mapping[str, str], cwd: Path = REPO) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.seen: set[int] = set()  # every descendant observed while waiting

    @property
    def output(self) -> str:
        return self._output.decode(errors="replace")

    def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := self.process.stdout.read1(65536):
            self._output += chunk

    def wait_for(self, text: str, timeout_s: float) -> None:
        """Until `text` is printed, noting descendants meanwhile; AssertionError on timeout."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output:
            self.seen |= descendants(self.process.pid)
            assert self.process.poll() is None, f"ended before {text!r}:\n{self.output[-3000:]}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout_s:g} s:\n{self.output}"
            time.sleep(0.1)
        self.seen |= descendants(self.process.pid)

    def finish(self, timeout_s: float) -> int:
        """The exit code; the process group is killed if it outlives `timeout_s`."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            message = f"still running after {timeout_s:g} s:\n{self.output[-3000:]}"
            raise AssertionError(message) from None
        finally:
            self._reader.join(timeout=10)
            if self.process.stdout is not None:
                self.process.stdout.close()


def descendants(pid: int) -> set[int]:
    """Live children, grandchildren... of `pid`, read from /proc (zombies excluded)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if fields[0] != "Z":
                    parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in parents.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` still running (not zombies)."""
    running = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z":
                running.add(pid)
    return running
