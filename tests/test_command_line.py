"""Command-line misuse through pytest as the user runs it: `--env` twice, an unknown marker in
`-m`, `-n` with the load stage. Each is a usage error (exit 4) before any check; the correct
spellings still run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.command_line import GONOGO_MARKERS, marker_names

REPO = Path(__file__).resolve().parent.parent
USAGE_ERROR = 4
ENVIRONMENT = (
    "name: {name}\nbase_url: http://127.0.0.1:9\n"
    "smoke: [{{name: live, request: {{url: /health, timeout_s: 0.5}}}}]\n"
)
LOAD = "load:\n  requests: [{name: home, path: /}]\n  duration_s: 5\n"


@pytest.fixture
def env_file(tmp_path: Path) -> Path:
    """An environment with a load section (smoke against a closed port: NO-GO, quickly)."""
    path = tmp_path / "staging.yaml"
    path.write_text(ENVIRONMENT.format(name="staging") + LOAD)
    return path


def run(tmp_path: Path, *args: str, addopts: str | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    if addopts is not None:
        environ["PYTEST_ADDOPTS"] = addopts
    return subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", f"--report-dir={tmp_path / 'reports'}", "-p", "no:cacheprovider"),
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env=environ,
    )


def decision(tmp_path: Path) -> dict[str, object]:
    record: dict[str, object] = json.loads((tmp_path / "reports" / "decision.json").read_text())
    return record


def assert_refused(done: subprocess.CompletedProcess[str], tmp_path: Path, message: str) -> None:
    assert done.returncode == USAGE_ERROR, done.stdout[-2000:] + done.stderr
    assert f"ERROR: gonogo: {message}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "reports").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "spelling",
    [("--env={a}", "--env={b}"), ("--env", "{a}", "--env={b}"), ("--env={a}", "--env", "{b}")],
    ids=["equals-equals", "space-equals", "equals-space"],
)
def test_env_given_twice_is_refused(
    spelling: tuple[str, ...], env_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "production.yaml"
    other.write_text(ENVIRONMENT.format(name="production"))
    args = [arg.format(a=env_file, b=other) for arg in spelling]
    done = run(tmp_path, *args)
    assert_refused(
        done,
        tmp_path,
        f"--env given 2 times ({env_file} on the command line, {other} on the command line): "
        "pytest would silently verify the last one; give --env once",
    )


def test_env_in_pytest_addopts_and_on_the_command_line_is_refused(
    env_file: Path, tmp_path: Path
) -> None:
    other = tmp_path / "production.yaml"
    other.write_text(ENVIRONMENT.format(name="production"))
    done = run(tmp_path, f"--env={other}", addopts=f"-q --env '{env_file}'")
    assert_refused(
        done,
        tmp_path,
        f"--env given 2 times ({env_file} in PYTEST_ADDOPTS, {other} on the command line)",
    )


def test_same_environment_twice_is_accepted(env_file: Path, tmp_path: Path) -> None:
    """Two spellings of one file: no ambiguity about what is verified."""
    roundabout = env_file.parent / ".." / env_file.parent.name / env_file.name
    done = run(tmp_path, f"--env={env_file}", f"--env={roundabout}", "-m", "smoke")
    assert done.returncode == 1, done.stderr  # NO-GO: the smoke check's port is closed
    assert decision(tmp_path)["decision"] == "NO-GO"
    assert "given 2 times" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("expression", "unknown", "hint"),
    [
        ("smokee", "smokee", " (did you mean 'smoke'?)"),
        ("not (smoke or edge) and critcal", "critcal", " (did you mean 'critical'?)"),
        ('load(kind="x") or nightly', "nightly", ""),
    ],
)
def test_unknown_marker_is_refused(
    expression: str, unknown: str, hint: str, env_file: Path, tmp_path: Path
) -> None:
    done = run(tmp_path, f"--env={env_file}", "-m", expression)
    assert_refused(
        done,
        tmp_path,
        f"-m {expression!r}: unknown marker {unknown!r}{hint}; it would deselect every check "
        f"(pytest does not check -m names). gonogo's markers: {', '.join(GONOGO_MARKERS)}; "
        "a marker of another plugin must be listed in the `markers` ini option",
    )


def test_known_markers_are_accepted(env_file: Path, tmp_path: Path) -> None:
    expression = "smoke and not (load or watch) and not critical(reason='x, y')"
    done = run(tmp_path, f"--env={env_file}", "-m", expression)
    assert done.returncode == 1, done.stderr
    checks = decision(tmp_path)["checks"]
    assert isinstance(checks, list)
    assert [check["id"] for check in checks] == ["test_status_is_expected[live]"]


def test_marker_names_skip_operators_arguments_and_strings() -> None:
    assert marker_names('(smoke or edge) and not load(kind="a or b", n=3)') == [
        "smoke",
        "edge",
        "load",
    ]
    assert marker_names("not  ( a )") == ["a"]
    assert marker_names("") == []


def test_every_gonogo_marker_is_registered(env_file: Path, tmp_path: Path) -> None:
    done = run(tmp_path, f"--env={env_file}", "--markers")
    assert done.returncode == 0, done.stderr
    for marker in GONOGO_MARKERS:
        assert f"@pytest.mark.{marker}:" in done.stdout


def test_plugin_leaves_m_alone_in_runs_without_env(pytester: pytest.Pytester) -> None:
    """A project that only has gonogo installed keeps pytest's rules: -m on an unregistered
    marker deselects, as pytest always did."""
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-m", "nightly")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.mark.parametrize(
    ("marks", "rest"),
    [((), "not load"), (("-m", "smoke or load"), "(smoke or load) and not load")],
    ids=["everything", "smoke-or-load"],
)
def test_xdist_with_the_load_stage_is_refused(
    marks: tuple[str, ...], rest: str, env_file: Path, tmp_path: Path
) -> None:
    done = run(tmp_path, f"--env={env_file}", "-n", "2", *marks)
    assert_refused(
        done,
        tmp_path,
        "-n 2: the load stage cannot run on pytest-xdist workers (Locust needs a process of its "
        "own, and the environment has a load section); run the load stage alone with -m load, "
        f"and the rest with -n 2 -m '{rest}'",
    )


@pytest.mark.parametrize(
    "selection",
    [("-m", "not load"), ("checks/test_smoke.py",)],
    ids=["marker", "path"],
)
def test_xdist_without_the_load_stage_is_accepted(
    selection: tuple[str, ...], env_file: Path, tmp_path: Path
) -> None:
    done = run(tmp_path, f"--env={env_file}", "-n", "1", *selection)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    record = decision(tmp_path)
    assert record["decision"] == "NO-GO"
    ids = [check["id"] for check in record["checks"]]  # type: ignore[attr-defined]
    assert "test_status_is_expected[live]" in ids
    assert not [i for i in ids if "kpi" in i]


def test_xdist_without_a_load_section_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(ENVIRONMENT.format(name="small"))
    done = run(tmp_path, f"--env={path}", "-n", "1", "checks/test_smoke.py")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    assert decision(tmp_path)["decision"] == "NO-GO"


def test_load_fixture_still_refuses_xdist_when_the_command_line_cannot_tell(
    env_file: Path, tmp_path: Path
) -> None:
    """-k selects by name, which only collection knows: the check above stays quiet, and the
    load stage's fixture refuses on the worker, as the second line of defence."""
    done = run(tmp_path, f"--env={env_file}", "-n", "1", "-m", "load", "-k", "kpi")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    assert "the load stage does not run under pytest-xdist (-n)" in done.stdout
    assert "load" not in decision(tmp_path)
