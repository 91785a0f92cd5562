"""The load stage: one Locust run judged against every KPI, over the whole run and in windows."""

from __future__ import annotations

import pytest

from fixtures.load import LoadResult
from gonogo.environment_load import KpiTarget, LoadScenario, WindowRule
from gonogo.load_kpis import judge_kpi, window_breaches
from gonogo.plugin import Evidence

pytestmark = pytest.mark.load

_LATENCY = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "avg_ms")


def test_load_ran_its_course(load_scenario: LoadScenario, load_result: LoadResult) -> None:
    summary = load_result.summary
    assert summary.stop_reason == "duration", (
        f"load: the run ended early ({summary.stop_reason}) after {summary.duration_s:.0f} of "
        f"{load_scenario.total_duration_s:g} s; {summary.total.count} requests were made"
    )


def test_load_kpi(load_kpi: KpiTarget, load_result: LoadResult, evidence: Evidence) -> None:
    summary = load_result.summary
    stats = summary.total if load_kpi.scope == "total" else summary.per_request.get(load_kpi.scope)
    if stats is None:
        pytest.fail(f"load {load_kpi.label}: no request named {load_kpi.scope} was made", False)
    if summary.saturated and load_kpi.kpi in _LATENCY:
        # Inconclusive, not passed: a skip of a blocking check keeps the gate from GO.
        pytest.skip(f"load {load_kpi.label}: inconclusive, {summary.saturated}")
    finding = judge_kpi(stats, load_kpi.kpi, load_kpi.limit)
    evidence(
        measured=stats.value(load_kpi.kpi),
        threshold=load_kpi.limit,
        detail=f"{stats.count} requests, {stats.failures} failed, over {summary.duration_s:g} s",
    )
    assert finding is None, f"load {load_kpi.label}: {finding}"


def test_load_window(load_window: WindowRule, load_result: LoadResult, evidence: Evidence) -> None:
    requested = load_window.request
    if requested is not None and requested not in load_result.summary.per_request:
        pytest.fail(f"load {load_window.label}: no request named {requested} was made", False)
    breaches = window_breaches(load_result.run.results, load_window)
    shown = ", ".join(f"{b.start_s}-{b.end_s} s (worst {b.value:g})" for b in breaches[:5])
    values = [b.value for b in breaches]
    worst = min if load_window.below is not None else max
    evidence(
        measured=worst(values) if values else None,
        threshold=load_window.above if load_window.above is not None else load_window.below,
        detail=f"breached at {shown}" if breaches else "no window breached",
        trigger=load_window.rollback and bool(breaches),
    )
    assert not breaches, f"load {load_window.label}: breached at {shown}"
