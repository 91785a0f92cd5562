"""The plugin end to end through pytester: --env, usage errors, the gate, reports, redaction."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpcore  # noqa: F401  # imported here so pytester's module snapshots keep one copy
import pytest

from tests.asgi_server import serve
from tests.suite_copy import decision, write_env

REPO = Path(__file__).resolve().parent.parent
MALFORMED = sorted((REPO / "tests" / "environments" / "malformed").glob("*.yaml"))
SECRET = "tok-7f3a9c1e55b2"


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve() as url:
        yield url


def good_env(url: str) -> str:
    return (
        f"name: svc\nbase_url: {url}\n"
        "wait: {check: live, attempts: 3, interval_s: 0.1}\n"
        "smoke:\n"
        "  - name: live\n"
        "    request: {url: /health/live}\n"
        "    expect: {status: 200, json: {status: alive, checks.db.status: ok}, latency_ms: 1000}\n"
        "    severity: critical\n"
    )


def test_no_env_is_a_usage_error_listing_environments(suite: pytest.Pytester) -> None:
    write_env(suite, "staging", "name: staging\n")
    write_env(suite, "production", "name: production\n")
    (suite.path / "environments" / "_base.yaml").write_text("{}\n")
    result = suite.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*need an environment: run pytest --env NAME*production, staging)*"]
    )


def test_unknown_env_is_a_usage_error(suite: pytest.Pytester) -> None:
    write_env(suite, "staging", "name: staging\n")
    result = suite.runpytest("--env", "stagng")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--env stagng: no environment file*available in*: staging*"])


# The whole corpus goes through load_environment and `gonogo validate` (test_environment_file,
# test_bad_environments); through pytest itself every sixth file proves the path.
PYTEST_SAMPLE = MALFORMED[::6]


@pytest.mark.parametrize("path", PYTEST_SAMPLE, ids=[p.stem for p in PYTEST_SAMPLE])
def test_malformed_file_is_a_usage_error_with_key_path(suite: pytest.Pytester, path: Path) -> None:
    target = suite.path / "environments" / path.name
    shutil.copy(path, target)
    stale = suite.path / "reports" / "decision.json"
    stale.parent.mkdir()
    stale.write_text('{"decision": "GO"}')  # a previous run's: a CI job must not read it
    expected = path.read_bytes().split(b"\n", 1)[0].decode().removeprefix("# expect: ")
    result = suite.runpytest(f"--env={path.stem}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    stderr = result.stderr.str()
    assert expected in stderr
    assert "Traceback" not in stderr + result.stdout.str()
    assert len(stderr.splitlines()) <= 22
    assert not stale.exists()


def test_healthy_service_gives_go(suite: pytest.Pytester, service: str) -> None:
    write_env(suite, "svc", good_env(service))
    result = suite.runpytest("--env", "svc", "-v")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "gonogo: environment svc (*svc.yaml)",
            "*test_deployment_becomes_ready[[]live[]] PASSED*",
            "*test_json_fields_match[[]live[]] PASSED*",
            "*gonogo decision: GO*",
        ]
    )
    assert result.outlines[-1].startswith("gonogo: GO for svc (all checks passed); decision record")
    record = decision(suite)
    assert record["decision"] == "GO"
    assert record["exit_code"] == 0
    assert record["counts"] == {"passed": 4}
    assert {c["id"] for c in record["checks"]} == {
        "test_deployment_becomes_ready[live]",
        "test_status_is_expected[live]",
        "test_json_fields_match[live]",
        "test_latency_within_budget[live]",
    }
    assert all(c["severity"] == "critical" for c in record["checks"])
    assert (suite.path / "reports" / "junit.xml").is_file()


def test_failed_checks_give_no_go_with_findings(suite: pytest.Pytester, service: str) -> None:
    write_env(
        suite,
        "svc",
        good_env(service)
        + "  - name: ready\n    request: {url: /health/ready}\n"
        + "  - name: slow\n    request: {url: /slow}\n    expect: {latency_ms: 50}\n"
        + "  - name: page\n    request: {url: /not-json}\n    expect: {json: {status: ok}}\n",
    )
    result = suite.runpytest("--env", "svc")
    assert result.ret == 1
    record = decision(suite)
    assert record["decision"] == "NO-GO"
    assert record["exit_code"] == 1
    assert set(record["blocking"]) == {
        "test_status_is_expected[ready]",
        "test_latency_within_budget[slow]",
        "test_json_fields_match[page]",
    }
    messages = {c["id"]: c["message"] for c in record["checks"]}
    assert messages["test_status_is_expected[ready]"].startswith(
        f"ready (GET {service}/health/ready): status 503, expected 200; body: "
    )
    assert "budget 50 ms" in messages["test_latency_within_budget[slow]"]
    assert "expected a JSON body, body is not JSON" in messages["test_json_fields_match[page]"]
    result.stdout.fnmatch_lines(
        ["*gonogo decision: NO-GO*", "blocking (3):", "gonogo: NO-GO for svc (3 blocking)*"]
    )


def test_minor_failure_is_a_warning_not_a_no_go(suite: pytest.Pytester, service: str) -> None:
    write_env(
        suite,
        "svc",
        good_env(service)
        + "  - name: ready\n    request: {url: /health/ready}\n    severity: minor\n",
    )
    result = suite.runpytest("--env", "svc")
    assert result.ret == 0
    record = decision(suite)
    assert (record["decision"], record["warnings"]) == ("GO", ["test_status_is_expected[ready]"])


def test_unreachable_target_is_no_go_with_a_clear_finding(suite: pytest.Pytester) -> None:
    with serve() as url:
        pass  # the port is free again: nothing listens there now
    write_env(suite, "svc", good_env(url).replace("attempts: 3", "attempts: 2"))
    result = suite.runpytest("--env", "svc")
    assert result.ret == 1
    messages = {c["id"]: c["message"] for c in decision(suite)["checks"]}
    assert messages["test_deployment_becomes_ready[live]"] == (
        "live: not ready after 2 attempts 0.1 s apart ("
        + messages["test_deployment_becomes_ready[live]"].split("(", 1)[1]
    )
    assert "connection refused" in messages["test_deployment_becomes_ready[live]"]
    assert messages["test_status_is_expected[live]"] == (
        f"GET {url}/health/live: connection refused (nothing listening?)"
    )
    assert "Traceback" not in result.stdout.str()


def test_secrets_never_reach_terminal_or_reports(
    suite: pytest.Pytester, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_TOKEN", SECRET)
    write_env(
        suite,
        "svc",
        good_env(service)
        + "  - name: echo\n"
        + "    request: {url: /echo-auth, headers: {authorization: 'Bearer ${SVC_TOKEN}'}}\n",
    )
    result = suite.runpytest("--env", "svc", "-l", "-rA")
    assert result.ret == 1
    output = result.stdout.str() + result.stderr.str()
    assert "status 403" in output
    assert "bad token ***" in output
    assert SECRET not in output
    reports = [path for path in (suite.path / "reports").rglob("*") if path.is_file()]
    assert {"decision.json", "report.html", "summary.md", "history.sqlite"} <= {
        path.name for path in reports
    }
    for report in reports:  # the history too: a secret must not sit in a SQLite page either
        assert SECRET.encode() not in report.read_bytes(), report.name


def test_skipped_check_is_no_go(suite: pytest.Pytester, service: str) -> None:
    write_env(suite, "svc", good_env(service))
    (suite.path / "checks" / "test_extra.py").write_text(
        "import pytest\n\n"
        "def test_needs_access(environment):\n"
        "    pytest.skip('no credentials for the admin API')\n"
    )
    result = suite.runpytest("--env", "svc")
    assert result.ret == 1
    record = decision(suite)
    assert record["blocking"] == ["test_needs_access"]
    assert record["reasons"] == ["test_needs_access was skipped (major)"]


def test_checks_without_targets_are_deselected_not_skipped(
    suite: pytest.Pytester, service: str
) -> None:
    write_env(
        suite,
        "svc",
        f"name: svc\nsmoke:\n  - name: live\n    request: {{url: {service}/health/live}}\n",
    )
    result = suite.runpytest("--env", "svc")
    assert result.ret == 0
    # Everything but the one status check: the other smoke judgements, every api, edge and
    # inside check.
    result.assert_outcomes(passed=1, deselected=71)


def test_nothing_verified_is_no_go(suite: pytest.Pytester, service: str) -> None:
    write_env(suite, "svc", good_env(service))
    result = suite.runpytest("--env", "svc", "-k", "no_such_check")
    assert result.ret == 1
    assert decision(suite)["reasons"] == ["no check ran: nothing was verified"]


def test_report_dir_option_and_decision_hook(
    suite: pytest.Pytester, service: str, tmp_path: Path
) -> None:
    write_env(suite, "svc", good_env(service))
    suite.makeconftest(
        (REPO / "conftest.py").read_text() + "\nseen = []\n\n"
        "def pytest_gonogo_decision(config, decision, record):\n"
        "    seen.append(record['decision'])\n"
        "    print('hook saw', decision.verdict.label, record['environment'])\n"
    )
    out = tmp_path / "out"
    result = suite.runpytest("--env", "svc", f"--report-dir={out}", "-s")
    assert result.ret == 0
    assert json.loads((out / "decision.json").read_text())["decision"] == "GO"
    assert (out / "junit.xml").is_file()
    result.stdout.fnmatch_lines(["*hook saw GO svc"])


def test_xdist_gives_the_same_decision(suite: pytest.Pytester, service: str) -> None:
    write_env(
        suite,
        "svc",
        good_env(service) + "  - name: ready\n    request: {url: /health/ready}\n",
    )
    serial = suite.runpytest_subprocess("--env", "svc")
    serial_record = decision(suite)
    parallel = suite.runpytest_subprocess("--env", "svc", "-n", "2")
    parallel_record = decision(suite)
    assert serial.ret == parallel.ret == 1
    assert parallel_record["decision"] == serial_record["decision"] == "NO-GO"
    assert (
        parallel_record["blocking"]
        == serial_record["blocking"]
        == ["test_status_is_expected[ready]"]
    )
    by_id = lambda record: sorted((c["id"], c["outcome"], c["severity"]) for c in record["checks"])  # noqa: E731
    assert by_id(parallel_record) == by_id(serial_record)


def test_plugin_stays_out_of_unrelated_test_runs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    assert "gonogo:" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_secrets_stay_out_of_test_ids_live_logs_and_skip_reasons(
    suite: pytest.Pytester, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key in a URL is in the check's id (an entry without a name is known by its URL), in
    httpx's log line for the request, and may be in a skip's reason: all three are masked."""
    monkeypatch.setenv("SVC_TOKEN", SECRET)
    write_env(
        suite,
        "svc",
        good_env(service).replace("{url: /health/live}", "{url: '/health/live?key=${SVC_TOKEN}'}")
        + "exposed_paths: ['/admin?key=${SVC_TOKEN}']\n",
    )
    (suite.path / "checks" / "test_extra.py").write_text(
        "import os\n\nimport pytest\n\n"
        "def test_needs_access(environment):\n"
        "    pytest.skip('no access with ' + os.environ['SVC_TOKEN'])\n"
    )
    result = suite.runpytest_subprocess(
        "--env=svc", "-rA", "-vv", "--log-cli-level=DEBUG", "--junitxml=junit.xml"
    )
    output = result.stdout.str() + result.stderr.str()
    assert "test_path_not_served[/admin?key=***]" in output
    assert "HTTP Request: GET" in output and "key=***" in output
    assert "no access with ***" in output
    assert SECRET not in output
    assert SECRET not in (suite.path / "junit.xml").read_text()
    assert decision(suite)["decision"] == "NO-GO"
