"""The reporters on realistic decision records: the HTML page (self-contained, escaped, in the
reader's order, and looking right in a real browser), the CI Markdown summary and the Prometheus
textfile (checked by promtool itself)."""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gonogo.report.html import render_html, write_html
from gonogo.report.markdown import LIMIT_BYTES, markdown_summary
from gonogo.report.prom import prometheus_textfile, write_prometheus_textfile

REPO = Path(__file__).resolve().parents[1]
SCRIPT = "<script>alert(1)</script>"
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["']?\s*(?:https?:|//)|@import|url\(|<script|<link|<img|<iframe""",
    re.IGNORECASE,
)


def check(
    id: str,
    area: str,
    outcome: str = "passed",
    severity: str = "major",
    message: str = "",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "area": area,
        "outcome": outcome,
        "severity": severity,
        "message": message,
        "duration_s": 0.042,
        "trigger": False,
        "waived": None,
        "evidence": None,
    } | extra


def passing_checks() -> list[dict[str, Any]]:
    return [
        check("test_smoke[api]", "smoke", severity="critical"),
        check("test_port_open[api-443]", "ports"),
        check("test_tls_version[api]", "tls", severity="critical"),
        check("test_tls_certificate_expiry[api]", "tls"),
        check("test_tls_version[www]", "tls", severity="critical"),
        check("test_security_header[www-strict-transport-security]", "headers"),
        check("test_security_header[www-content-security-policy]", "headers"),
        check("test_container_running[api]", "containers", severity="critical"),
        check("test_container_healthy[worker]", "containers"),
        check("test_redirect_to_https[www]", "redirects"),
        check("test_cookie_flags[www-session]", "cookies"),
        check("test_cors_origin[api]", "cors"),
        check("test_endpoint[api-GET /v1/orders]", "endpoints"),
        check("test_dependency[postgres-primary]", "dependencies", severity="critical"),
        check("test_exposed_path[www-/.git/config]", "exposed_paths", severity="critical"),
    ]


