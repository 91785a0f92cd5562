"""Firewall policies parsed from real nftables and iptables rules, loaded in network namespaces.

Rules go into namespace B of a fresh pair (tests/netns.py) and are read back with the commands
in COMMANDS, as a host check would. Where it matters, connects from namespace A show that the
kernel lets in what the parsed policy says it does. ufw is not installed here and must not be
enabled: its parser reads literal `ufw status verbose` outputs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from ipaddress import ip_address, ip_network
from typing import Any

import pytest

from gonogo.errors import FirewallPolicyError
from gonogo.firewall import (
    COMMANDS,
    PARSERS,
    Allowance,
    FirewallPolicy,
    Verdict,
    parse_iptables_save,
    parse_nft_json,
    parse_ufw_status,
)
from tests.netns import NamespacePair, listen_in, namespace_pair, run_in

_INSTALL = "run scripts/install-system-packages.sh"
TEN = ip_network("10.0.0.0/8")


def _require(program: str) -> None:
    if not any(os.path.exists(f"{d}/{program}") for d in ("/usr/sbin", "/sbin", "/usr/bin")):
        pytest.fail(f"{program} not found; {_INSTALL}", pytrace=False)


def _read(namespace: str, kind: str) -> str:
    """What the host command for `kind` prints inside `namespace`."""
    return run_in(namespace, COMMANDS[kind].split())


def _load_nft(namespace: str, ruleset: str) -> FirewallPolicy:
    _require("nft")
    run_in(namespace, ["nft", "-f", "-"], input=ruleset)
    return PARSERS["nftables"](_read(namespace, "nftables"))


def _tcp_states(pair: NamespacePair, ports: list[int]) -> dict[int, str]:
    """TCP connects from A to B's `ports`: open, closed (refused) or filtered (no answer)."""
    code = (
        "import json, sys\n"
        "from gonogo.probes.ports import scan\n"
        "result = scan(sys.argv[1], [int(p) for p in sys.argv[2:]], timeout_s=1.0)\n"
        "print(json.dumps({fact.port: fact.state.value for fact in result.facts}))\n"
    )
    argv = [sys.executable, "-c", code, pair.b_address, *map(str, ports)]
    return {int(port): state for port, state in json.loads(run_in(pair.a, argv)).items()}


def _kernel_and_model(
    pair: NamespacePair, policy: FirewallPolicy, ports: list[int]
) -> tuple[dict[int, bool], dict[int, bool]]:
    """Per port: did A's connect get past B's firewall, and does the policy say it should."""
    states = _tcp_states(pair, ports)
    source = ip_address(pair.a_address)
    return (
        {port: states[port] != "filtered" for port in ports},
        {port: policy.allows("tcp", port, source) for port in ports},
    )


@pytest.fixture
def pair() -> Iterator[NamespacePair]:
    """A fresh namespace pair for one test."""
    with namespace_pair() as created:
        yield created


# --- nftables, for real -----------------------------------------------------------------------

SERVER_RULESET = """
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iifname "lo" accept
        tcp dport 22 accept
        tcp dport { 80, 443 } accept
        ip saddr 10.0.0.0/8 tcp dport 8000 accept
        tcp dport 9000-9010 accept
        jump extra
    }
    chain extra {
        udp dport 53 accept
        tcp dport 6379 drop
    }
}
"""
SERVER_ALLOWED = (
    Allowance("tcp", 22, 22),
    Allowance("tcp", 80, 80),
    Allowance("tcp", 443, 443),
    Allowance("tcp", 8000, 8000, TEN),
    Allowance("tcp", 9000, 9010),
    Allowance("udp", 53, 53),
)


@pytest.fixture(scope="module")
def nft_server() -> Iterator[tuple[NamespacePair, FirewallPolicy]]:
    """SERVER_RULESET loaded in B of one pair for the module, and the policy read back."""
    with namespace_pair() as created:
        yield created, _load_nft(created.b, SERVER_RULESET)


def test_nft_server_ruleset_reads_as_exactly_its_allowances(nft_server: Any) -> None:
    _, policy = nft_server
    assert policy == FirewallPolicy("nftables", True, Verdict.DROP, SERVER_ALLOWED, ())


