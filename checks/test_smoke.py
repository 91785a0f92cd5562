"""Smoke: the deployment becomes ready, and every declared request gets the expected answer."""

from __future__ import annotations

import pytest

from fixtures.http import Readiness, SmokeFetcher
from gonogo.environment import SmokeCheck, Wait
from gonogo.smoke_judge import json_field_problems

pytestmark = pytest.mark.smoke


def test_deployment_becomes_ready(wait: Wait, readiness: Readiness) -> None:
    assert readiness.ready, (
        f"{wait.check}: not ready after {readiness.attempts} attempts "
        f"{wait.interval_s:g} s apart ({readiness.waited_s:.1f} s); last answer: "
        f"{readiness.last_problem}"
    )


def test_status_is_expected(smoke_check: SmokeCheck, fetch_smoke: SmokeFetcher) -> None:
    response = fetch_smoke(smoke_check)
    expected = " or ".join(str(code) for code in smoke_check.expect.status)
    assert response.status in smoke_check.expect.status, (
        f"{smoke_check.name} ({response.method} {response.url}): status {response.status}, "
        f"expected {expected}; body: {response.excerpt()}"
    )


def test_json_fields_match(smoke_json_check: SmokeCheck, fetch_smoke: SmokeFetcher) -> None:
    response = fetch_smoke(smoke_json_check)
    try:
        document = response.json()
    except ValueError as exc:
        pytest.fail(
            f"{smoke_json_check.name} ({response.url}): expected a JSON body, {exc}; "
            f"body: {response.excerpt()}",
            pytrace=False,
        )
    wrong = json_field_problems(smoke_json_check.expect.json_fields, document)
    assert not wrong, (
        f"{smoke_json_check.name} ({response.url}): {'; '.join(wrong)}; body: {response.excerpt()}"
    )


def test_latency_within_budget(smoke_latency_check: SmokeCheck, fetch_smoke: SmokeFetcher) -> None:
    response = fetch_smoke(smoke_latency_check)
    budget = smoke_latency_check.expect.latency_ms
    assert budget is not None
    assert response.elapsed_ms <= budget, (
        f"{smoke_latency_check.name} ({response.url}): answered in {response.elapsed_ms:.0f} ms, "
        f"budget {budget:g} ms"
    )