def record(decision: str, exit_code: int, checks: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for c in checks:
        counts[c["outcome"]] = counts.get(c["outcome"], 0) + 1
    return {
        "schema_version": 2,
        "decision": decision,
        "exit_code": exit_code,
        "environment": "staging",
        "environment_file": "/srv/deploy/environments/staging.yaml",
        "gonogo_version": "0.1.0",
        "started_at": "2026-11-22T02:52:43.383+00:00",
        "finished_at": "2026-11-22T02:54:10.986+00:00",
        "duration_s": 87.603,
        "interrupted": False,
        "reasons": [],
        "counts": counts,
        "blocking": [],
        "warnings": [],
        "triggers": [],
        "waived": [],
        "expired_waivers": [],
        "unused_waivers": [],
        "checks": checks,
    }


def go_record() -> dict[str, Any]:
    return record("GO", 0, passing_checks())


def nogo_record() -> dict[str, Any]:
    checks = passing_checks()
    checks[2] = check(
        "test_tls_version[api]",
        "tls",
        "failed",
        "critical",
        f"api.example.test:443 negotiated TLSv1.0; the floor is TLSv1.2\nserver banner: {SCRIPT}",
        evidence={"measured": "TLSv1.0", "threshold": "TLSv1.2", "detail": f"banner {SCRIPT}"},
    )
    checks[5] = check(
        "test_security_header[www-strict-transport-security]",
        "headers",
        "failed",
        "major",
        "Strict-Transport-Security: max-age=300 | includeSubDomains\n"
        "max-age is below the 31536000 s floor\nsee https://example.test/hsts",
        evidence={"measured": 300, "threshold": 31536000, "detail": None},
    )
    checks.append(
        check(
            "test_cookie_flags[www-tracking]",
            "cookies",
            "failed",
            "minor",
            "cookie 'tracking' lacks SameSite",
        )
    )
    nogo = record("NO-GO", 1, checks)
    nogo["reasons"] = [
        "2 blocking check(s) failed: test_tls_version[api], "
        "test_security_header[www-strict-transport-security]",
        f"a finding quoted {SCRIPT}",
    ]
    nogo["blocking"] = [checks[2]["id"], checks[5]["id"]]
    nogo["warnings"] = ["test_cookie_flags[www-tracking]"]
    return nogo


def load_section() -> dict[str, Any]:
    def stats(count: int, p95: float) -> dict[str, Any]:
        return {
            "count": count,
            "failures": count // 100,
            "error_rate": 0.01,
            "rps": count / 60,
            "p50_ms": p95 / 2.5,
            "p90_ms": p95 * 0.8,
            "p95_ms": p95,
            "p99_ms": p95 * 2.1,
            "max_ms": p95 * 6,
            "avg_ms": p95 / 2,
            "statuses": {"200": count - count // 100, "503": count // 100},
        }

    timeline = [
        {
            "t": t,
            "rps": 900 + 80 * math.sin(t / 5) - (400 if 40 <= t < 44 else 0),
            "p50_ms": None if t == 42 else 12 + 2 * math.sin(t / 7),
            "p95_ms": None if t == 42 else 30 + (90 if 38 <= t < 46 else 0) + 5 * math.sin(t / 3),
            "p99_ms": None if t == 42 else 70 + (160 if 38 <= t < 46 else 0),
            "error_rate": None if t == 42 else (0.05 if 38 <= t < 46 else 0.0),
        }
        for t in range(60)
    ]
    bins = [
        [round(1.03**i, 3), int(900 * math.exp(-((i - 95) ** 2) / 300))] for i in range(40, 185)
    ]
    return {
        "duration_s": 60.0,
        "planned_s": 60.0,
        "stop_reason": "duration",
        "saturated": None,
        "workers": 4,
        "cpu_percent": 38.5,
        "cores": 8,
        "total": stats(54000, 41.7),
        "per_request": {"catalog": stats(30000, 38.2), "checkout": stats(24000, 55.9)},
        "timeline": timeline,
        "latency_bins": bins,
    }


def watch_section() -> dict[str, Any]:
    def measurements(bad_from: float, kind: str) -> list[dict[str, Any]]:
        return [
            {
                "t": t * 5.0,
                "status": "failure" if t * 5 >= bad_from else "success",
                "value": 120.0 + t if kind == "query" else None,
                "detail": f"HTTP 503 {SCRIPT}" if t * 5 >= bad_from else "HTTP 200",
            }
            for t in range(0, 25)
        ]

    errors = measurements(70, "query")
    errors[3] = errors[3] | {"status": "inconclusive", "detail": "no samples yet"}
    errors[4] = errors[4] | {"status": "error", "detail": "prometheus: connection refused"}
    return {
        "duration_s": 300.0,
        "interval_s": 5.0,
        "started_at": "2026-11-22T02:53:00.000+00:00",
        "ended_at": "2026-11-22T02:55:00.000+00:00",
        "stopped_early": "trigger test_watch[error-rate] fired at 115 s",
        "entries": [
            {
                "label": "smoke api /healthz",
                "kind": "smoke",
                "outcome": "passed",
                "reason": "24 of 24 rounds healthy",
                "limits": "2 consecutive failures",
                "measurements": measurements(10_000, "smoke"),
            },
            {
                "label": "error-rate (sum(rate(http_errors_total[1m])) / sum(rate(...)))",
                "kind": "query",
                "outcome": "fired",
                "reason": f"error rate 7.2 % above 2 % for 3 rounds {SCRIPT}",
                "limits": "<= 0.02 for 3 rounds",
                "measurements": errors,
            },
        ],
    }


def rollback_record() -> dict[str, Any]:
    checks = passing_checks()
    trigger = check(
        "test_watch[error-rate]",
        "watch",
        "failed",
        "critical",
        "error rate 7.2 % > 2 % for 3 consecutive rounds (70 s to 115 s)\n"
        f"worst round trace: {'0123456789abcdef' * 24}",
        trigger=True,
        evidence={"measured": 0.072, "threshold": 0.02, "detail": "3 rounds"},
    )
    waived = check(
        "test_security_header[www-permissions-policy]",
        "headers",
        "failed",
        "minor",
        "Permissions-Policy missing",
        waived={"reason": "CDN adds it; ticket OPS-1432", "expires": "2026-12-15"},
    )
    kpi = check("test_load_kpi[total-p95_ms]", "kpis", message="")
    rb = record("ROLLBACK", 6, [*checks, waived, kpi, trigger])
    rb["reasons"] = ["rollback trigger test_watch[error-rate] fired during the watch"]
    rb["blocking"] = [trigger["id"]]
    rb["triggers"] = [trigger["id"]]
    rb["waived"] = [{"id": waived["id"], **waived["waived"]}]
    rb["expired_waivers"] = [
        {"check": "test_cors_origin[*]", "reason": "legacy partner", "expires": "2026-10-01"}
    ]
    rb["unused_waivers"] = [
        {"check": "test_tls_version[old-api]", "reason": "decommissioned", "expires": "2027-01-01"}
    ]
    rb["load"] = load_section()
    rb["watch"] = watch_section()
    rb["rollback"] = {
        "enabled": True,
        "ran": True,
        "note": "",
        "command": ["kubectl", "rollout", "undo", "deployment/api", "--namespace", "staging prod"],
        "exit_code": 0,
        "timed_out": False,
        "duration_s": 48.2,
        "output": "deployment.apps/api rolled back\n" + "waiting for rollout <ok> & done\n" * 5,
        "error": None,
        "verify": {
            "selection": "smoke or watch",
            "exit_code": 0,
            "decision": "GO",
            "duration_s": 27.4,
            "failing": [],
        },
        "restored": True,
        "total_s": 75.6,
        "budget_s": 60.0,
    }
    rb["notifications"] = [
        {
            "url": "https://hooks.example.test/gonogo",
            "status": 200,
            "error": None,
            "duration_s": 0.2,
        },
        {
            "url": "https://pager.example.test/v2/enqueue",
            "status": None,
            "error": "timed out after 10 s",
            "duration_s": 10.0,
        },
    ]
    rb["history"] = {"file": "/var/lib/gonogo/history.sqlite", "run_id": 42}
    return rb


def trend() -> dict[str, Any]:
    decisions = ["GO"] * 8 + ["NO-GO", "GO", "GO", "ROLLBACK"] * 3
    runs = [
        {
            "run_id": 31 + i,
            "started_at": f"2026-11-{i // 2 + 3:02d}T10:00:00+00:00",
            "decision": d,
            "duration_s": 80.0 + i,
            "not_passed": 0 if d == "GO" else 2,
            "kpis": None
            if i % 7 == 3
            else {"p95_ms": 35.0 + 3 * math.sin(i), "rps": 880.0 + 10 * i, "error_rate": 0.001},
        }
        for i, d in enumerate(decisions)
    ]
    return {
        "environment": "staging",
        "runs": runs,
        "flaky": [
            {
                "id": "test_cookie_flags[www-tracking]",
                "flips": 4,
                "runs": 20,
                "last_outcome": "failed",
            }
        ],
        "decisions": {"GO": 14, "NO-GO": 3, "ROLLBACK": 3},
    }


RECORDS = {"GO": go_record, "NO-GO": nogo_record, "ROLLBACK": rollback_record}


@pytest.mark.parametrize("decision", RECORDS)
def test_html_is_self_contained(decision: str) -> None:
    page = render_html(RECORDS[decision](), trend())
    assert page.startswith("<!doctype html>")
    assert EXTERNAL.findall(page) == []
    assert f'class="banner {decision}"' in page


def test_html_escapes_findings() -> None:
    page = render_html(nogo_record())
    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "max-age=300 | includeSubDomains\nmax-age is below" in page  # pre-wrapped as written


def test_html_escapes_every_string_of_the_record() -> None:
    """Every free-text field carries markup; none of it may reach the page as markup."""
    payload = "\"'><script>x()</script><img src=x onerror=y()>&amp;"
    free = {"message", "reason", "label", "detail", "output", "error", "note", "id", "check"}
    free |= {"environment", "url", "limits", "selection", "measured", "threshold", "area"}
    free |= {"stopped_early", "environment_file", "file", "stop_reason", "saturated"}

    def poison(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: v + payload if k in free and isinstance(v, str) else poison(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [poison(v) for v in node]
        return node

    rb = poison(rollback_record())
    rb["reasons"] = [reason + payload for reason in rb["reasons"]]
    rb["rollback"]["command"].append(payload)
    rb["load"]["saturated"] = payload
    rb["load"]["per_request"][payload] = rb["load"]["total"]
    history = poison(trend())
    page = render_html(rb, history)
    assert "<script" not in page
    assert "<img" not in page
    assert page.count("&lt;script&gt;x()&lt;/script&gt;") > 20


def test_html_puts_failures_before_the_area_tables() -> None:
    page = render_html(nogo_record())
    failing = page.index('id="failing"')
    tls, headers = page.index("test_tls_version</code>"), page.index('id="area-headers"')
    assert failing < page.index("negotiated TLSv1.0") < page.index('id="areas"') < tls < headers
    assert page.index("Blocking (2)") < page.index("Warnings (1)") < page.index('id="areas"')
    assert page.index('id="area-tls"') < headers < page.index('id="area-containers"')
    assert page.index('id="area-containers"') < page.index('id="area-smoke"')
    assert "<dt>measured</dt><dd><pre>TLSv1.0</pre></dd>" in page
    assert "Nothing failed." in render_html(go_record())


def test_html_rollback_report_has_every_section() -> None:
    rb = rollback_record()
    page = render_html(rb, trend())
    order = ["failing", "waivers", "rollback", "watch", "load", "areas", "history", "notifications"]
    positions = [page.index(f'<section id="{name}">') for name in order]
    assert positions == sorted(positions)
    rollback = page[positions[2] : positions[3]]
    assert "kubectl rollout undo deployment/api --namespace &#39;staging prod&#39;" in rollback
    assert "over budget" in rollback and "1.3 min" not in rollback
    assert "waiting for rollout &lt;ok&gt; &amp; done" in rollback
    watch = page[positions[3] : positions[4]]
    marks = sum(len(e["measurements"]) for e in rb["watch"]["entries"])
    assert watch.count("</title></rect>") == marks  # one mark per measurement, with its tooltip
    assert "stopped early" in watch and "fired" in watch
    assert watch.count('fill="#c92a2a"') >= 9  # failures in red
    load = page[positions[4] : positions[5]]
    assert load.count("<svg") == 3 and "<polyline" in load  # latency, rps, distribution
    assert "checkout" in load and "41.7 ms" in load
    assert "Expired waivers (1)" in page and "Unused waivers (1)" in page
    assert "CDN adds it; ticket OPS-1432" in page
    history = page[positions[6] : positions[7]]
    assert history.count("<rect") == len(trend()["runs"])
    assert "Flaky checks (1)" in history
    assert "timed out after 10 s" in page[positions[7] :]


def test_html_notes_an_interrupted_run() -> None:
    interrupted = nogo_record() | {"interrupted": True, "exit_code": 2}
    assert "Interrupted: the run did not finish" in render_html(interrupted)


def test_write_html_leaves_only_the_page(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    write_html(target, nogo_record())
    write_html(target, go_record())
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]
    assert 'class="banner GO"' in target.read_text(encoding="utf-8")


def assert_tables_intact(markdown: str) -> None:
    """Every row of a table has its header's number of cells: no stray `|` added a cell and no
    newline cut a row in two."""
    columns = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        columns = columns or cells
        assert cells == columns, line


def test_markdown_blocking_table_escapes_findings() -> None:
    summary = markdown_summary(nogo_record(), report_link="reports/report.html")
    assert summary.startswith("## gonogo NO-GO: BLOCKED (staging)\n")
    assert "### Blocking checks (2)" in summary and "### Warnings (1)" in summary
    assert "| Strict-Transport-Security: max-age=300 \\| includeSubDomains |" in summary
    assert "below the 31536000" not in summary  # a finding's first line only
    assert "<script>" not in summary and "\\<script\\>" in summary
    assert_tables_intact(summary)
    assert summary.rstrip().endswith("[Full HTML report](<reports/report.html>)")


def test_markdown_rollback_summary() -> None:
    summary = markdown_summary(rollback_record(), report_link="https://ci.example.test/a b.html")
    assert summary.startswith("## gonogo ROLLBACK: ROLLED BACK (staging)\n")
    assert "- Restored: yes" in summary
    assert "- Total: 75.6 s of 60.0 s budget **over budget**" in summary
    assert "### Rollback triggers" not in summary  # the trigger is already in the blocking table
    assert "| all | 41.7 ms | 87.6 ms | 900.0 | 1.00% |" in summary
    assert "- Command: kubectl rollout undo deployment/api --namespace 'staging prod'" in summary
    assert "### Waived (1)" in summary
    assert "**Expired waivers (1):** test\\_cors\\_origin\\[\\*\\] (2026-10-01)" in summary
    assert_tables_intact(summary)
    assert "(<https://ci.example.test/a%20b.html>)" in summary
    assert markdown_summary(go_record()).startswith("## gonogo GO: CLEARED (staging)\n")


def test_markdown_stays_small_on_a_huge_record() -> None:
    """Long tables end in "and N more"; text that escapes to twice its length everywhere still
    ends at the size limit, cut at a line end."""
    huge = rollback_record()
    for key in ("blocking", "triggers", "warnings"):
        failing = [
            check(f"{key}{i}|" + "_" * 200, "endpoints", "|" * 100, "_" * 100, "<" * 5000)
            for i in range(2000)
        ]
        huge["checks"] += failing
        huge[key] = [c["id"] for c in failing]
    huge["reasons"] = ["_" * 4000] * 500
    huge["waived"] = [{"id": "_" * 500, "reason": "|" * 500, "expires": "_" * 100}] * 300
    huge["expired_waivers"] = [{"check": "&" * 500, "reason": "|", "expires": "_" * 100}] * 300
    huge["unused_waivers"] = huge["expired_waivers"]
    huge["load"]["per_request"] = {"_" * 300 + str(i): huge["load"]["total"] for i in range(100)}
    huge["rollback"]["command"] = ["_" * 1000]
    summary = markdown_summary(huge)
    assert len(summary.encode()) <= LIMIT_BYTES
    assert "…and 1970 more, in the HTML report." in summary  # blocking
    assert "…and 485 more, in the HTML report." in summary  # reasons
    assert summary.endswith("\n…summary truncated; the HTML report has everything.\n")
    assert_tables_intact(summary)
    small = markdown_summary(nogo_record())
    assert "more, in the HTML report" not in small and "truncated" not in small


def promtool(text: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is not installed (apt-get install prometheus)"
    return subprocess.run(
        [tool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("decision", RECORDS)
def test_prometheus_textfile_passes_promtool(decision: str) -> None:
    result = promtool(prometheus_textfile(RECORDS[decision]()))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def samples(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


def test_prometheus_textfile_values(tmp_path: Path) -> None:
    target = tmp_path / "textfile" / "gonogo.prom"
    write_prometheus_textfile(target, rollback_record())
    assert [p.name for p in target.parent.iterdir()] == ["gonogo.prom"]
    text = target.read_text(encoding="utf-8")
    got = samples(text)
    env = 'environment="staging"'
    assert got[f'gonogo_decision{{{env},decision="ROLLBACK"}}'] == 1
    assert got[f'gonogo_decision{{{env},decision="GO"}}'] == 0
    assert got[f'gonogo_decision{{{env},decision="NO-GO"}}'] == 0
    assert got[f"gonogo_exit_code{{{env}}}"] == 6
    assert got[f"gonogo_run_duration_seconds{{{env}}}"] == 87.603
    assert got[f"gonogo_run_timestamp_seconds{{{env}}}"] == 1795316050.986
    assert got[f'gonogo_checks{{{env},area="tls",outcome="passed"}}'] == 3
    assert got[f'gonogo_checks{{{env},area="headers",outcome="failed"}}'] == 1
    assert got[f'gonogo_checks{{{env},area="watch",outcome="failed"}}'] == 1
    assert got[f'gonogo_checks{{{env},area="watch",outcome="error"}}'] == 0
    assert got[f"gonogo_blocking_checks{{{env}}}"] == 1
    assert got[f"gonogo_rollback_triggers{{{env}}}"] == 1
    assert got[f"gonogo_waived_checks{{{env}}}"] == 1
    assert got[f'gonogo_load_latency_seconds{{{env},quantile="0.95"}}'] == pytest.approx(0.0417)
    assert got[f"gonogo_load_latency_seconds_count{{{env}}}"] == 54000
    assert got[f"gonogo_load_rps{{{env}}}"] == 900
    assert got[f"gonogo_load_error_ratio{{{env}}}"] == 0.01
    assert got[f"gonogo_rollback_duration_seconds{{{env}}}"] == 48.2
    assert got[f"gonogo_rollback_restored{{{env}}}"] == 1
    go = samples(prometheus_textfile(go_record()))
    assert not any(name.startswith(("gonogo_load", "gonogo_rollback_d")) for name in go)


def test_prometheus_label_values_are_escaped() -> None:
    odd = go_record() | {"environment": 'eu "west"\\1\nb'}
    text = prometheus_textfile(odd)
    assert 'gonogo_exit_code{environment="eu \\"west\\"\\\\1\\nb"} 0\n' in text
    result = promtool(text)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def stop_session(browser: subprocess.Popen[str]) -> tuple[str, str]:
    """Kill what is left of the session chromium was started in (its own helpers, nothing
    else), then collect its output."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(browser.pid, signal.SIGKILL)
    return browser.communicate()


def test_chromium_renders_the_rollback_report(tmp_path: Path) -> None:
    """A real browser draws the page: the screenshot is kept for a person to look at."""
    page, shot = tmp_path / "report.html", tmp_path / "report-rollback.png"
    write_html(page, rollback_record(), trend())
    command = [
        "chromium",
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--hide-scrollbars",
        "--window-size=1280,2400",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--screenshot={shot}",
        page.as_uri(),
    ]
    browser = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        _, stderr = browser.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        _, stderr = stop_session(browser)
        pytest.fail(f"chromium timed out after 60 s:\n{stderr[-3000:]}")
    stop_session(browser)
    assert browser.returncode == 0, f"chromium exited {browser.returncode}:\n{stderr[-3000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 1280
    assert len(data) > 50_000
    artefacts = REPO / "reports" / "artefacts"
    artefacts.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shot, artefacts / shot.name)


def test_records_are_not_mutated() -> None:
    rb = rollback_record()
    before = copy.deepcopy(rb)
    render_html(rb, trend())
    markdown_summary(rb)
    prometheus_textfile(rb)
    assert rb == before
