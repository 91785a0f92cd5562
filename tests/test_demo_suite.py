"""The suite against the real demo deployment: blue is GO, green is NO-GO, the same under xdist."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest

from gonogo.demo.deployment import DemoConfig, switch

REPO = Path(__file__).resolve().parent.parent
DEMO_ENV = REPO / "environments" / "demo.yaml"
GREEN_SMOKE_BLOCKING = {
    "test_status_is_expected[ready]",
    "test_json_fields_match[ready]",
    "test_latency_within_budget[status]",
    "test_status_is_expected[catalog]",
}
# Green's edge regressions (see the nginx template and the demo app), each found by its check.
GREEN_EDGE_BLOCKING = {
    "test_tls_protocols[demo-tls]",
    "test_tls_ciphers[demo-tls]",
    "test_ports_not_reachable[demo-ports]",
    "test_http_redirects_to_https[http-to-https]",
    "test_security_header_values[api]",
    "test_security_header_values[login-page-headers]",
    "test_content_security_policy[api]",
    "test_no_information_leaks[api]",
    "test_no_information_leaks[login-page-headers]",
    "test_header_grade[api]",
    "test_cookie_flags[session]",
    "test_cors_refuses_other_origins[/api/v1/status]",
    "test_path_not_served[/nginx_status]",
    "test_response_is_compressed[catalog-gzip]",
}
# Green's worker container (see demo/_worker.py): what `docker inspect` and `docker logs` show.
GREEN_INSIDE_BLOCKING = {
    f"test_container_{aspect}[worker]"
    for aspect in (
        "healthy",
        "restart_policy",
        "non_root",
        "limits",
        "privileges",
        "image_pinned",
        "read_only",
        "log_rotation",
        "logs_clean",
    )
}
# Green's API regressions: a text-mode download, hand-rolled parsing that 500s on bad input.
GREEN_API_BLOCKING = {
    "test_flow_step[file-round-trip/3-download]",
    "test_bad_input_rejected_cleanly[feedback]",
    "test_openapi_operations_answer[api]",
}
GREEN_BLOCKING = (
    GREEN_SMOKE_BLOCKING | GREEN_EDGE_BLOCKING | GREEN_INSIDE_BLOCKING | GREEN_API_BLOCKING
)


def run_suite(
    demo: DemoConfig,
    report_dir: Path,
    *args: str,
    env_file: Path = DEMO_ENV,
    marks: str = "not load and not watch",
    variables: Mapping[str, str] = MappingProxyType({}),
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """`pytest --env demo -m MARKS` in a separate process, as a user runs it; the load stage
    and the watch window have their own tests (they take seconds, and load does not run
    under -n). `variables` are added to the process environment."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"--env={env_file}",
            f"--report-dir={report_dir}",
            "-p",
            "no:cacheprovider",
            "-m",
            marks,
            *args,
        ],
        cwd=REPO,
        env={**os.environ, **demo.variables(), **variables},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done, json.loads((report_dir / "decision.json").read_text())


@pytest.fixture
def blue(demo: DemoConfig) -> DemoConfig:
    switch(demo, "blue")
    return demo


@pytest.fixture
def green(demo: DemoConfig) -> DemoConfig:
    switch(demo, "green")
    return demo


