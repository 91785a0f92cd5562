"""Firewall policy read from the host, and the security-group matrix tried for real."""

from __future__ import annotations

import ipaddress

import pytest

from fixtures.inside import FirewallReader, HostConnector
from gonogo.environment import Environment
from gonogo.environment_inside import FirewallPolicyCheck, Reachability
from gonogo.firewall import Allowance, Verdict
from gonogo.probes import hosts
from gonogo.probes.ports import PortState, scan

pytestmark = pytest.mark.inside

_DENY = (Verdict.DROP, Verdict.REJECT)


def test_firewall_default_incoming(
    firewall_check: FirewallPolicyCheck, read_firewall: FirewallReader
) -> None:
    policy = read_firewall(firewall_check)
    wanted = firewall_check.default_incoming
    denies = policy.active and policy.default_incoming in _DENY
    found = policy.default_incoming if policy.active else f"{policy.source} inactive"
    assert denies == (wanted == "deny"), (
        f"{firewall_check.label}: default incoming policy is {found}; expected {wanted}"
    )


def test_firewall_allowed_ports(
    firewall_check: FirewallPolicyCheck, read_firewall: FirewallReader
) -> None:
    policy = read_firewall(firewall_check)
    declared = {
        _allowance(allow.protocol, *allow.span(), allow.source) for allow in firewall_check.allow
    }
    allowed = set(policy.allowed)
    problems = []
    if allowed - declared:
        problems.append(f"also allows {_listed(allowed - declared)}")
    if declared - allowed:
        problems.append(f"does not allow {_listed(declared - allowed)}")
    if policy.unmodelled:
        problems.append(
            "has rules gonogo cannot reduce to allowances, so the allowed set is unproven: "
            + "; ".join(policy.unmodelled[:5])
        )
    assert not problems, (
        f"{firewall_check.label} ({policy.source}): {'; '.join(problems)}; expected exactly "
        f"{_listed(declared) or 'nothing'}"
    )


def test_reachability(
    reachability: Reachability, environment: Environment, host_connection: HostConnector
) -> None:
    address, port = reachability.address()
    if reachability.source == "here":
        facts = scan(address, [port], timeout_s=reachability.timeout_s).facts
        states = {fact.state for fact in facts}
        detail = "; ".join(f"{fact.address}: {fact.state} ({fact.detail})" for fact in facts)
    else:
        host = environment.host(reachability.source)
        assert host is not None  # the schema resolved the name
        seen = hosts.reach(host_connection(host), address, port, reachability.timeout_s)
        states, detail = {seen.state}, f"{seen.state} ({seen.detail})"
    wanted = reachability.expect
    ok = PortState.OPEN not in states if wanted == "blocked" else states == {PortState(wanted)}
    assert ok, (
        f"{reachability.label}: from {reachability.source} to {reachability.to}: {detail}; "
        f"expected {wanted}"
    )


def _allowance(protocol: str, first: int, last: int, source: str | None) -> Allowance:
    network = ipaddress.ip_network(source) if source else None
    return Allowance(protocol, first, last, network)


def _listed(allowances: set[Allowance]) -> str:
    return ", ".join(str(allowance) for allowance in sorted(allowances, key=str))