@pytest.mark.parametrize(
    ("protocol", "port", "source", "allowed"),
    [
        ("tcp", 22, None, True),
        ("tcp", 23, None, False),
        ("tcp", 443, None, True),
        ("tcp", 444, None, False),
        ("tcp", 8000, "10.1.2.3", True),
        ("tcp", 8000, "192.168.1.1", False),
        ("tcp", 8000, None, False),
        ("tcp", 9010, None, True),
        ("tcp", 9011, None, False),
        ("udp", 53, "192.168.1.1", True),
        ("tcp", 53, None, False),
        ("tcp", 6379, "10.1.2.3", False),
    ],
)
def test_nft_server_policy_answers_per_connection(
    nft_server: Any, protocol: str, port: int, source: str | None, allowed: bool
) -> None:
    _, policy = nft_server
    address = None if source is None else ip_address(source)
    assert policy.allows(protocol, port, address) is allowed


def test_nft_server_kernel_lets_in_what_the_policy_allows(nft_server: Any) -> None:
    pair, policy = nft_server
    # 6379 listens but is dropped; 80, 8000 (A is in 10.0.0.0/8) and 9005 are let in, unserved.
    with listen_in(pair.b, pair.b_address, 22), listen_in(pair.b, pair.b_address, 6379):
        states = _tcp_states(pair, [22, 80, 6379, 8000, 9005, 9011, 12345])
        kernel, model = _kernel_and_model(pair, policy, sorted(states))
    assert states == {
        22: "open",
        80: "closed",
        6379: "filtered",
        8000: "closed",
        9005: "closed",
        9011: "filtered",
        12345: "filtered",
    }
    assert kernel == model


def test_nft_accept_policy_without_rules_lets_everything_in(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table inet filter {
            chain input {
                type filter hook input priority 0; policy accept;
            }
        }
        """,
    )
    assert policy == FirewallPolicy("nftables", True, Verdict.ACCEPT, (), ())
    kernel, model = _kernel_and_model(pair, policy, [22, 12345])
    assert kernel == model == {22: True, 12345: True}


def test_nft_unmodelled_accept_is_listed_and_not_counted(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table inet filter {
            chain input {
                type filter hook input priority 0; policy drop;
                tcp dport 22 accept
                tcp flags syn limit rate 10/second accept
            }
        }
        """,
    )
    assert policy.allowed == (Allowance("tcp", 22, 22),)
    assert len(policy.unmodelled) == 1
    assert policy.unmodelled[0].startswith("inet filter input handle ")
    assert policy.unmodelled[0].endswith(
        ": tcp flags syn limit rate 10/second accept "
        "(not counted as allowed: tcp flags, limit not modelled)"
    )
    assert policy.allows("tcp", 22)
    assert not policy.allows("tcp", 80)


def test_nft_named_set_of_ports_is_allowed_port_by_port(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table inet filter {
            set allowed { type inet_service; elements = { 22, 443 }; }
            chain input {
                type filter hook input priority 0; policy drop;
                tcp dport @allowed accept
            }
        }
        """,
    )
    assert policy.allowed == (Allowance("tcp", 22, 22), Allowance("tcp", 443, 443))
    assert policy.unmodelled == ()
    assert policy.allows("tcp", 443)
    assert not policy.allows("tcp", 80)


def test_nft_empty_ruleset_is_inactive(pair: NamespacePair) -> None:
    _require("nft")
    run_in(pair.b, ["nft", "flush", "ruleset"])
    policy = parse_nft_json(_read(pair.b, "nftables"))
    assert policy == FirewallPolicy("nftables", False, Verdict.ACCEPT, (), ())
    assert policy.allows("tcp", 12345)


def test_nft_earlier_drop_cuts_its_ports_out_of_a_later_accept(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table inet filter {
            chain input {
                type filter hook input priority 0; policy drop;
                tcp dport 6379 drop
                tcp dport 6000-7000 accept
            }
        }
        """,
    )
    assert policy.allowed == (Allowance("tcp", 6000, 6378), Allowance("tcp", 6380, 7000))
    assert policy.unmodelled == ()
    kernel, model = _kernel_and_model(pair, policy, [5999, 6000, 6379, 6380, 7001])
    assert kernel == model == {5999: False, 6000: True, 6379: False, 6380: True, 7001: False}


