"""The Prometheus probe and the metric judge: pure judging on hand-built series, then the probe,
the alert rules and whole evaluations against a real Prometheus scraping gauges we set."""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from gonogo.demo._prometheus import (
    ALERT_RULES,
    GROUP,
    prometheus_argv_for,
    write_prometheus_config,
)
from gonogo.demo.config import DemoConfig
from gonogo.environment_gate import AlertRule, MetricQuery
from gonogo.errors import TargetUnreachableError
from gonogo.metric_evaluation import evaluate
from gonogo.metric_judge import judge, judge_alert
from gonogo.probes import prometheus
from gonogo.probes.prometheus import (
    AlertRuleState,
    Series,
    alerting_rules,
    instant_query,
    range_query,
)
from tests.nginx_server import free_ports
from tests.prometheus_server import TEST_GROUP, PrometheusServer, values, wait_for_value
from tests.server_kit import Listener

T0 = 1_700_000_000.0  # 22:13:20 UTC


def metric(**fields: Any) -> MetricQuery:
    return MetricQuery.model_validate({"name": "q", "query": "up", **fields})


def steady(value: float, start: float = T0, count: int = 5, step: float = 1) -> list[tuple]:
    return [(start + i * step, value) for i in range(count)]


# --- judge: pure ---------------------------------------------------------------------------


def test_label_text_puts_the_name_first_sorts_and_escapes() -> None:
    labels = {"status": "500", "__name__": "http_requests_total", "job": 'a"b\\c'}
    assert Series(labels, []).label_text == (
        '{__name__="http_requests_total", job="a\\"b\\\\c", status="500"}'
    )
    assert Series({}, []).label_text == "{}"


def test_instant_breach_names_the_worst_of_several_series() -> None:
    series = [Series({"i": str(v)}, [(T0, v)]) for v in (3, 9, 7)]
    verdict = judge(metric(max=5), series, start=T0, end=T0)
    assert (verdict.state, verdict.value, verdict.series) == ("breach", 9, '{i="9"}')
    assert verdict.detail == '9 > 5: series {i="9"} (2 of 3 series breach)'


def test_instant_within_bound_names_the_worst_series() -> None:
    series = [Series({"i": "a"}, [(T0, 0.012)]), Series({"i": "b"}, [(T0, 0.004)])]
    verdict = judge(metric(max=0.05), series, start=T0, end=T0)
    assert (verdict.state, verdict.value) == ("ok", 0.012)
    assert verdict.detail == '0.012, within <= 0.05 (worst of 2 series {i="a"})'


def test_min_bound_breaches_below_and_the_lowest_series_is_worst() -> None:
    series = [Series({"i": "a"}, [(T0, 0.995)]), Series({"i": "b"}, [(T0, 0.97)])]
    verdict = judge(metric(min=0.99), series, start=T0, end=T0)
    assert (verdict.state, verdict.value, verdict.series) == ("breach", 0.97, '{i="b"}')
    assert verdict.detail.startswith("0.97 < 0.99: ")
    ok = judge(metric(min=0.9), series, start=T0, end=T0)
    assert (ok.state, ok.value) == ("ok", 0.97)
    assert "within >= 0.9" in ok.detail


def test_window_breaches_only_when_every_sample_breaches() -> None:
    query = metric(max=0.05, **{"for": "4s"})
    series = [Series({"job": "demo"}, steady(0.083))]
    verdict = judge(query, series, start=T0, end=T0 + 4)
    assert (verdict.state, verdict.value) == ("breach", 0.083)
    assert verdict.detail == (
        "0.083 > 0.05 for 4s: every one of 5 samples from 22:13:20 UTC to 22:13:24 UTC "
        'breached; series {job="demo"}'
    )


def test_window_min_bound_breach() -> None:
    query = metric(min=10, **{"for": "4s"})
    verdict = judge(query, [Series({}, steady(3))], start=T0, end=T0 + 4)
    assert verdict.state == "breach"
    assert verdict.detail.startswith("3 < 10 for 4s: every one of 5 samples")


