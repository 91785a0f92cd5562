"""The inside checks end to end: the real suite, run from one network namespace, judging another.

Namespace B holds a real nftables policy (default drop; 22 and 5432 from anywhere, 8000 only
from 10.0.0.0/8) and real listeners on 8000 and 6379, so from namespace A port 8000 is open,
6379 listens but is filtered, and 5432 is allowed but closed. The suite runs inside A, as it
would on a jump host: "here" is A, and host `b` is read through the netns backend. A good and
a bad expectation of every entry are judged in the same run, so each verdict is seen both ways.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import IP, NamespacePair, listen_in, namespace_pair, run_in

REPO = Path(__file__).resolve().parent.parent

_RULESET = """
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept
    iifname "lo" accept
    tcp dport 22 accept
    tcp dport 5432 accept
    ip saddr 10.0.0.0/8 tcp dport 8000 accept
  }
}
"""


@pytest.fixture(scope="module")
def pair() -> Iterator[NamespacePair]:
    with namespace_pair("gonogo-in") as pair, contextlib.ExitStack() as listeners:
        run_in(pair.b, ["nft", "-f", "-"], input=_RULESET)
        for port in (8000, 6379):
            listeners.enter_context(listen_in(pair.b, pair.b_address, port))
        yield pair


def _environment(pair: NamespacePair) -> str:
    b = pair.b_address
    return f"""
name: inside
hosts:
  - {{name: a, backend: "local://", netns: {pair.a}}}
  - {{name: b, backend: "local://", netns: {pair.b}}}
firewall:
  - name: b-good
    host: b
    default_incoming: deny
    allow: [{{port: 22}}, {{port: 5432}}, {{port: 8000, from: 10.0.0.0/8}}]
  - name: b-bad
    host: b
    default_incoming: accept
    allow: [{{port: 22}}, {{port: 8000}}, {{port: 443}}]
  - name: here-unfiltered
    default_incoming: deny
reachability:
  - {{name: backend-open, to: "{b}:8000", expect: open}}
  - {{name: redis-filtered, to: "{b}:6379", expect: filtered, timeout_s: 1}}
  - {{name: db-closed, to: "{b}:5432", expect: closed}}
  - {{name: redis-blocked-from-a, from: a, to: "{b}:6379", expect: blocked, timeout_s: 1}}
  - {{name: backend-from-a, from: a, to: "{b}:8000", expect: open}}
  - {{name: backend-wrongly-closed, to: "{b}:8000", expect: closed}}
  - {{name: redis-wrongly-open, to: "{b}:6379", expect: open, timeout_s: 1}}
  - {{name: db-wrongly-filtered, from: a, to: "{b}:5432", expect: filtered}}
"""


@pytest.fixture(scope="module")
def verdicts(pair: NamespacePair, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """check id -> message ('' when it passed), from one run of the suite inside namespace A."""
    directory = tmp_path_factory.mktemp("inside-run")
    env_file = directory / "inside.yaml"
    env_file.write_text(_environment(pair))
    done = subprocess.run(
        [
            *(IP, "netns", "exec", pair.a, sys.executable),
            *("-m", "pytest", f"--env={env_file}", f"--report-dir={directory}"),
            *("-p", "no:cacheprovider", "-m", "inside"),
        ],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    record = json.loads((directory / "decision.json").read_text())
    assert record["decision"] == "NO-GO"
    return {
        c["id"]: "" if c["outcome"] == "passed" else c.get("message") or c["outcome"]
        for c in record["checks"]
    }


def test_firewall_policy_matches_declaration(verdicts: dict[str, str]) -> None:
    assert verdicts["test_firewall_default_incoming[b-good]"] == ""
    assert verdicts["test_firewall_allowed_ports[b-good]"] == ""


def test_firewall_of_the_machine_running_the_suite(verdicts: dict[str, str]) -> None:
    # No host: read where the suite runs, namespace A, whose ruleset is empty.
    assert verdicts["test_firewall_default_incoming[here-unfiltered]"] == (
        "here-unfiltered: default incoming policy is nftables inactive; expected deny"
    )
    assert verdicts["test_firewall_allowed_ports[here-unfiltered]"] == ""


def test_firewall_policy_differences_are_named(verdicts: dict[str, str]) -> None:
    assert verdicts["test_firewall_default_incoming[b-bad]"] == (
        "b-bad: default incoming policy is drop; expected accept"
    )
    allowed = verdicts["test_firewall_allowed_ports[b-bad]"]
    assert allowed.startswith(
        "b-bad (nftables): also allows tcp/5432 from anywhere, tcp/8000 from 10.0.0.0/8; "
        "does not allow tcp/443 from anywhere, tcp/8000 from anywhere; expected exactly"
    ), allowed


def test_reachability_open_closed_and_filtered_from_here(
    verdicts: dict[str, str], pair: NamespacePair
) -> None:
    for name in ("backend-open", "redis-filtered", "db-closed"):
        assert verdicts[f"test_reachability[{name}]"] == "", name
    b = pair.b_address
    assert verdicts["test_reachability[backend-wrongly-closed]"].startswith(
        f"backend-wrongly-closed: from here to {b}:8000: {b}: open"
    )
    assert verdicts["test_reachability[redis-wrongly-open]"].startswith(
        f"redis-wrongly-open: from here to {b}:6379: {b}: filtered"
    )


def test_reachability_from_another_host(verdicts: dict[str, str], pair: NamespacePair) -> None:
    assert verdicts["test_reachability[redis-blocked-from-a]"] == ""
    assert verdicts["test_reachability[backend-from-a]"] == ""
    wrong = verdicts["test_reachability[db-wrongly-filtered]"]
    assert wrong.startswith(f"db-wrongly-filtered: from a to {pair.b_address}:5432: closed"), wrong
    assert wrong.endswith("expected filtered")


def test_hosts_without_public_listeners_pass(verdicts: dict[str, str]) -> None:
    assert verdicts["test_host_listening_sockets[a]"] == ""
    assert verdicts["test_host_listening_sockets[b]"] == ""