def test_nft_drop_from_some_sources_before_an_accept_is_listed(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table inet filter {
            chain input {
                type filter hook input priority 0; policy drop;
                ip saddr 10.0.0.0/8 tcp dport 5000 drop
                tcp dport 5000 accept
            }
        }
        """,
    )
    # "All but 10.0.0.0/8" is no allowance: it stays whole, and the drop is shown beside it.
    assert policy.allowed == (Allowance("tcp", 5000, 5000),)
    assert len(policy.unmodelled) == 1
    assert policy.unmodelled[0].endswith(
        ": drops tcp/5000 from 10.0.0.0/8, part of the later tcp/5000 from anywhere; "
        "counted as allowed in full"
    )


def test_nft_final_reject_rule_makes_the_default_reject(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table inet filter {
            chain input {
                type filter hook input priority 0; policy accept;
                tcp dport 22 accept
                reject
            }
        }
        """,
    )
    assert policy == FirewallPolicy(
        "nftables", True, Verdict.REJECT, (Allowance("tcp", 22, 22),), ()
    )
    assert policy.allows("tcp", 22)
    assert not policy.allows("tcp", 23)
    assert _tcp_states(pair, [22, 23]) == {22: "closed", 23: "closed"}  # refused, not dropped


def test_nft_ipv4_only_table_says_ipv6_is_let_in(pair: NamespacePair) -> None:
    policy = _load_nft(
        pair.b,
        """
        table ip filter {
            chain input {
                type filter hook input priority 0; policy drop;
                tcp dport 22 accept
            }
        }
        """,
    )
    assert policy.default_incoming is Verdict.DROP
    assert policy.allowed == (Allowance("tcp", 22, 22),)
    assert policy.unmodelled == (
        "IPv6: no input chain drops what it does not accept, so every IPv6 connection gets "
        "in; default_incoming describes the other address family",
    )


# --- iptables, for real -----------------------------------------------------------------------

