"""A command run as its own process group, bounded in time, watched, and never left behind.

Load generators fork (Locust's `--processes` does), so the unit of control is the process group:
the command starts a new session, every signal goes to the whole group, and the run is over only
when no process of the group is left. Past the bound the group gets SIGTERM, then SIGINT, then
SIGKILL, each a few seconds apart, with a SIGCONT so a stopped group can act on them. SIGTERM
comes first because gevent programs (Locust) handle it in a greenlet of its own and shut down
cleanly, results written; a SIGINT lands as KeyboardInterrupt in whichever greenlet happens to
run. Any exception in the caller (Ctrl-C, a pytest timeout) kills the group before it
propagates.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GroupRun", "direct_environment", "group_members", "run_bounded"]

_TAIL_BYTES = 64 * 1024
_PROXY_VARIABLES = frozenset(
    {"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}
)
_SIGNAL_GAP_S = 3.0
_ESCALATION = (signal.SIGTERM, signal.SIGINT, signal.SIGKILL)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class GroupRun:
    returncode: int | None
    timed_out: bool  # the bound passed and the group had to be signalled
    started_at: float  # unix time
    elapsed_s: float
    cpu: list[tuple[float, float]]  # (seconds since start, % of all cores) per second
    output_tail: str  # the last 64 KiB of output, without the progress lines


def direct_environment(base: Mapping[str, str]) -> dict[str, str]:
    """`base` without proxy settings, for the generators gonogo starts (Locust, schemathesis):
    a proxy is a host the environment file never declared, and its latency is not the
    deployment's."""
    return {name: value for name, value in base.items() if name not in _PROXY_VARIABLES}


def run_bounded(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    bound_s: float,
    progress_prefix: str,
    progress: Callable[[str], None],
    cwd: Path | None = None,
) -> GroupRun:
    """Run `command` (stdout and stderr together) for at most `bound_s` plus the stop signals;
    lines starting with `progress_prefix` go to `progress`, the rest to the tail. `cwd` is the
    working directory, by default ours."""
    started_at = time.time()
    process = subprocess.Popen(  # noqa: S603 - the caller's argv, as a list
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    watch = _Watch(process, progress_prefix, progress)
    try:
        timed_out = watch.until_exit(bound_s)
        _end_group(process.pid, grace_s=2.0)
        watch.drain()
    except BaseException:
        _kill_group(process)
        raise
    finally:
        watch.close()
    return GroupRun(
        returncode=process.returncode,
        timed_out=timed_out,
        started_at=started_at,
        elapsed_s=time.monotonic() - watch.started,
        cpu=watch.cpu,
        output_tail=watch.tail.decode("utf-8", errors="replace"),
    )


def group_members(pgid: int) -> list[int]:
    """Live processes of the group; zombies have ended and only wait for a reaper."""
    return [pid for pid, state, _ in _group_stat(pgid) if state != "Z"]


class _Watch:
    """The child's output, line by line without blocking, and its group's CPU once a second."""

    def __init__(
        self, process: subprocess.Popen[bytes], prefix: str, progress: Callable[[str], None]
    ) -> None:
        assert process.stdout is not None  # noqa: S101 - Popen was given stdout=PIPE
        self.process = process
        self.stdout = process.stdout
        os.set_blocking(self.stdout.fileno(), False)
        self.prefix = prefix
        self.progress = progress
        self.started = time.monotonic()
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)
        self.partial = b""
        self.tail = bytearray()
        self.cpu: list[tuple[float, float]] = []
        self.cores = os.cpu_count() or 1
        self.last_ticks = 0
        self.last_sample = self.started

    def until_exit(self, bound_s: float) -> bool:
        """Wait for the group leader, signalling the group past the bound; True if it had to."""
        next_signal = self.started + bound_s
        signals = iter(_ESCALATION)
        timed_out = False
        while self.process.poll() is None:
            now = time.monotonic()
            if now >= next_signal:
                timed_out = True
                sent = next(signals, None)
                if sent is not None:
                    _signal_group(self.process.pid, sent)
                next_signal = now + _SIGNAL_GAP_S
            if now >= self.last_sample + 1:
                self._sample(now)
            self._read(max(0.0, min(next_signal, self.last_sample + 1) - time.monotonic()))
        return timed_out

    def drain(self) -> None:
        """The output still in the pipe once the group is gone (bounded: a stray holder of the
        pipe cannot keep this waiting)."""
        deadline = time.monotonic() + 2
        while self.selector.get_map() and time.monotonic() < deadline:
            self._read(0.1)
        if self.partial:
            self._line(self.partial)

    def close(self) -> None:
        self.selector.close()
        self.stdout.close()

    def _read(self, timeout_s: float) -> None:
        if not self.selector.get_map():
            time.sleep(min(timeout_s, 0.1))
            return
        if not self.selector.select(timeout_s):
            return
        try:
            chunk = os.read(self.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:
            self.selector.unregister(self.stdout)
            return
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").rstrip("\r")
        if text.startswith(self.prefix):
            self.progress(text)
        else:
            self.tail += line + b"\n"
            del self.tail[:-_TAIL_BYTES]

    def _sample(self, now: float) -> None:
        ticks = sum(used for _, _, used in _group_stat(self.process.pid))
        used_s = max(0, ticks - self.last_ticks) / _CLOCK_TICKS
        percent = used_s / ((now - self.last_sample) * self.cores) * 100
        self.cpu.append((round(now - self.started, 1), round(percent, 1)))
        self.last_ticks, self.last_sample = ticks, now


def _group_stat(pgid: int) -> list[tuple[int, str, int]]:
    """(pid, state, CPU ticks incl. reaped children) for each process of the group, from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                text = stat.read().decode()
        except OSError:  # ended while we looked
            continue
        fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parens
        if int(fields[2]) == pgid:
            used = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
            found.append((int(entry.name), fields[0], used))
    return found


def _signal_group(pgid: int, sent: signal.Signals) -> None:
    try:
        os.killpg(pgid, sent)
        if sent != signal.SIGKILL:
            os.killpg(pgid, signal.SIGCONT)
    except ProcessLookupError:
        pass  # the group ended meanwhile


def _end_group(pgid: int, grace_s: float) -> None:
    """Once the leader is gone, what it forked may linger (orphaned if it was killed): wait a
    little, then kill what is left and wait for that too."""
    if not _gone_within(pgid, grace_s):
        _signal_group(pgid, signal.SIGKILL)
        _gone_within(pgid, grace_s)


def _gone_within(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_members(pgid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()
    _end_group(process.pid, grace_s=5.0)
