"""Baseline: the load stage's KPIs against an earlier run's, so a release that got slower than
the last good one is caught even while it still meets every absolute KPI."""

from __future__ import annotations

import pytest

from fixtures.baseline import BaselineRun
from fixtures.load import LoadResult
from gonogo.baseline import compare_kpi, latency_regression
from gonogo.environment_gate import BaselineKpi, LatencyTest
from gonogo.plugin import Evidence

pytestmark = pytest.mark.load


def test_kpi_against_baseline(
    baseline_kpi: BaselineKpi,
    load_result: LoadResult,
    baseline_run: BaselineRun,
    evidence: Evidence,
) -> None:
    current = load_result.summary.total.value(baseline_kpi.kpi)
    if baseline_run.load is None:
        evidence(measured=current, detail=baseline_run.note)
        return
    baseline = float(baseline_run.load["total"][baseline_kpi.kpi])
    comparison = compare_kpi(baseline_kpi, current, baseline, baseline_run=baseline_run.run_id)
    evidence(measured=current, threshold=baseline, detail=comparison.detail)
    assert not comparison.regressed, f"baseline {baseline_kpi.kpi}: {comparison.detail}"


def test_latency_distribution_against_baseline(
    baseline_latency: LatencyTest,
    load_result: LoadResult,
    baseline_run: BaselineRun,
    evidence: Evidence,
) -> None:
    current = load_result.summary.latency_bins
    if baseline_run.load is None:
        evidence(detail=baseline_run.note)
        return
    bins = [(float(ms), int(count)) for ms, count in baseline_run.load.get("latency_bins", [])]
    comparison = latency_regression(
        baseline_latency, bins, current, baseline_run=baseline_run.run_id
    )
    evidence(
        measured=comparison.test.current_median_ms,
        threshold=comparison.test.baseline_median_ms,
        detail=comparison.detail,
    )
    assert not comparison.regressed, f"baseline latency: {comparison.detail}"
