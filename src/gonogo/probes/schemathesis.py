"""A bounded schemathesis run over an OpenAPI document, as facts: passed or not, and why.

Knows nothing of pytest. schemathesis runs as its own CLI in a child process, in a process
group of its own and a scratch directory: its hypothesis machinery, threads and files stay out
of the suite's process, and the whole group can be stopped however it behaves. It is asked to
stop (SIGINT, on which it still prints its summary) at the time bound and killed 10 s later.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gonogo.environment_flows import SchemathesisRun
from gonogo.errors import GonogoError

__all__ = ["SchemathesisOutcome", "run_schemathesis"]

GRACE_S = 10.0
OUTPUT_TAIL_BYTES = 64 * 1024  # the failures' headings come before the summary: keep both
# Its report: `____ GET /api/crash ____` heads each failing operation, and the last
# `==== 2 failures, 1 warning in 9.46s ====` line sums the run up.
_FAILING = re.compile(r"^_{3,} (.+?) _{3,}$", re.MULTILINE)
_TOTAL = re.compile(r"^={3,} (.+?) ={3,}$", re.MULTILINE)


@dataclass(frozen=True)
class SchemathesisOutcome:
    """Whether the run found nothing; `summary` in one line, `output_tail` the report's end."""

    passed: bool
    summary: str
    output_tail: str


def run_schemathesis(
    document_url: str,
    base_url: str,
    run: SchemathesisRun,
    headers: Mapping[str, str],
    *,
    ca_file: Path | None = None,
    verify_tls: bool = True,
) -> SchemathesisOutcome:
    """Run schemathesis's `not_a_server_error` check over every operation of the document.

    Requests go to `base_url` whatever the document's `servers` say. `headers` go on the
    command line (`-H`): on a shared machine other users can read them there while it runs.
    """
    if importlib.util.find_spec("schemathesis") is None:
        raise GonogoError(
            "the OpenAPI smoke's schemathesis run needs schemathesis: "
            "pip install 'gonogo[schemathesis]'"
        )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        document_url,
        "--url",
        base_url,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(run.max_examples),
        "--generation-database",
        "none",
        "--no-color",
        "--tls-verify",
        str(ca_file) if verify_tls and ca_file else str(verify_tls).lower(),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    with tempfile.TemporaryDirectory(prefix="gonogo-schemathesis-") as scratch:
        returncode, output, finished = _run_bounded(command, scratch, run.max_duration_s)
    return _outcome(returncode, output, finished, run.max_duration_s)


def _run_bounded(command: list[str], cwd: str, limit_s: float) -> tuple[int, str, bool]:
    """The exit status, the output's last OUTPUT_TAIL_BYTES, and whether it ended in time."""
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter, arguments as a list
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a group to stop, children and all
        )
    except OSError as exc:
        raise GonogoError(f"cannot start schemathesis: {exc.strerror or exc}") from None
    tail = bytearray()
    with process:
        try:
            finished = _read_until(process, time.monotonic() + limit_s, tail)
            if not finished:
                _signal_group(process, signal.SIGINT)
                if not _read_until(process, time.monotonic() + GRACE_S, tail):
                    _signal_group(process, signal.SIGKILL)
        except BaseException:
            _signal_group(process, signal.SIGKILL)
            raise
    return process.returncode, tail.decode("utf-8", errors="replace"), finished


def _read_until(process: subprocess.Popen[bytes], deadline: float, tail: bytearray) -> bool:
    """Keep the output's tail until the process has closed it and exited; False at the deadline."""
    if process.stdout is None:
        raise GonogoError("schemathesis: no pipe to read its output from")
    fd = process.stdout.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if selector.select(left):
                chunk = os.read(fd, 65536)
                if not chunk:
                    selector.unregister(fd)
                tail += chunk
                del tail[:-OUTPUT_TAIL_BYTES]
    try:
        process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)  # its own session: nothing else is in the group


def _outcome(returncode: int, output: str, finished: bool, limit_s: float) -> SchemathesisOutcome:
    totals = _TOTAL.findall(output)
    summary = totals[-1] if totals else _why_no_run(returncode, output)
    failing = list(dict.fromkeys(_FAILING.findall(output)))
    if failing:
        summary += "; failing: " + ", ".join(failing)
    if not finished:
        summary = f"not finished within {limit_s:g} s; {summary}"
    return SchemathesisOutcome(finished and returncode == 0, summary, output.strip())


def _why_no_run(returncode: int, output: str) -> str:
    """Without its summary line (the document did not load, say): the first line naming an
    error, which is where schemathesis says what went wrong."""
    lines = [re.sub(r"^\W+", "", line.strip()) for line in output.splitlines()]
    lines = [line for line in lines if line]
    detail = next(
        (line for line in lines if re.search(r"error|failed", line, re.IGNORECASE)),
        lines[-1] if lines else "no output",
    )
    return f"schemathesis exited with status {returncode}: {detail[:200]}"
