"""Dependencies: each database, cache, broker and service answers, fast enough, with the data."""

from __future__ import annotations

import re

import pytest

from fixtures.api import DependencyProber
from gonogo.environment_dependencies import Dependency

pytestmark = pytest.mark.smoke


def test_dependency_answers(dependency: Dependency, probe_dependencies: DependencyProber) -> None:
    facts = probe_dependencies(dependency)
    if dependency.kind == "http":
        expected = " or ".join(str(code) for code in dependency.status)
        assert facts.status in dependency.status, (
            f"{dependency.label} ({facts.where}): status {facts.status}, expected {expected}; "
            f"body: {facts.body_excerpt}"
        )


def test_dependency_latency_within_budget(
    dependency_latency: Dependency, probe_dependencies: DependencyProber
) -> None:
    facts = probe_dependencies(dependency_latency)
    budget = dependency_latency.latency_ms
    assert budget is not None
    assert facts.latency_ms <= budget, (
        f"{dependency_latency.label} ({facts.where}): connect, authenticate and ping took "
        f"{facts.latency_ms:.1f} ms, budget {budget:g} ms"
    )


def test_dependency_query_result(
    dependency_query: Dependency, probe_dependencies: DependencyProber
) -> None:
    facts = probe_dependencies(dependency_query)
    query = dependency_query.query
    assert query is not None
    where = f"{dependency_query.label} ({facts.where}): {query.sql!r}"
    assert facts.query_error is None, f"{where} failed: {facts.query_error}"
    value = facts.query_value
    problems = []
    if query.asks_equals and value != query.equals:
        problems.append(f"expected {query.equals!r}")
    if query.min is not None or query.max is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append("expected a number")
        elif query.min is not None and value < query.min:
            problems.append(f"expected at least {query.min:g}")
        elif query.max is not None and value > query.max:
            problems.append(f"expected at most {query.max:g}")
    assert not problems, f"{where} returned {value!r}, {' and '.join(problems)}"


def test_dependency_round_trip(
    dependency_round_trip: Dependency, probe_dependencies: DependencyProber
) -> None:
    facts = probe_dependencies(dependency_round_trip)
    assert facts.round_trip_error is None, (
        f"{dependency_round_trip.label} ({facts.where}): write, read back and delete of a "
        f"scratch key failed: {facts.round_trip_error}"
    )


def test_broker_management_alive(
    dependency_management: Dependency, probe_dependencies: DependencyProber
) -> None:
    facts = probe_dependencies(dependency_management)
    assert facts.management_error is None, (
        f"{dependency_management.label} ({dependency_management.management_url}): aliveness "
        f"check failed: {facts.management_error}"
    )


def test_dependency_banner(
    dependency_banner: Dependency, probe_dependencies: DependencyProber
) -> None:
    facts = probe_dependencies(dependency_banner)
    pattern = dependency_banner.banner
    assert pattern is not None
    assert facts.banner is not None and re.search(pattern, facts.banner), (
        f"{dependency_banner.label} ({facts.where}): first line {facts.banner!r}, "
        f"expected a match for {pattern!r}"
    )