IPTABLES_RULES = [
    ["-P", "INPUT", "DROP"],
    ["-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    ["-A", "INPUT", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"],
    ["-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "ACCEPT"],
    ["-A", "INPUT", "-p", "tcp", "-m", "multiport", "--dports", "80,443", "-j", "ACCEPT"],
    ["-A", "INPUT", "-s", "10.0.0.0/8", "-p", "tcp", "--dport", "8000", "-j", "ACCEPT"],
    ["-N", "services"],
    ["-A", "services", "-p", "udp", "--dport", "53", "-j", "ACCEPT"],
    ["-A", "services", "-p", "tcp", "--dport", "6379", "-j", "DROP"],
    ["-A", "INPUT", "-j", "services"],
    ["-A", "INPUT", "-p", "tcp", "--dport", "6379", "-j", "ACCEPT"],  # too late: dropped above
]
IP6TABLES_RULES = [
    ["-P", "INPUT", "DROP"],
    ["-A", "INPUT", "-s", "fd00::/8", "-p", "tcp", "--dport", "2222", "-j", "ACCEPT"],
]
IPTABLES_ALLOWED = (
    Allowance("tcp", 22, 22),
    Allowance("tcp", 80, 80),
    Allowance("tcp", 443, 443),
    Allowance("tcp", 8000, 8000, TEN),
    Allowance("udp", 53, 53),
)


@pytest.fixture(scope="module")
def iptables_host() -> Iterator[NamespacePair]:
    """IPTABLES_RULES and IP6TABLES_RULES loaded in B of one pair for the module."""
    for program in ("iptables", "ip6tables"):
        _require(program)
    with namespace_pair() as created:
        for rule in IPTABLES_RULES:
            run_in(created.b, ["iptables", *rule])
        for rule in IP6TABLES_RULES:
            run_in(created.b, ["ip6tables", *rule])
        yield created


def test_iptables_save_reads_as_exactly_its_allowances(iptables_host: NamespacePair) -> None:
    policy = parse_iptables_save(_read(iptables_host.b, "iptables"))
    assert policy == FirewallPolicy("iptables", True, Verdict.DROP, IPTABLES_ALLOWED, ())
    assert policy.allows("tcp", 8000, ip_address("10.1.2.3"))
    assert not policy.allows("tcp", 8000, ip_address("192.168.1.1"))
    assert policy.allows("udp", 53)
    assert not policy.allows("tcp", 6379)


def test_iptables_kernel_lets_in_what_the_policy_allows(iptables_host: NamespacePair) -> None:
    policy = parse_iptables_save(_read(iptables_host.b, "iptables"))
    with listen_in(iptables_host.b, iptables_host.b_address, 6379):
        kernel, model = _kernel_and_model(iptables_host, policy, [22, 443, 6379, 8000, 8080])
    assert kernel == model == {22: True, 443: True, 6379: False, 8000: True, 8080: False}


def test_iptables_and_ip6tables_save_read_together(iptables_host: NamespacePair) -> None:
    both = _read(iptables_host.b, "iptables") + run_in(iptables_host.b, ["ip6tables-save"])
    policy = parse_iptables_save(both)
    v6 = Allowance("tcp", 2222, 2222, ip_network("fd00::/8"))
    assert policy == FirewallPolicy("iptables", True, Verdict.DROP, (*IPTABLES_ALLOWED, v6), ())
    assert policy.allows("tcp", 2222, ip_address("fd00::1"))
    assert not policy.allows("tcp", 2222, ip_address("10.1.2.3"))


def test_iptables_return_hands_the_rest_back_to_input(pair: NamespacePair) -> None:
    _require("iptables")
    for rule in [
        ["-P", "INPUT", "DROP"],
        ["-N", "web"],
        ["-A", "INPUT", "-p", "tcp", "-j", "web"],
        ["-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "ACCEPT"],
        ["-A", "web", "-p", "tcp", "--dport", "0:1023", "-j", "RETURN"],
        ["-A", "web", "-s", "10.0.0.0/8", "-j", "ACCEPT"],
        ["-A", "web", "-j", "RETURN"],
        ["-A", "web", "-j", "ACCEPT"],  # never reached
    ]:
        run_in(pair.b, ["iptables", *rule])
    policy = parse_iptables_save(_read(pair.b, "iptables"))
    # web sees only tcp; low ports return at once, the rest is accepted only from 10.0.0.0/8.
    assert policy.allowed == (Allowance("tcp", 80, 80), Allowance("tcp", 1024, 65535, TEN))
    assert policy.unmodelled == ()
    assert not policy.allows("tcp", 8080, ip_address("192.168.1.1"))
    kernel, model = _kernel_and_model(pair, policy, [22, 80, 8080])
    assert kernel == model == {22: False, 80: True, 8080: True}


def test_iptables_save_with_counters_and_unmodelled_rules() -> None:
    text = """# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
[12:720] -A INPUT -p tcp -m tcp --dport 1000:2000 -j ACCEPT
[0:0] -A INPUT ! -s 10.0.0.0/8 -p tcp -m tcp --dport 3000 -j ACCEPT
[0:0] -A INPUT -p tcp -m tcp --dport 4000 -m comment --comment "api, public" -j ACCEPT
COMMIT
"""
    policy = parse_iptables_save(text)
    assert policy.allowed == (Allowance("tcp", 1000, 2000), Allowance("tcp", 4000, 4000))
    assert policy.unmodelled == (
        "iptables-save line 7: -A INPUT ! -s 10.0.0.0/8 -p tcp -m tcp --dport 3000 -j ACCEPT "
        "(not counted as allowed: ! -s 10.0.0.0/8 not modelled)",
    )
    assert policy.allows("tcp", 1500)
    assert not policy.allows("tcp", 3000, ip_address("192.168.1.1"))


# --- ufw, from its output ---------------------------------------------------------------------

UFW_ACTIVE = """Status: active
Logging: on (low)
Default: deny (incoming), allow (outgoing), disabled (routed)
New profiles: skip

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW IN    Anywhere
80,443/tcp                 ALLOW IN    Anywhere
8000                       ALLOW IN    10.0.0.0/8
6000:6007/tcp              ALLOW IN    Anywhere
25/tcp                     DENY IN     Anywhere
3306/tcp                   REJECT IN   Anywhere
2222/tcp                   LIMIT IN    Anywhere                   # ssh, rate limited
53/udp                     ALLOW OUT   Anywhere
5432/tcp on eth0           ALLOW IN    Anywhere
22/tcp (v6)                ALLOW IN    Anywhere (v6)
80,443/tcp (v6)            ALLOW IN    Anywhere (v6)
2001:db8::/32 9090/tcp     ALLOW IN    Anywhere (v6)
"""


def test_ufw_active_status_reads_as_its_allowances() -> None:
    policy = parse_ufw_status(UFW_ACTIVE)
    assert policy.source == "ufw"
    assert policy.active
    assert policy.default_incoming is Verdict.DROP
    assert policy.allowed == (
        Allowance("any", 8000, 8000, TEN),
        Allowance("tcp", 22, 22),
        Allowance("tcp", 80, 80),
        Allowance("tcp", 443, 443),
        Allowance("tcp", 2222, 2222),
        Allowance("tcp", 6000, 6007),
    )
    assert policy.unmodelled == (
        "ufw status verbose line 16: 5432/tcp on eth0 ALLOW IN Anywhere "
        "(not counted as allowed: interface eth0 not modelled)",
        "ufw status verbose line 19: 2001:db8::/32 9090/tcp ALLOW IN Anywhere (v6) "
        "(not counted as allowed: destination 2001:db8::/32 not modelled)",
    )


@pytest.mark.parametrize(
    ("protocol", "port", "source", "allowed"),
    [
        ("tcp", 22, None, True),
        ("udp", 22, None, False),
        ("tcp", 443, "2001:db8::1", True),
        ("udp", 8000, "10.1.2.3", True),
        ("tcp", 8000, "192.168.1.1", False),
        ("tcp", 6007, None, True),
        ("tcp", 6008, None, False),
        ("tcp", 25, None, False),
        ("tcp", 3306, None, False),
        ("tcp", 2222, None, True),
        ("udp", 53, None, False),
        ("tcp", 5432, None, False),
    ],
)
def test_ufw_active_policy_answers_per_connection(
    protocol: str, port: int, source: str | None, allowed: bool
) -> None:
    address = None if source is None else ip_address(source)
    assert parse_ufw_status(UFW_ACTIVE).allows(protocol, port, address) is allowed


def test_ufw_inactive_lets_everything_in() -> None:
    policy = parse_ufw_status("Status: inactive\n")
    assert policy == FirewallPolicy("ufw", False, Verdict.ACCEPT, (), ())
    assert policy.allows("tcp", 5432, ip_address("192.168.1.1"))


def test_ufw_application_profile_is_listed_not_guessed() -> None:
    policy = parse_ufw_status(
        "Status: active\n"
        "Default: deny (incoming), allow (outgoing), disabled (routed)\n\n"
        "To                         Action      From\n"
        "--                         ------      ----\n"
        "OpenSSH                    ALLOW IN    Anywhere\n"
        "Nginx Full (v6)            ALLOW IN    Anywhere (v6)\n"
    )
    assert policy.allowed == ()
    assert policy.unmodelled == (
        "ufw status verbose line 6: OpenSSH ALLOW IN Anywhere (not counted as allowed: "
        "application profile: its ports are in /etc/ufw/applications.d not modelled)",
        "ufw status verbose line 7: Nginx Full (v6) ALLOW IN Anywhere (v6) (not counted as "
        "allowed: application profile: its ports are in /etc/ufw/applications.d not modelled)",
    )
    assert not policy.allows("tcp", 22)


def test_ufw_deny_under_default_allow_is_listed() -> None:
    policy = parse_ufw_status(
        "Status: active\n"
        "Default: allow (incoming), allow (outgoing), disabled (routed)\n\n"
        "To                         Action      From\n"
        "--                         ------      ----\n"
        "23/tcp                     DENY IN     Anywhere\n"
    )
    assert policy.default_incoming is Verdict.ACCEPT
    assert policy.unmodelled == (
        "ufw status verbose line 6: drops tcp/23 from anywhere (the default accepts the rest; "
        "allowances cannot express an exception)",
    )


def test_ufw_without_default_line_says_what_is_missing() -> None:
    with pytest.raises(FirewallPolicyError) as raised:
        parse_ufw_status("Status: active\n\nTo   Action   From\n--   ------   ----\n")
    assert str(raised.value) == (
        "ufw status verbose: expected a line like 'Default: deny (incoming), allow (outgoing)' "
        "with deny, reject or allow for incoming, found no 'Default:' line; is this "
        "`ufw status` without `verbose`?"
    )


def test_ufw_unreadable_rule_row_names_its_line() -> None:
    with pytest.raises(FirewallPolicyError) as raised:
        parse_ufw_status(
            "Status: active\nDefault: deny (incoming)\n\nTo  Action  From\n--  ------  ----\n"
            "22/tcp  PERMIT  Anywhere\n"
        )
    assert str(raised.value) == (
        "ufw status verbose line 6: expected 'TO  ALLOW|DENY|REJECT|LIMIT [IN|OUT|FWD]  FROM', "
        "found '22/tcp  PERMIT  Anywhere'"
    )


# --- malformed input --------------------------------------------------------------------------


def test_nft_output_that_is_not_json_is_refused() -> None:
    with pytest.raises(FirewallPolicyError) as raised:
        parse_nft_json("table inet filter {")
    assert str(raised.value) == (
        "nft -j list ruleset: expected JSON, found 'table inet filter {' "
        "(Expecting value at line 1 column 1)"
    )


def test_nft_json_without_nftables_key_is_refused() -> None:
    with pytest.raises(FirewallPolicyError) as raised:
        parse_nft_json('{"ruleset": []}')
    assert str(raised.value) == (
        "nft -j list ruleset: expected a JSON object with key 'nftables' holding a list, "
        "found '{\"ruleset\": []}'"
    )


def _chain(name: str, **base: Any) -> dict[str, Any]:
    return {"chain": {"family": "inet", "table": "t", "name": name, **base}}


def _jump(chain: str, target: str, handle: int) -> dict[str, Any]:
    rule = {"family": "inet", "table": "t", "chain": chain, "handle": handle}
    return {"rule": {**rule, "expr": [{"jump": {"target": target}}]}}


def test_nft_jump_loop_is_refused_with_its_path() -> None:
    listing = [
        _chain("input", type="filter", hook="input", prio=0, policy="drop"),
        _chain("a"),
        _chain("b"),
        _jump("input", "a", 1),
        _jump("a", "b", 2),
        _jump("b", "a", 3),
    ]
    with pytest.raises(FirewallPolicyError) as raised:
        parse_nft_json(json.dumps({"nftables": listing}))
    assert str(raised.value) == "inet t b handle 3: jump a: jump loop input -> a -> b -> a"


def test_nft_rule_using_an_undefined_set_is_refused() -> None:
    rule = {
        "family": "inet",
        "table": "t",
        "chain": "input",
        "handle": 4,
        "expr": [
            {
                "match": {
                    "op": "==",
                    "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                    "right": "@web",
                }
            },
            {"accept": None},
        ],
    }
    listing = [_chain("input", type="filter", hook="input", policy="drop"), {"rule": rule}]
    with pytest.raises(FirewallPolicyError) as raised:
        parse_nft_json(json.dumps({"nftables": listing}))
    assert str(raised.value) == (
        "nft -j list ruleset: inet t input handle 4: refers to set @web, "
        "which table inet t does not define"
    )


def test_iptables_save_cut_short_is_refused() -> None:
    with pytest.raises(FirewallPolicyError) as raised:
        parse_iptables_save("*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n")
    assert str(raised.value) == (
        "iptables-save line 1: the table that starts here has no COMMIT; output cut short?"
    )


# --- the model itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("allowance", "text"),
    [
        (Allowance("tcp", 22, 22), "tcp/22 from anywhere"),
        (Allowance("tcp", 8000, 8010, TEN), "tcp/8000-8010 from 10.0.0.0/8"),
        (Allowance("any", 0, 65535, TEN), "any/* from 10.0.0.0/8"),
    ],
)
def test_allowance_reads_as_protocol_ports_and_source(allowance: Allowance, text: str) -> None:
    assert str(allowance) == text


@pytest.mark.parametrize(
    ("protocol", "port", "source", "covered"),
    [
        ("tcp", 8005, ip_address("10.9.9.9"), True),
        ("tcp", 8005, ip_network("10.1.0.0/16"), True),
        ("tcp", 8005, ip_network("0.0.0.0/0"), False),
        ("tcp", 8005, None, False),
        ("tcp", 8011, ip_address("10.9.9.9"), False),
        ("udp", 8005, ip_address("10.9.9.9"), False),
        ("tcp", 8005, ip_address("::ffff:a09:909"), False),
    ],
)
def test_allowance_covers_only_its_protocol_ports_and_sources(
    protocol: str, port: int, source: Any, covered: bool
) -> None:
    assert Allowance("tcp", 8000, 8010, TEN).covers(protocol, port, source) is covered


def test_allowance_refuses_a_port_range_outside_0_to_65535() -> None:
    with pytest.raises(ValueError, match=r"ports 10-65536 are not a range in 0-65535"):
        Allowance("tcp", 10, 65536)


def test_every_kind_has_a_parser_and_a_command() -> None:
    assert set(PARSERS) == set(COMMANDS) == {"nftables", "iptables", "ufw"}
    assert COMMANDS["nftables"] == "nft -j list ruleset"
