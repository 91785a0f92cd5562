"""Environment files: every malformed file names its key path; interpolation, extends, secrets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.environment_file import available_environments, load_environment
from gonogo.errors import EnvironmentFileError

HERE = Path(__file__).parent / "environments"
MALFORMED = sorted((HERE / "malformed").glob("*.yaml"))


def expected_fragments(path: Path) -> list[str]:
    """The file's leading `# expect: FRAGMENT` lines: each must be in the error message (a file
    with several errors lists each key path on a line of its own)."""
    lines = path.read_bytes().split(b"\n")
    assert lines[0].startswith(b"# expect: "), f"{path.name}: first line must say what to expect"
    expected = []
    for line in lines:
        if not line.startswith(b"# expect: "):
            break
        expected.append(line.decode().removeprefix("# expect: "))
    return expected


def test_corpus_is_large_enough() -> None:
    assert len(MALFORMED) >= 40


# The categories of malformed or hostile files, and corpus files that stand for each
# (tests/test_bad_environments.py generates the rest: huge files, UTF-16, long extends chains).
CATEGORIES = {
    "wrong types": [
        "wrong-type-timeout",
        "wrong-type-bool",
        "wrong-type-mapping",
        "smoke-not-list",
    ],
    "unknown keys": ["unknown-top-key", "unknown-nested-key"],
    "missing required keys": ["missing-request", "missing-prometheus", "waiver-without-expiry"],
    "cyclic extends": ["extends-cycle"],
    "extends to a missing file": ["extends-missing", "extends-directory", "extends-not-a-name"],
    "alias bombs": ["alias-bomb", "alias-bomb-merge-keys", "alias-recursive", "deep-nesting"],
    "Python object tags": ["python-tag", "python-object-apply", "python-object-new", "python-name"],
    "other tags": ["custom-tag", "python-tag-directive", "python-tag-on-key"],
    "non-UTF-8 bytes": ["non-utf8", "nul-bytes"],
    "empty file": ["empty", "only-comments"],
    "not a mapping at the top level": ["top-level-list", "top-level-scalar", "two-documents"],
    "negative timeouts": ["negative-timeout", "negative-timeouts", "timeout-too-long"],
    "thresholds out of range": [
        "thresholds-out-of-range",
        "load-error-rate-percent",
        "load-window-error-rate",
        "not-a-number-threshold",
    ],
    "ports out of range": ["port-out-of-range", "ports-out-of-range", "url-port-out-of-range"],
    "invalid PromQL durations": [
        "metrics-bad-duration",
        "metrics-duration-decimal",
        "watch-interval-words",
    ],
    "invalid regexes": [
        "container-bad-log-pattern",
        "flow-bad-header-regex",
        "dependency-bad-banner-regex",
    ],
    "YAML syntax": ["yaml-syntax", "tabs-indentation", "duplicate-key", "invalid-date"],
}


@pytest.mark.parametrize("category", CATEGORIES)
def test_corpus_covers_category(category: str) -> None:
    names = {path.stem for path in MALFORMED}
    assert set(CATEGORIES[category]) <= names


@pytest.mark.parametrize("path", MALFORMED, ids=[p.stem for p in MALFORMED])
def test_malformed_file_names_key_path(path: Path) -> None:
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(path, {})
    message = str(caught.value)
    for fragment in expected_fragments(path):
        assert fragment in message
    assert str(path.name) in message
    assert "Traceback" not in message
    assert len(message.splitlines()) <= 20


def test_good_file_loads() -> None:
    loaded = load_environment(HERE / "good.yaml", {})
    env = loaded.environment
    assert env.name == "good"
    assert env.url(env.smoke[0].request) == "http://127.0.0.1:9/health/live"
    assert env.wait is not None and env.wait.attempts == 2


def test_name_defaults_to_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "staging.yaml"
    path.write_text("smoke: []\n")
    assert load_environment(path, {}).environment.name == "staging"


def test_variables_are_interpolated_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(
        "name: x\n"
        "public_variables: [PORT]\n"
        "base_url: http://127.0.0.1:${PORT}\n"
        "description: ${NOT_SET:-fallback} costs $$5\n"
    )
    env = load_environment(path, {"PORT": "8080"}).environment
    assert env.base_url == "http://127.0.0.1:8080"
    assert env.description == "fallback costs $5"


def test_environment_values_are_secret_unless_public(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(
        "name: x\n"
        "public_variables: [HOST]\n"
        "description: ${HOST} ${TOKEN}\n"
        "smoke:\n"
        "  - name: a\n"
        "    request:\n"
        "      url: http://${HOST}/a\n"
        "      headers: {x-api-key: literal-api-key-value}\n"
    )
    loaded = load_environment(path, {"HOST": "127.0.0.1", "TOKEN": "s3cr3t-t0ken"})
    redacted = loaded.redactor.redact(f"{loaded.environment.description} literal-api-key-value")
    assert redacted == "127.0.0.1 *** ***"


def test_secret_tag_marks_literal_values(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("name: x\ndescription: !secret correct-horse-battery\n")
    loaded = load_environment(path, {})
    assert loaded.redactor.redact("pw=correct-horse-battery") == "pw=***"
    assert loaded.redactor.redact("pw=correct%2Dhorse") == "pw=correct%2Dhorse"


def test_bad_value_from_variable_is_redacted_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("name: x\ndefaults: {timeout_s: '${TIMEOUT}'}\n")
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(path, {"TIMEOUT": "not-a-number-secret"})
    assert "defaults.timeout_s: expected a number, got '***'" in str(caught.value)


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    (tmp_path / "_base.yaml").write_text(
        "base_url: http://127.0.0.1:9\n"
        "defaults: {timeout_s: 3, severity: minor}\n"
        "smoke:\n  - {name: a, request: {url: /a}}\n  - {name: b, request: {url: /b}}\n"
    )
    (tmp_path / "staging.yaml").write_text(
        "extends: _base.yaml\ndefaults: {timeout_s: 7}\nsmoke:\n  - {name: c, request: {url: /c}}\n"
    )
    env = load_environment(tmp_path / "staging.yaml", {}).environment
    assert env.name == "staging"
    assert (env.defaults.timeout_s, env.defaults.severity) == (7, "minor")
    assert [c.name for c in env.smoke] == ["c"]
    assert available_environments(tmp_path) == ["staging"]


def test_extends_error_names_the_base_file(tmp_path: Path) -> None:
    (tmp_path / "_base.yaml").write_text("defaults: {timeout_s: '${MISSING_VAR_X}'}\n")
    (tmp_path / "child.yaml").write_text("extends: _base.yaml\n")
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(tmp_path / "child.yaml", {})
    assert f"{tmp_path / '_base.yaml'}: defaults.timeout_s: environment variable MISSING_VAR_X" in (
        str(caught.value)
    )


def test_schema_command_prints_json_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "schema"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    schema = json.loads(done.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"smoke", "wait", "defaults", "extends", "tls"} <= set(schema["properties"])
    assert schema["additionalProperties"] is False


def test_validate_command_reports_key_path_and_exit_code() -> None:
    bad = HERE / "malformed" / "unknown-nested-key.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "validate", str(HERE / "good.yaml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 4
    assert "valid environment 'good'" in done.stdout
    assert "smoke[1].request: unknown key 'methd'" in done.stderr


REPO_ENVIRONMENTS = HERE.parent.parent / "environments"
SHIPPED = available_environments(REPO_ENVIRONMENTS)  # bases (_*.yaml) load through these


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_environment_files_are_valid(name: str, tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.pem").write_text("")
    environ = {
        "STAGING_BASE_URL": "https://staging.example.com",
        "PRODUCTION_BASE_URL": "https://www.example.com",
        "GONOGO_DEMO_DIR": str(tmp_path),
        "GONOGO_DEMO_PASSWORD": "demo-password",
        "GONOGO_DEMO_POSTGRES_PASSWORD": "postgres-password",
        "GONOGO_DEMO_REDIS_PASSWORD": "redis-password",
    }
    environment = load_environment(REPO_ENVIRONMENTS / f"{name}.yaml", environ).environment
    assert environment.name == name
    assert environment.smoke


def test_staging_needs_its_base_url() -> None:
    with pytest.raises(EnvironmentFileError) as caught:
        load_environment(REPO_ENVIRONMENTS / "staging.yaml", {})
    assert str(caught.value).endswith(
        "staging.yaml: base_url: environment variable STAGING_BASE_URL is not set and has no "
        "default; set it, or write ${STAGING_BASE_URL:-default}"
    )
    assert available_environments(REPO_ENVIRONMENTS) == ["demo", "production", "staging"]


def test_literal_credentials_in_any_headers_mapping_are_secret(tmp_path: Path) -> None:
    """Not only smoke and flow headers: webhook, metrics and load headers are masked too."""
    path = tmp_path / "env.yaml"
    path.write_text(
        "name: x\n"
        "base_url: http://127.0.0.1:9\n"
        "metrics:\n"
        "  prometheus: http://127.0.0.1:9090\n"
        "  headers: {Authorization: Bearer literal-metrics-token}\n"
        "  queries: [{name: up, query: up, min: 1}]\n"
        "notify:\n"
        "  - url: http://127.0.0.1:9/hook\n"
        "    headers: {Authorization: Bearer literal-notify-token}\n"
        "load:\n"
        "  requests:\n"
        "    - {name: a, path: /, headers: {X-Api-Key: literal-load-key}}\n"
    )
    redactor = load_environment(path, {}).redactor
    text = "Bearer literal-metrics-token; Bearer literal-notify-token; literal-load-key"
    assert redactor.redact(text) == "***; ***; ***"