def test_blue_release_is_go(blue: DemoConfig, tmp_path: Path) -> None:
    done, record = run_suite(blue, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    assert record["decision"] == "GO"
    assert record["environment"] == "demo"
    assert record["blocking"] == [] and record["warnings"] == []
    assert len(record["checks"]) == 96
    assert {c["outcome"] for c in record["checks"]} == {"passed"}
    last = done.stdout.strip().splitlines()[-1]
    assert last == (
        f"gonogo: GO for demo (all checks passed); decision record {tmp_path}/decision.json, "
        f"report {tmp_path}/report.html"
    )
    for report in ("report.html", "summary.md", "gonogo.prom", "junit.xml", "history.sqlite"):
        assert (tmp_path / report).is_file(), report


# Green's 5xx ratio under the suite's own requests may or may not have held for its whole
# window when the metrics checks run: the metrics and the watch have their own tests.
NO_TIMING = "not load and not watch and not metrics"


def test_green_release_is_no_go_naming_the_failing_checks(
    green: DemoConfig, tmp_path: Path
) -> None:
    done, record = run_suite(green, tmp_path, marks=NO_TIMING)
    assert done.returncode == 1, done.stdout[-3000:]
    assert record["decision"] == "NO-GO"
    assert set(record["blocking"]) == GREEN_BLOCKING
    messages = {c["id"]: c["message"] for c in record["checks"]}
    assert messages["test_status_is_expected[ready]"].startswith(
        f"ready (GET {green.url}/health/ready): status 503, expected 200; body: "
        '{"status":"not ready","reason":"database migrations pending"}'
    )
    assert messages["test_status_is_expected[catalog]"].startswith(
        f"catalog (GET {green.url}/api/v1/catalog): status 500, expected 200"
    )
    assert "budget 300 ms" in messages["test_latency_within_budget[status]"]
    assert messages["test_tls_protocols[demo-tls]"].startswith(
        "demo-tls: TLSv1 accepted, expected only TLSv1.2, TLSv1.3"
    )
    assert "ECDHE-ECDSA-AES128-SHA (CBC)" in messages["test_tls_ciphers[demo-tls]"]
    assert messages["test_ports_not_reachable[demo-ports]"].startswith(
        f"demo-ports: port {green.admin_port} open on 127.0.0.1; expected not reachable"
    )
    assert "answered 302 (temporary)" in messages["test_http_redirects_to_https[http-to-https]"]
    assert "grade C" in messages["test_header_grade[api]"]
    assert "no Secure, no HttpOnly, SameSite=Lax" in messages["test_cookie_flags[session]"]
    assert "Server: nginx/" in messages["test_no_information_leaks[api]"]
    worker = f"{green.project}-worker-green"
    assert messages["test_container_non_root[worker]"].startswith(f"{worker}: runs as root")
    assert "gonogo-demo-worker:latest" in messages["test_container_image_pinned[worker]"]
    assert "NET_ADMIN" in messages["test_container_privileges[worker]"]
    assert "queue at 127.0.0.1:5672 refused" in messages["test_container_logs_clean[worker]"]
    assert "got 2048 bytes" in messages["test_flow_step[file-round-trip/3-download]"]
    assert "malformed JSON -> 500" in messages["test_bad_input_rejected_cleanly[feedback]"]
    assert "GET /api/v1/catalog -> 500" in messages["test_openapi_operations_answer[api]"]
    for check in GREEN_BLOCKING:
        assert check in done.stdout
    assert f"gonogo: NO-GO for demo ({len(GREEN_BLOCKING)} blocking)" in done.stdout


GREEN_LOAD_BLOCKING = {
    "test_load_kpi[total-p50_ms]",
    "test_load_kpi[total-p95_ms]",
    "test_load_kpi[total-min_rps]",
    "test_load_kpi[total-max_error_rate]",
    "test_load_kpi[status-p95_ms]",
    "test_load_window[error-burst]",
}


def test_load_stage_passes_blue_and_fails_green(demo: DemoConfig, tmp_path: Path) -> None:
    """One Locust run per release: green's slow status and failing catalog break its KPIs."""
    switch(demo, "blue")
    done, record = run_suite(demo, tmp_path / "blue", marks="load")
    assert done.returncode == 0, done.stdout[-3000:]
    assert len(record["checks"]) == 14  # 10 KPI and window checks, 4 against the baseline
    baseline = [c for c in record["checks"] if c["area"] == "baseline"]
    assert {c["outcome"] for c in baseline} == {"passed"}  # the first run: nothing to compare
    assert "no history yet" in baseline[0]["evidence"]["detail"]
    assert record["load"]["total"]["count"] > 0
    assert record["load"]["stop_reason"] == "duration"
    assert "gonogo load: " in done.stdout  # the live progress line
    assert (tmp_path / "blue" / "load.json").is_file()
    page = (tmp_path / "blue" / "load.html").read_text()
    assert page.count("<svg") == 3 and "<polyline" in page and "<rect" in page
    assert "src=" not in page and "href=" not in page  # self-contained
    assert (tmp_path / "blue" / "locust.html").is_file()
    switch(demo, "green")
    done, record = run_suite(demo, tmp_path / "green", marks="load")
    # The error-burst window is a rollback trigger: the suite's own load found the regression.
    assert done.returncode == 6, done.stdout[-3000:]
    assert record["decision"] == "ROLLBACK"
    assert record["triggers"] == ["test_load_window[error-burst]"]
    assert set(record["blocking"]) == GREEN_LOAD_BLOCKING
    messages = {c["id"]: c["message"] for c in record["checks"]}
    assert "limit 300 ms" in messages["test_load_kpi[status-p95_ms]"]
    assert "requests failed), limit 0.1 %" in messages["test_load_kpi[total-max_error_rate]"]


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_xdist_gives_the_same_decision_as_a_serial_run(
    demo: DemoConfig, tmp_path: Path, colour: str
) -> None:
    switch(demo, colour)
    serial, serial_record = run_suite(demo, tmp_path / "serial", marks=NO_TIMING)
    assert serial_record["decision"] == ("GO" if colour == "blue" else "NO-GO")
    outcomes = lambda record: sorted((c["id"], c["outcome"]) for c in record["checks"])  # noqa: E731
    for workers in ("2", "4"):
        parallel, parallel_record = run_suite(
            demo, tmp_path / workers, "-n", workers, marks=NO_TIMING
        )
        assert parallel.returncode == serial.returncode, workers
        assert parallel_record["decision"] == serial_record["decision"], workers
        assert sorted(parallel_record["blocking"]) == sorted(serial_record["blocking"]), workers
        assert outcomes(parallel_record) == outcomes(serial_record), workers


def test_password_never_reaches_output_or_reports(blue: DemoConfig, tmp_path: Path) -> None:
    """A failing login check and a failing flow step that sent a bearer token, shown with full
    tracebacks and locals, still mask every password and the token."""
    shutil.copytree(DEMO_ENV.parent / "files", tmp_path / "files")  # the flows' uploads
    env_file = tmp_path / "leaky.yaml"
    env_file.write_text(
        DEMO_ENV.read_text()
        .replace(
            "expect: {status: 200, json: {token_type: bearer}, latency_ms: 500}",
            "expect: {status: 418, json: {token_type: bearer}, latency_ms: 500}",
        )
        .replace(
            'expect: {status: 200, json: {id: "{{ item_id }}"',
            'expect: {status: 418, json: {id: "{{ item_id }}"',
        )
    )
    variables = blue.variables()
    secrets = [
        variables[name]
        for name in (
            "GONOGO_DEMO_PASSWORD",
            "GONOGO_DEMO_POSTGRES_PASSWORD",
            "GONOGO_DEMO_REDIS_PASSWORD",
        )
    ]
    reports = tmp_path / "reports"
    done, record = run_suite(
        blue, reports, "--tb=long", "-l", "-vv", "-rA", env_file=env_file, marks=NO_TIMING
    )
    assert done.returncode == 1
    assert set(record["blocking"]) == {
        "test_status_is_expected[login]",
        "test_flow_step[item-round-trip/3-read]",
        *(f"test_flow_step[item-round-trip/{n}]" for n in ("4-listed", "5-delete", "6-gone")),
    }
    output = done.stdout + done.stderr
    assert '{"access_token":"***","token_type":"bearer"' in output
    read = next(c for c in record["checks"] if c["id"] == "test_flow_step[item-round-trip/3-read]")
    assert "Authorization: ***" in read["message"]
    assert "expected status 418, got 200" in read["message"]
    flow_cleanup = "test_flow_cleaned_up[item-round-trip]"
    assert {c["id"]: c["outcome"] for c in record["checks"]}[flow_cleanup] == "passed"
    for secret in secrets:
        assert secret not in output
        for report in (path for path in reports.rglob("*") if path.is_file()):
            assert secret.encode() not in report.read_bytes(), report.name