def test_a_gap_in_the_window_restarts_the_count() -> None:
    query = metric(max=1, **{"for": "10s"})
    points = [(T0 + t, 5.0) for t in (0, 1, 2, 3, 7, 8, 9, 10)]  # 4 s without a sample
    verdict = judge(query, [Series({}, points)], start=T0, end=T0 + 10)
    assert verdict.state == "pending"
    assert verdict.detail == (
        "pending: 5 > 1 now, but only since 22:13:27 UTC (needs 10s); series {}"
    )


def test_a_gap_of_two_steps_is_tolerated() -> None:
    query = metric(max=1, **{"for": "10s"})
    points = [(T0 + t, 5.0) for t in (0, 1, 2, 4, 6, 7, 8, 9, 10)]
    assert judge(query, [Series({}, points)], start=T0, end=T0 + 10).state == "breach"


def test_a_series_that_started_inside_the_window_is_pending() -> None:
    query = metric(max=1, **{"for": "10s"})
    verdict = judge(query, [Series({}, steady(5, T0 + 6))], start=T0, end=T0 + 10)
    assert verdict.state == "pending"
    assert "only since 22:13:26 UTC (needs 10s)" in verdict.detail


def test_a_series_whose_samples_stop_early_is_pending() -> None:
    query = metric(max=1, **{"for": "10s"})
    verdict = judge(query, [Series({}, steady(5, T0, count=6))], start=T0, end=T0 + 10)
    assert verdict.state == "pending"
    assert "but its samples stop at 22:13:25 UTC" in verdict.detail


def test_a_breach_that_recovered_inside_the_window_is_ok_and_said() -> None:
    query = metric(max=1, **{"for": "4s"})
    points = [(T0, 0.5), (T0 + 1, 3.0), (T0 + 2, 4.0), (T0 + 3, 0.5), (T0 + 4, 0.5)]
    verdict = judge(query, [Series({"i": "a"}, points)], start=T0, end=T0 + 4)
    assert (verdict.state, verdict.value) == ("ok", 0.5)
    assert verdict.detail == (
        '0.5, within <= 1 (series {i="a"}); {i="a"} breached earlier in the window '
        "(peak 4 at 22:13:22 UTC) but recovered"
    )


def test_breach_beats_pending_across_series() -> None:
    query = metric(max=1, **{"for": "4s"})
    series = [
        Series({"i": "pending"}, [(T0 + 3, 50.0), (T0 + 4, 50.0)]),
        Series({"i": "held"}, steady(2)),
    ]
    verdict = judge(query, series, start=T0, end=T0 + 4)
    assert (verdict.state, verdict.series, verdict.value) == ("breach", '{i="held"}', 2)


def test_nan_samples_are_ignored_and_only_nan_is_no_data() -> None:
    query = metric(max=1, **{"for": "4s"})
    mixed = [(T0, math.nan), (T0 + 1, 0.5), (T0 + 2, math.nan)]
    assert judge(query, [Series({}, mixed)], start=T0, end=T0 + 4).value == 0.5
    verdict = judge(query, [Series({}, steady(math.nan))], start=T0, end=T0 + 4)
    assert (verdict.state, verdict.value, verdict.series) == ("inconclusive", None, "")
    assert verdict.detail == (
        "no data: every sample of the 1 series is NaN (a 0/0 ratio: no traffic to divide by); "
        "policy no_data: inconclusive"
    )


@pytest.mark.parametrize(
    ("policy", "state"), [("inconclusive", "inconclusive"), ("fail", "breach"), ("pass", "ok")]
)
def test_no_series_follows_the_no_data_policy(policy: str, state: str) -> None:
    verdict = judge(metric(max=1, no_data=policy), [], start=T0, end=T0)
    assert verdict.state == state
    assert verdict.detail == (
        "no data: the query returned no series (no traffic yet, or a label that matches "
        f"nothing); policy no_data: {policy}"
    )


