"""Ports, seen from where the suite runs: what must answer, what must not, and nothing else."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from fixtures.edge import PortScanner
from gonogo.environment_edge import PortPolicy
from gonogo.probes.ports import PortFact, PortState, ScanResult

pytestmark = pytest.mark.edge


def test_ports_open(open_ports: PortPolicy, scan_ports: PortScanner) -> None:
    result = scan_ports(open_ports)
    wanted = set(open_ports.open)
    shut = [f for f in result.facts if f.port in wanted and f.state is not PortState.OPEN]
    assert not shut, (
        f"{open_ports.label}: {_listed(shut)}; expected open: {_ports(wanted)} ({_summary(result)})"
    )


def test_ports_not_reachable(closed_ports: PortPolicy, scan_ports: PortScanner) -> None:
    result = scan_ports(closed_ports)
    unwanted = set(closed_ports.closed)
    reachable = [f for f in result.facts if f.port in unwanted and f.state is PortState.OPEN]
    assert not reachable, (
        f"{closed_ports.label}: {_listed(reachable)}; expected not reachable (refused or "
        f"filtered): {_ports(unwanted)} ({_summary(result)})"
    )


def test_nothing_else_open(port_range: PortPolicy, scan_ports: PortScanner) -> None:
    result = scan_ports(port_range)
    ranges = port_range.nothing_else_open_in or []
    declared = set(port_range.open)
    extra = [
        fact
        for fact in result.facts
        if fact.state is PortState.OPEN
        and fact.port not in declared
        and any(first <= fact.port <= last for first, last in ranges)
    ]
    spans = ", ".join(f"{first}-{last}" for first, last in ranges)
    assert not extra, (
        f"{port_range.label}: {_listed(extra)} in {spans}; expected only "
        f"{_ports(declared) or 'none'} open there ({_summary(result)})"
    )


def _listed(facts: Iterable[PortFact]) -> str:
    by_port: dict[int, list[str]] = {}
    for fact in facts:
        by_port.setdefault(fact.port, []).append(f"{fact.state} on {fact.address}")
    return "; ".join(f"port {port} {', '.join(states)}" for port, states in by_port.items())


def _ports(ports: Iterable[int]) -> str:
    return ", ".join(str(port) for port in sorted(ports))


def _summary(result: ScanResult) -> str:
    counts = {state: len(facts) for state, facts in result.by_state().items()}
    shown = ", ".join(f"{counts[state]} {state}" for state in PortState)
    return f"scanned {len(result.facts)} ports in {result.duration_s:.2f} s: {shown}"
