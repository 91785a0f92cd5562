"""The rollback hook: the operator's own command that puts the previous release back.

The gate only runs it and records what happened. A hook that cannot start, fails or hangs is a
failed rollback for the decision record, not an error of the gate, so nothing here raises on
the hook's account. Rollback scripts call kubectl, helm or ssh, which fork: the hook runs as its
own process group (run_bounded), so a timeout ends all of them and not only the script.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gonogo.environment_gate import RollbackHook
from gonogo.probes._process_group import _TAIL_BYTES, run_bounded
from gonogo.redaction import Redactor

__all__ = ["OUTPUT_BYTES", "HookRun", "hook_environment", "run_hook"]

OUTPUT_BYTES = 16 * 1024
# No hook prints this at the start of a line, so all of its output is kept as output.
_NO_PROGRESS = "\0gonogo-progress"


@dataclass(frozen=True)
class HookRun:
    """What the hook did, as the decision record shows it; command and output are redacted."""

    command: list[str]
    exit_code: int | None  # negative: ended by that signal; None: it never started
    timed_out: bool
    duration_s: float
    output: str
    error: str | None  # why it could not start

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "exit_code": self.exit_code,
            "timed_out": self.timed_out,
            "succeeded": self.succeeded,
            "duration_s": self.duration_s,
            "output": self.output,
            "error": self.error,
        }


def hook_environment(
    base: Mapping[str, str],
    *,
    hook: RollbackHook,
    decision: str,
    environment: str,
    triggers: list[str],
    report_path: Path,
    run_id: str,
) -> dict[str, str]:
    """The gate's variables come last, so neither the inherited environment nor `hook.env` can
    make the hook believe in another decision or environment."""
    return {
        **base,
        **hook.env,
        "GONOGO_DECISION": decision,
        "GONOGO_ENVIRONMENT": environment,
        "GONOGO_TRIGGERS": ",".join(triggers),
        "GONOGO_REPORT": str(report_path),
        "GONOGO_RUN_ID": run_id,
    }


def run_hook(
    hook: RollbackHook, *, env: Mapping[str, str], cwd: Path, redactor: Redactor
) -> HookRun:
    """Run the hook in `cwd` (the environment file's directory) with stdin from /dev/null, for
    at most `hook.timeout_s` plus run_bounded's stop signals.

    A program named with a slash is relative to `cwd`, one without is looked up on the PATH
    of `env`, as a shell does; the record shows the absolute path that was run.
    """
    program = hook.command[0]
    if "/" in program and not os.path.isabs(program):
        program = os.path.normpath(cwd / program)
    command = [program, *hook.command[1:]]
    shown = [redactor.redact(part) for part in command]
    started = time.monotonic()
    try:
        group = run_bounded(
            command,
            env=env,
            bound_s=hook.timeout_s,
            progress_prefix=_NO_PROGRESS,
            progress=_ignore,
            cwd=cwd,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in an argument or variable
        return HookRun(
            command=shown,
            exit_code=None,
            timed_out=False,
            duration_s=round(time.monotonic() - started, 3),
            output="",
            error=redactor.redact(_start_error(exc, program, cwd, env)),
        )
    return HookRun(
        command=shown,
        exit_code=group.returncode,
        timed_out=group.timed_out,
        duration_s=round(group.elapsed_s, 3),
        output=_shown_output(group.output_tail, redactor),
        error=None,
    )


def _ignore(line: str) -> None:
    """The progress callback run_bounded wants; a hook reports no progress."""


def _start_error(exc: OSError | ValueError, program: str, cwd: Path, env: Mapping[str, str]) -> str:
    if isinstance(exc, ValueError):
        return f"could not start {program}: {exc}"
    if exc.filename is not None and str(exc.filename) == str(cwd):  # subprocess names cwd
        return f"cannot enter working directory {cwd}: {exc.strerror}"
    if exc.errno == errno.ENOENT and "/" not in program:
        return f"command not found: {program} (not on PATH {env.get('PATH', os.defpath)})"
    if exc.errno == errno.ENOENT and os.path.isfile(program):
        return f"interpreter not found: the #! line of {program} names a missing program"
    if exc.errno == errno.ENOENT:
        return f"command not found: {program}"
    if exc.errno == errno.EACCES:
        return f"command not executable: {program} (permission denied; chmod +x?)"
    if exc.errno == errno.ENOEXEC:
        return f"command not executable: {program} (not a binary; a script needs a #! line)"
    return f"could not start {program}: {exc.strerror or exc}"


def _shown_output(tail: str, redactor: Redactor) -> str:
    """The last OUTPUT_BYTES of the output. Redacted before it is cut, so a cut can split a
    mask but never a secret."""
    earlier_cut = len(tail.encode()) >= _TAIL_BYTES
    if earlier_cut:
        # run_bounded kept its last 64 KiB from mid-line, perhaps from the middle of a secret
        # that redaction cannot recognise any more: that first line goes.
        tail = tail.partition("\n")[2]
    data = redactor.redact(tail).encode()
    if len(data) <= OUTPUT_BYTES and not earlier_cut:
        return data.decode()
    kept = data[-OUTPUT_BYTES:]
    more = "more than " if earlier_cut else ""
    note = f"[... {more}{len(data) - len(kept)} bytes cut ...]\n"
    return note + kept.decode("utf-8", errors="ignore")  # ignore: a character split by the cut