def test_a_value_just_over_the_bound_is_not_shown_as_the_bound() -> None:
    verdict = judge(metric(max=0.05), [Series({}, [(T0, 0.0500001)])], start=T0, end=T0)
    assert verdict.detail.startswith("0.0500001 > 0.05: ")


def test_judge_alert_lists_what_is_loaded_when_the_rule_is_not() -> None:
    states = [AlertRuleState(f"Rule{i:02}", "g", "inactive", "ok", "", 0) for i in range(25)]
    passed, message = judge_alert(AlertRule(name="Missing"), states)
    assert not passed
    assert message.startswith(
        "alert rule Missing: expected it loaded in Prometheus, found no alerting rule of that "
        "name; loaded: Rule00, Rule01,"
    )
    assert message.endswith("Rule19 and 5 more")


def test_judge_alert_needs_every_copy_of_a_name_to_pass() -> None:
    states = [
        AlertRuleState("HighErrorRate", "warn", "inactive", "ok", "", 0),
        AlertRuleState("HighErrorRate", "page", "firing", "ok", "", 2),
    ]
    passed, message = judge_alert(AlertRule(name="HighErrorRate"), states)
    assert not passed
    assert message == (
        "alert rule HighErrorRate: expected not firing, found firing with 2 active alerts "
        "(group warn: state inactive, health ok; group page: state firing, health ok)"
    )


# --- the probe against a real Prometheus ----------------------------------------------------


def test_instant_query_returns_values_and_labels(prometheus_server: PrometheusServer) -> None:
    (series,) = instant_query(prometheus_server.url, 'gonogo_test_value{case="held"}', timeout_s=5)
    target = prometheus_server.exporter.target
    assert series.labels == {
        "__name__": "gonogo_test_value",
        "case": "held",
        "instance": target,
        "job": "demo-api",
    }
    assert series.label_text == (
        f'{{__name__="gonogo_test_value", case="held", instance="{target}", job="demo-api"}}'
    )
    assert values([series]) == [10.0]


def test_instant_query_at_a_time(prometheus_server: PrometheusServer) -> None:
    at = time.time() - 0.5
    (series,) = instant_query(prometheus_server.url, "vector(1)", timeout_s=5, at=at)
    assert series.points == [(round(at, 3), 1.0)]


@pytest.mark.parametrize(
    ("promql", "expected"), [("scalar(vector(2.5))", 2.5), ("1/0", math.inf), ("-1/0", -math.inf)]
)
def test_scalar_result_is_one_series_without_labels(
    prometheus_server: PrometheusServer, promql: str, expected: float
) -> None:
    (series,) = instant_query(prometheus_server.url, promql, timeout_s=5)
    assert (series.labels, values([series])) == ({}, [expected])


def test_range_query_returns_every_step(prometheus_server: PrometheusServer) -> None:
    end = time.time()
    (series,) = range_query(
        prometheus_server.url, "vector(1)", start=end - 10, end=end, step=2, timeout_s=5
    )
    assert series.points == [(round(end - 10, 3) + 2 * i, 1.0) for i in range(6)]


def test_a_range_selector_in_an_instant_query_is_explained(
    prometheus_server: PrometheusServer,
) -> None:
    with pytest.raises(TargetUnreachableError) as caught:
        instant_query(prometheus_server.url, "gonogo_test_value[10s]", timeout_s=5)
    assert str(caught.value) == (
        f"{prometheus_server.url}/api/v1/query (query 'gonogo_test_value[10s]'): expected an "
        "instant vector, got a range vector: a selector with a range such as [5m] needs a "
        "function around it, e.g. rate(...[5m]) or max_over_time(...[5m])"
    )


def test_a_string_result_is_refused(prometheus_server: PrometheusServer) -> None:
    with pytest.raises(TargetUnreachableError, match="expected a vector or scalar result, got "):
        instant_query(prometheus_server.url, '"hello"', timeout_s=5)


