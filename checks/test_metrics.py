"""Metrics: Prometheus queries held to their bounds for their windows, and alert rules loaded
and quiet, the way the documents' alert rules are written."""

from __future__ import annotations

import pytest

from fixtures.metrics import AlertStates, Prometheus
from gonogo.environment_gate import AlertRule, MetricQuery
from gonogo.metric_judge import judge_alert
from gonogo.plugin import Evidence

pytestmark = pytest.mark.metrics


def test_metric_within_bound(
    metric_query: MetricQuery, prometheus: Prometheus, evidence: Evidence
) -> None:
    evaluation = prometheus.evaluate(metric_query)
    verdict = evaluation.verdict
    evidence(
        measured=verdict.value,
        threshold=metric_query.bound,
        detail=evaluation.evidence,
        trigger=metric_query.rollback and verdict.state == "breach",
    )
    state = {"breach": "breached", "inconclusive": "inconclusive"}.get(verdict.state)
    assert state is None, (
        f"{metric_query.name}: {state}, {verdict.detail}; query {metric_query.query} "
        f"on {prometheus.base_url}"
    )


def test_alert_rule_quiet(
    alert_rule: AlertRule, alert_states: AlertStates, evidence: Evidence
) -> None:
    states = alert_states()
    quiet, message = judge_alert(alert_rule, states)
    firing = any(s.name == alert_rule.name and s.state == "firing" for s in states)
    evidence(
        measured=next((s.state for s in states if s.name == alert_rule.name), "not loaded"),
        threshold="inactive" + (" or pending" if alert_rule.pending_ok else ""),
        detail=message,
        trigger=alert_rule.rollback and firing,
    )
    assert quiet, message
