"""The rollback hook runs for real: shell scripts that succeed, fail, hang, shrug off SIGTERM,
leak a secret or flood their output, and nothing they started outlives the run."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gonogo.environment_gate import RollbackHook
from gonogo.probes._process_group import group_members
from gonogo.redaction import Redactor
from gonogo.rollback_hook import OUTPUT_BYTES, HookRun, hook_environment, run_hook

SECRET = "hunter2-rollback-token"
BASE_ENV = {"PATH": os.environ.get("PATH", os.defpath)}


def script(directory: Path, body: str, name: str = "rollback.sh") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run(
    tmp_path: Path, command: list[str], *, timeout_s: float = 10, env: dict[str, str] | None = None
) -> HookRun:
    hook = RollbackHook(command=command, timeout_s=timeout_s)
    return run_hook(hook, env=env or BASE_ENV, cwd=tmp_path, redactor=Redactor([SECRET]))


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    return fields[0] != "Z"


def test_success_sees_the_gate_variables(tmp_path: Path) -> None:
    hook = RollbackHook(
        command=[str(script(tmp_path, 'env | grep -E "^(GONOGO_|TEAM=)" | sort'))],
        env={"TEAM": "payments", "GONOGO_DECISION": "GO"},
    )
    env = hook_environment(
        BASE_ENV,
        hook=hook,
        decision="ROLLBACK",
        environment="staging",
        triggers=["test_watch[smoke-health]", "test_alert[HighErrorRate]"],
        report_path=tmp_path / "decision.json",
        run_id="run-42",
    )

    result = run_hook(hook, env=env, cwd=tmp_path, redactor=Redactor())

    assert result.succeeded, result
    assert (result.exit_code, result.timed_out, result.error) == (0, False, None)
    assert result.output.splitlines() == [
        "GONOGO_DECISION=ROLLBACK",
        "GONOGO_ENVIRONMENT=staging",
        f"GONOGO_REPORT={tmp_path / 'decision.json'}",
        "GONOGO_RUN_ID=run-42",
        "GONOGO_TRIGGERS=test_watch[smoke-health],test_alert[HighErrorRate]",
        "TEAM=payments",
    ]
    assert result.to_dict()["succeeded"] is True


def test_nonzero_exit_is_a_failed_hook(tmp_path: Path) -> None:
    result = run(tmp_path, [str(script(tmp_path, "echo helm rollback failed; exit 3"))])

    assert (result.exit_code, result.succeeded, result.timed_out) == (3, False, False)
    assert result.output == "helm rollback failed\n"
    assert result.error is None


def test_hang_is_stopped_with_its_whole_group(tmp_path: Path) -> None:
    hanging = script(tmp_path, "echo $$ > leader.pid\nsleep 600 &\necho $! > child.pid\nwait")

    result = run(tmp_path, [str(hanging)], timeout_s=1)

    assert result.timed_out and not result.succeeded
    assert result.exit_code is not None and result.exit_code < 0  # ended by a signal
    assert 1 <= result.duration_s < 3, "SIGTERM, the first signal, should have ended it"
    leader, child = (int((tmp_path / name).read_text()) for name in ("leader.pid", "child.pid"))
    assert group_members(leader) == []
    assert not alive(child)


def test_hook_ignoring_sigterm_and_sigint_still_ends(tmp_path: Path) -> None:
    stubborn = script(
        tmp_path, "trap '' TERM INT\necho $$ > leader.pid\nsleep 600 &\necho $! > child.pid\nwait"
    )

    result = run(tmp_path, [str(stubborn)], timeout_s=1)

    assert result.timed_out and not result.succeeded
    # run_bounded signals 3 s apart: SIGTERM at 1 s, SIGINT at 4 s, SIGKILL at 7 s.
    assert 4 < result.duration_s < 10, result.duration_s
    leader, child = (int((tmp_path / name).read_text()) for name in ("leader.pid", "child.pid"))
    assert group_members(leader) == []
    assert not alive(child)


def test_secrets_are_redacted_from_output_and_command(tmp_path: Path) -> None:
    leaky = script(tmp_path, 'echo "curl -H token:$DEPLOY_TOKEN"; echo "arg $1"')

    result = run(tmp_path, [str(leaky), SECRET], env={**BASE_ENV, "DEPLOY_TOKEN": SECRET})

    assert result.succeeded
    assert result.output == "curl -H token:***\narg ***\n"
    assert result.command == [str(leaky), "***"]
    assert SECRET not in repr(result.to_dict())


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/nonexistent/rollback.sh"], "command not found: /nonexistent/rollback.sh"),
        (["gonogo-no-such-rollback-command"], "command not found: gonogo-no-such-rollback"),
        (["bin/missing.sh"], "command not found: {tmp}/bin/missing.sh"),
    ],
)
def test_missing_command_is_a_failed_hook_not_an_exception(
    tmp_path: Path, command: list[str], expected: str
) -> None:
    result = run(tmp_path, command)

    assert not result.succeeded
    assert (result.exit_code, result.timed_out, result.output) == (None, False, "")
    assert result.error is not None
    assert result.error.startswith(expected.format(tmp=tmp_path)), result.error


def test_script_with_a_missing_interpreter_is_a_failed_hook(tmp_path: Path) -> None:
    path = script(tmp_path, "exit 0")
    path.write_text("#!/nonexistent/python\n")

    result = run(tmp_path, [str(path)])

    assert result.error == (
        f"interpreter not found: the #! line of {path} names a missing program"
    ), result.error


def test_file_without_execute_permission_is_a_failed_hook(tmp_path: Path) -> None:
    path = tmp_path / "rollback.sh"
    path.write_text("#!/bin/sh\nexit 0\n")

    result = run(tmp_path, [str(path)])

    assert result.error is not None and not result.succeeded
    assert result.error.startswith(f"command not executable: {path}"), result.error


def test_huge_output_keeps_the_tail_with_a_cut_note(tmp_path: Path) -> None:
    result = run(tmp_path, [str(script(tmp_path, "seq 1 100000"))])

    note, rest = result.output.split("\n", 1)
    assert note.startswith("[... more than ") and note.endswith(" bytes cut ...]"), note
    assert len(rest.encode()) <= OUTPUT_BYTES
    assert rest.endswith("99999\n100000\n")
    assert result.succeeded


def test_output_over_the_cap_counts_exactly_what_was_cut(tmp_path: Path) -> None:
    # 4000 lines of "x" * 9: 40000 bytes, under run_bounded's 64 KiB, over the 16 KiB shown.
    result = run(tmp_path, [str(script(tmp_path, "yes xxxxxxxxx | head -n 4000"))])

    assert result.output.startswith(f"[... {40000 - OUTPUT_BYTES} bytes cut ...]\n")
    assert result.output.endswith("xxxxxxxxx\n")


def test_relative_command_runs_from_the_environment_files_directory(tmp_path: Path) -> None:
    script(tmp_path / "bin", "pwd; echo $0", name="rollback.sh")
    assert Path.cwd() != tmp_path

    result = run(tmp_path, ["bin/rollback.sh"])

    assert result.succeeded, result
    assert result.output == f"{tmp_path}\n{tmp_path / 'bin' / 'rollback.sh'}\n"
    assert result.command == [str(tmp_path / "bin" / "rollback.sh")]


def test_missing_working_directory_is_a_failed_hook(tmp_path: Path) -> None:
    hook = RollbackHook(command=["true"])

    result = run_hook(hook, env=BASE_ENV, cwd=tmp_path / "gone", redactor=Redactor())

    assert not result.succeeded
    assert (
        result.error
        == f"cannot enter working directory {tmp_path / 'gone'}: No such file or directory"
    )