def test_bad_promql_carries_prometheus_parse_error(prometheus_server: PrometheusServer) -> None:
    with pytest.raises(TargetUnreachableError) as caught:
        instant_query(prometheus_server.url, "sum(rate(x[1m])", timeout_s=5)
    message = str(caught.value)
    assert message.startswith(
        f"{prometheus_server.url}/api/v1/query (query 'sum(rate(x[1m])'): "
        "Prometheus answered HTTP 400, bad_data: "
    )
    assert "parse error" in message


def test_an_answer_that_is_not_json_is_refused(prometheus_server: PrometheusServer) -> None:
    exporter = f"http://{prometheus_server.exporter.target}"
    with pytest.raises(TargetUnreachableError) as caught:
        instant_query(exporter, "up", timeout_s=5)
    assert str(caught.value).startswith(
        f"{exporter}/api/v1/query (query 'up'): expected a JSON document from the Prometheus "
        "API, got HTTP 200: '# HELP "
    )
    assert str(caught.value).endswith("; is the URL Prometheus's base URL?")


def test_an_answer_over_the_cap_is_refused(
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(prometheus, "MAX_BODY_BYTES", 50)
    with pytest.raises(TargetUnreachableError, match="expected an answer of at most 50 bytes"):
        instant_query(prometheus_server.url, "up", timeout_s=5)


def test_a_closed_port_is_unreachable_at_once() -> None:
    (port,) = free_ports(1)
    started = time.monotonic()
    with pytest.raises(TargetUnreachableError) as caught:
        alerting_rules(f"http://127.0.0.1:{port}", timeout_s=2)
    assert time.monotonic() - started < 2
    assert str(caught.value) == (
        f"http://127.0.0.1:{port}/api/v1/rules (alerting rules): "
        "connection refused (nothing listening?)"
    )


def test_a_silent_server_times_out_within_the_timeout() -> None:
    listener = Listener()
    try:
        started = time.monotonic()
        with pytest.raises(TargetUnreachableError) as caught:
            instant_query(f"http://127.0.0.1:{listener.port}", "up", timeout_s=0.5)
        assert time.monotonic() - started < 1.5
    finally:
        listener.close()
    assert str(caught.value).endswith("(query 'up'): no complete answer within 0.5 s")


# --- alert rules ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule_states(prometheus_server: PrometheusServer) -> list[AlertRuleState]:
    """Once every rule has been evaluated on scraped data: the fixture has seen a scrape, so
    two evaluation intervals from now every rule has been evaluated after it."""
    evaluated_after = time.monotonic() + 2.2
    deadline = time.monotonic() + 20
    while True:
        states = alerting_rules(prometheus_server.url, timeout_s=5)
        evaluated = "unknown" not in {s.health for s in states}
        if evaluated and time.monotonic() > evaluated_after:
            return states
        if time.monotonic() > deadline:
            pytest.fail(f"rules not all evaluated within 20 s: {states}", pytrace=False)
        time.sleep(0.2)


def test_alerting_rules_report_each_state(rule_states: list[AlertRuleState]) -> None:
    by_name = {state.name: state for state in rule_states if state.group == TEST_GROUP}
    assert by_name["AlwaysFiring"] == AlertRuleState(
        "AlwaysFiring", TEST_GROUP, "firing", "ok", "", 1
    )
    assert by_name["NeverFiring"] == AlertRuleState(
        "NeverFiring", TEST_GROUP, "inactive", "ok", "", 0
    )
    assert by_name["AlwaysPending"] == AlertRuleState(
        "AlwaysPending", TEST_GROUP, "pending", "ok", "", 1
    )
    assert by_name["Erroring"].health == "err"
    assert "same labelset" in by_name["Erroring"].last_error


def test_the_demo_rules_load_in_prometheus(rule_states: list[AlertRuleState]) -> None:
    demo = [(s.name, s.health, s.state) for s in rule_states if s.group == GROUP]
    assert demo == [(name, "ok", "inactive") for name in ALERT_RULES]


def test_the_demo_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool") or pytest.fail("promtool not installed (prometheus pkg)")
    config = write_prometheus_config(
        tmp_path, scrape_targets=["127.0.0.1:18001"], scrape_interval_s=1
    )
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_RULES)} rules found" in result.stdout


