"""Hostile and malformed environment files through the user's own entry points: `gonogo validate`
and `pytest --env`. Each is a usage error naming file and key path, never a traceback, never a
command run, never a report that says GO; files too big to commit are generated here."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gonogo._yaml import MAX_FILE_BYTES, MAX_VALUES
from gonogo.environment_file import MAX_EXTENDS_DEPTH, load_environment
from gonogo.errors import EnvironmentFileError
from tests.test_environment_file import MALFORMED, expected_fragments

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "tests" / "environments" / "malformed"
USAGE_ERROR = 4
# Corpus files whose tag would run `touch $GONOGO_PWNED_DIR/<marker>` if built.
COMMANDS = {
    "python-object-apply": "apply",
    "python-object-new": "new",
    "python-subprocess": "subprocess",
    "python-tag-directive": "directive",
    "python-tag-on-key": "key",
}
# One or two files of each category, for the slower runs through pytest itself.
PYTEST_SAMPLE = [
    "alias-bomb",
    "alias-bomb-merge-keys",
    "deep-nesting",
    "python-object-apply",
    "python-subprocess",
    "nul-bytes",
    "extends-cycle",
    "invalid-date",
    "negative-timeouts",
    "ports-out-of-range",
    "thresholds-out-of-range",
    "flow-bad-header-regex",
    "watch-interval-words",
    "top-level-scalar",
]


def clean_environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    return {**environ, **extra}


def huge_file(directory: Path) -> Path:
    """About 2 MiB of otherwise valid smoke checks: twice the size limit."""
    path = directory / "huge.yaml"
    line = "  - {name: check-%06d, request: {url: 'http://127.0.0.1:9/p'}}\n"
    path.write_text("name: huge\nsmoke:\n" + "".join(line % n for n in range(34_000)))
    assert path.stat().st_size > 2 * 1_000_000
    return path


def expanded_size(node: Any, memo: dict[int, int] | None = None) -> int:
    """How many values a walk of `node` visits, shared references counted each time."""
    memo = {} if memo is None else memo
    if id(node) not in memo:
        children = list(node.values()) if isinstance(node, dict) else node
        inner = (
            sum(expanded_size(c, memo) for c in children) if isinstance(node, list | dict) else 0
        )
        memo[id(node)] = 1 + inner
    return memo[id(node)]


def test_validate_reports_every_malformed_file_in_one_run(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    pwned.mkdir()
    files = [*MALFORMED, huge_file(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "validate", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
        env=clean_environ(GONOGO_PWNED_DIR=str(pwned)),
    )
    assert done.returncode == USAGE_ERROR
    assert done.stdout == ""  # no file was found valid
    assert "Traceback" not in done.stderr
    reported = done.stderr.splitlines()
    for path in MALFORMED:
        own = "\n".join(line for line in reported if line.startswith(f"{path}:"))
        for fragment in expected_fragments(path):
            assert fragment in own, path.name
    assert f"{tmp_path / 'huge.yaml'}: file is " in done.stderr
    assert list(pwned.iterdir()) == []


@pytest.mark.parametrize("name", PYTEST_SAMPLE)
def test_pytest_refuses_malformed_file_before_any_check(name: str, tmp_path: Path) -> None:
    path = CORPUS / f"{name}.yaml"
    pwned = tmp_path / "pwned"
    pwned.mkdir()
    done = run_pytest(path, tmp_path, GONOGO_PWNED_DIR=str(pwned))
    assert done.returncode == USAGE_ERROR
    for fragment in expected_fragments(path):
        assert fragment in done.stderr
    assert f"ERROR: gonogo: {path}" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "reports" / "decision.json").exists()
    assert list(pwned.iterdir()) == []


def test_pytest_refuses_a_huge_file(tmp_path: Path) -> None:
    done = run_pytest(huge_file(tmp_path), tmp_path)
    assert done.returncode == USAGE_ERROR
    assert f"huge.yaml: file is {(tmp_path / 'huge.yaml').stat().st_size} bytes, expected " in (
        done.stderr
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "reports" / "decision.json").exists()


def run_pytest(path: Path, tmp_path: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", f"--env={path}", f"--report-dir={tmp_path / 'reports'}"),
            *("-p", "no:cacheprovider"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_environ(**environ),
    )


@pytest.mark.parametrize("name", COMMANDS)
def test_python_tag_file_would_run_its_command_if_loaded_unsafely(
    name: str, tmp_path: Path
) -> None:
    """The control for the runs above: these files are live, so "nothing ran" means something."""
    marker = tmp_path / COMMANDS[name]
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, yaml; yaml.unsafe_load(open(sys.argv[1]).read())",
            str(CORPUS / f"{name}.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ(GONOGO_PWNED_DIR=str(tmp_path)),
    )
    assert marker.exists(), done.stderr
    marker.unlink()
    with pytest.raises(EnvironmentFileError, match="never builds Python objects"):
        load_environment(CORPUS / f"{name}.yaml", {"GONOGO_PWNED_DIR": str(tmp_path)})
    assert not marker.exists()


def test_alias_bomb_is_refused_before_anything_walks_it() -> None:
    path = CORPUS / "alias-bomb.yaml"
    # PyYAML itself builds the document cheaply, out of shared lists...
    document = yaml.safe_load(path.read_text())
    assert expanded_size(document) > 40_000_000  # ...that any walk would visit 9**8 times
    started = time.monotonic()
    with pytest.raises(EnvironmentFileError, match="an alias bomb"):
        load_environment(path, {})
    assert time.monotonic() - started < 2


def test_values_past_the_limit_are_refused_quickly(tmp_path: Path) -> None:
    """Under the size limit but over the value limit: a list of single digits."""
    path = tmp_path / "many.yaml"
    path.write_text("name: many\ndescription: [" + ",".join(["1"] * (MAX_VALUES + 10)) + "]\n")
    assert path.stat().st_size < MAX_FILE_BYTES
    started = time.monotonic()
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(path, {})
    assert time.monotonic() - started < 15  # PyYAML's pure-Python parser: ~2 s unloaded
    assert f"description[{MAX_VALUES - 3}]: more than {MAX_VALUES} keys and values" in str(
        caught.value
    )


def test_aliases_and_merge_keys_within_limits_load(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(
        "name: shared\nbase_url: http://127.0.0.1:9\n"
        "smoke:\n"
        "  - &live {name: live, request: {url: /live, headers: &auth {x-api-key: k}}}\n"
        "  - <<: *live\n    name: ready\n"
        "  - {name: deep, request: {url: /deep, headers: *auth, json: "
        + "[" * 40
        + "]" * 40
        + "}}\n"
    )
    env = load_environment(path, {}).environment
    assert [(c.name, c.request.url) for c in env.smoke] == [
        ("live", "/live"),
        ("ready", "/live"),
        ("deep", "/deep"),
    ]
    assert env.smoke[2].request.headers == {"x-api-key": "k"}


def test_duplicate_key_beside_a_merge_key_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text("name: x\ndefaults: &d {timeout_s: 1}\nwait: {<<: *d, check: a, check: b}\n")
    with pytest.raises(EnvironmentFileError, match=r"duplicate key 'check' .*\(in wait\)"):
        load_environment(path, {})


def test_device_that_claims_to_be_empty_is_read_with_a_cap() -> None:
    with pytest.raises(EnvironmentFileError, match=f"more than {MAX_FILE_BYTES} bytes"):
        load_environment(Path("/dev/zero"), {})


def test_utf16_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "windows.yaml"
    path.write_bytes("name: windows\n".encode("utf-16"))
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(path, {})
    assert str(caught.value) == (
        f"{path}: file is UTF-16 (it starts with the byte-order mark ff fe), expected UTF-8 "
        "text; save it as UTF-8"
    )


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "notepad.yaml"
    path.write_bytes(b"\xef\xbb\xbfname: notepad\n")
    assert load_environment(path, {}).environment.name == "notepad"


def test_extends_chain_past_the_limit_is_refused(tmp_path: Path) -> None:
    for level in range(MAX_EXTENDS_DEPTH + 2):
        parent = f"extends: _level{level + 1}.yaml\n" if level <= MAX_EXTENDS_DEPTH else ""
        own = "name: chain\n" if level == 0 else ""
        (tmp_path / f"_level{level}.yaml").write_text(f"{parent}{own}description: level {level}\n")
    with pytest.raises(EnvironmentFileError, match=f"more than {MAX_EXTENDS_DEPTH} levels deep"):
        load_environment(tmp_path / "_level0.yaml", {})
    (tmp_path / f"_level{MAX_EXTENDS_DEPTH - 1}.yaml").write_text("description: the end\n")
    loaded = load_environment(tmp_path / "_level0.yaml", {})
    assert loaded.environment.description == "level 0"


def test_extends_cycle_through_two_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nname: a\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(tmp_path / "a.yaml", {})
    assert str(caught.value) == (
        f"{tmp_path / 'b.yaml'}: extends: cycle {tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} "
        f"-> {tmp_path / 'a.yaml'}"
    )
