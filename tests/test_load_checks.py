"""The load stage's safety rules, through the suite as a user runs it: refused means refused,
with a finding that says why, and nothing sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIO = (
    "name: prod\nprotected: true\nbase_url: http://127.0.0.1:9\n"
    "load:\n  requests: [{name: home, path: /}]\n  duration_s: 5\n"
)


def run_load_stage(tmp_path: Path, text: str, *args: str) -> tuple[int, dict, str]:
    env_file = tmp_path / "prod.yaml"
    env_file.write_text(text)
    reports = tmp_path / "reports"
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", f"--env={env_file}", f"--report-dir={reports}"),
            *("-p", "no:cacheprovider", "-m", "load", *args),
        ],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    record = json.loads((reports / "decision.json").read_text())
    return done.returncode, record, done.stdout


@pytest.mark.parametrize(
    ("allowed_in_file", "flag"),
    [(False, ()), (True, ()), (False, ("--allow-load",))],
    ids=["neither", "file-only", "flag-only"],
)
def test_protected_environment_refuses_load(
    tmp_path: Path, allowed_in_file: bool, flag: tuple[str, ...]
) -> None:
    text = SCENARIO + ("  allow_on_protected: true\n" if allowed_in_file else "")
    returncode, record, output = run_load_stage(tmp_path, text, *flag)
    assert returncode == 1
    assert record["decision"] == "NO-GO"
    assert "load" not in record  # nothing ran, so no KPIs
    assert "gonogo: refused, prod is protected" in output
    assert "gonogo load:" not in output  # no progress line: Locust never started


def test_load_stage_refuses_xdist(tmp_path: Path) -> None:
    """Refused before any check starts (gonogo.command_line), not by a failing check."""
    env_file = tmp_path / "prod.yaml"
    env_file.write_text(SCENARIO.replace("protected: true", "protected: false"))
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", f"--env={env_file}", f"--report-dir={tmp_path / 'reports'}"),
            *("-p", "no:cacheprovider", "-m", "load", "-n", "2"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 4
    assert "-n 2" in done.stderr and "-m load" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "reports" / "decision.json").exists()