def test_the_demo_prometheus_scrapes_both_releases_on_loopback(tmp_path: Path) -> None:
    config = DemoConfig(run_dir=tmp_path, blue_port=18101, green_port=18102, prometheus_port=19190)
    argv = prometheus_argv_for(config)
    directory = tmp_path / "prometheus"
    assert argv[1:] == [
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        "--web.listen-address=127.0.0.1:19190",
        "--storage.tsdb.retention.time=1d",
        "--log.level=warn",
    ]
    written = yaml.safe_load((directory / "prometheus.yml").read_text())
    (job,) = written["scrape_configs"]
    assert job["static_configs"] == [{"targets": ["127.0.0.1:18101", "127.0.0.1:18102"]}]
    assert written["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}


@pytest.mark.parametrize(
    ("rule", "passed", "message"),
    [
        (
            AlertRule(name="NeverFiring"),
            True,
            "alert rule NeverFiring: loaded, healthy and not firing "
            "(group gonogo-test: state inactive, health ok)",
        ),
        (
            AlertRule(name="AlwaysFiring"),
            False,
            "alert rule AlwaysFiring: expected not firing, found firing with 1 active alert "
            "(group gonogo-test: state firing, health ok)",
        ),
        (
            AlertRule(name="AlwaysPending"),
            True,
            "alert rule AlwaysPending: loaded, healthy and not firing "
            "(group gonogo-test: state pending, health ok)",
        ),
        (
            AlertRule(name="AlwaysPending", pending_ok=False),
            False,
            "alert rule AlwaysPending: expected not pending (pending_ok is false), found "
            "pending with 1 active alert (group gonogo-test: state pending, health ok)",
        ),
    ],
    ids=["inactive", "firing", "pending-ok", "pending-not-ok"],
)
def test_judge_alert_against_prometheus(
    rule_states: list[AlertRuleState], rule: AlertRule, passed: bool, message: str
) -> None:
    assert judge_alert(rule, rule_states) == (passed, message)


def test_judge_alert_fails_an_unhealthy_rule(rule_states: list[AlertRuleState]) -> None:
    passed, message = judge_alert(AlertRule(name="Erroring"), rule_states)
    assert not passed
    assert message.startswith("alert rule Erroring: expected health ok, found err, last error: ")
    assert "same labelset" in message
    assert message.endswith(" (group gonogo-test: state inactive, health err)")


def test_judge_alert_fails_a_rule_not_loaded(rule_states: list[AlertRuleState]) -> None:
    passed, message = judge_alert(AlertRule(name="NoSuchRule"), rule_states)
    assert not passed
    assert message.startswith(
        "alert rule NoSuchRule: expected it loaded in Prometheus, found no alerting rule of "
        "that name; loaded: AlwaysFiring, AlwaysPending, Erroring, HighCpu, "
    )


# --- evaluate, end to end ------------------------------------------------------------------

FOR_S = 4


def test_a_value_held_over_max_for_the_whole_window_breaches(
    prometheus_server: PrometheusServer,
) -> None:
    promql = 'gonogo_test_value{case="held"}'
    wait_for_value(prometheus_server.url, promql, lambda r: values(r) == [10], ago_s=FOR_S + 1)
    query = metric(query=promql, max=5, **{"for": FOR_S})
    now = time.time()
    evaluation = evaluate(query, prometheus_server.url, now=now, timeout_s=5)
    assert (evaluation.verdict.state, evaluation.verdict.value) == ("breach", 10)
    assert evaluation.verdict.detail.startswith("10 > 5 for 4s: every one of 5 samples from ")
    assert evaluation.verdict.series in evaluation.verdict.detail
    assert (evaluation.promql, evaluation.window) == (promql, (now - FOR_S, now))
    assert evaluation.evidence == (
        f"PromQL {promql} returned 1 series: {evaluation.verdict.series} = 10 (latest of 5 samples)"
    )


def test_an_instant_query_within_its_bound_is_ok(prometheus_server: PrometheusServer) -> None:
    query = metric(query='gonogo_test_value{case="held"}', max=20)
    evaluation = evaluate(query, prometheus_server.url, now=time.time(), timeout_s=5)
    assert evaluation.window is None
    assert evaluation.verdict.state == "ok"
    assert evaluation.verdict.detail == f"10, within <= 20 (series {evaluation.verdict.series})"


def test_a_spike_that_recovered_inside_the_window_is_not_a_breach(
    prometheus_server: PrometheusServer,
) -> None:
    promql = 'gonogo_test_value{case="recovered"}'
    gauge = prometheus_server.exporter.value.labels(case="recovered")
    for value in (1, 10):
        gauge.set(value)
        wait_for_value(prometheus_server.url, promql, lambda r, v=value: values(r) == [v])
    time.sleep(1.5)
    gauge.set(1)
    wait_for_value(prometheus_server.url, promql, lambda r: values(r) == [1])
    query = metric(query=promql, max=5, **{"for": FOR_S + 1})
    verdict = evaluate(query, prometheus_server.url, now=time.time(), timeout_s=5).verdict
    assert (verdict.state, verdict.value) == ("ok", 1)
    assert "breached earlier in the window (peak 10 at " in verdict.detail
    assert verdict.detail.endswith(" but recovered")


def test_a_value_that_only_just_crossed_is_pending(prometheus_server: PrometheusServer) -> None:
    promql = 'gonogo_test_value{case="crossed"}'
    gauge = prometheus_server.exporter.value.labels(case="crossed")
    for value in (1, 10):
        gauge.set(value)
        wait_for_value(prometheus_server.url, promql, lambda r, v=value: values(r) == [v])
    query = metric(query=promql, max=5, **{"for": FOR_S})
    verdict = evaluate(query, prometheus_server.url, now=time.time(), timeout_s=5).verdict
    assert (verdict.state, verdict.value) == ("pending", 10)
    assert verdict.detail.startswith("pending: 10 > 5 now, but only since ")
    assert "UTC (needs 4s); series {__name__=" in verdict.detail


@pytest.mark.parametrize(
    ("policy", "state"), [("inconclusive", "inconclusive"), ("fail", "breach"), ("pass", "ok")]
)
@pytest.mark.parametrize("window", [0, FOR_S], ids=["instant", "window"])
def test_a_query_matching_nothing_follows_the_no_data_policy(
    prometheus_server: PrometheusServer, policy: str, state: str, window: int
) -> None:
    query = metric(
        query='gonogo_test_value{case="absent"}', max=5, no_data=policy, **{"for": window}
    )
    evaluation = evaluate(query, prometheus_server.url, now=time.time(), timeout_s=5)
    assert evaluation.verdict.state == state
    assert evaluation.verdict.detail.startswith("no data: the query returned no series")
    assert evaluation.evidence == 'PromQL gonogo_test_value{case="absent"} returned 0 series'


def test_a_zero_over_zero_ratio_is_no_data(prometheus_server: PrometheusServer) -> None:
    prometheus_server.exporter.value.labels(case="zero").set(0)
    selector = 'gonogo_test_value{case="zero"}'
    wait_for_value(prometheus_server.url, selector, lambda r: values(r) == [0])
    query = metric(query=f"{selector} / {selector}", max=0.05)
    evaluation = evaluate(query, prometheus_server.url, now=time.time(), timeout_s=5)
    assert evaluation.verdict.state == "inconclusive"
    assert evaluation.verdict.detail.startswith("no data: every sample of the 1 series is NaN")
    assert evaluation.evidence.endswith(" = NaN")


def test_evaluate_raises_when_prometheus_is_unreachable() -> None:
    (port,) = free_ports(1)
    with pytest.raises(TargetUnreachableError, match="connection refused"):
        evaluate(metric(max=1), f"http://127.0.0.1:{port}", now=time.time(), timeout_s=2)
