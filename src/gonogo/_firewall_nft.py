"""`nft -j list ruleset` read into the firewall model: each filter chain on the input hook.

Only families ip, ip6 and inet see packets addressed to the host. Rules become `Rule`s for
the walk in gonogo._firewall_walk. Both that and gonogo.firewall are used as modules, at call
time: gonogo.firewall imports this one to offer `parse`.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from gonogo import _firewall_walk, firewall
from gonogo.errors import FirewallPolicyError

_WHAT = "nft -j list ruleset"
_FAMILIES = frozenset({"ip", "ip6", "inet"})
_IGNORED = frozenset({"counter", "log"})  # statements that never decide who gets in
_VERDICTS = frozenset({"accept", "drop", "reject", "jump", "goto", "return"})
_OTHER_VERDICTS = frozenset({"vmap", "queue"})  # decide, but in ways the walk cannot follow
_PROTOCOL_NUMBERS = {6: "tcp", 17: "udp"}
# Matches that confine a rule of an inet table to one address family, as a source network.
_FAMILY_OF = {("ip", "protocol"): "0.0.0.0/0", ("ip6", "nexthdr"): "::/0"}
_NFPROTO = {"ipv4": "0.0.0.0/0", "ipv6": "::/0"}

_SetKey = tuple[str, str, str]  # family, table, set name


@dataclass
class _Ruleset:
    """The objects of one listing that matter here, by table."""

    sets: dict[_SetKey, list[Any]] = field(default_factory=dict)
    rules: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    bases: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Reading:
    """What one rule's expressions said, gathered before they become allowances."""

    protocols: set[str] | None = None
    port_protocol: str | None = None  # tcp or udp from `tcp dport`; "any" from `th dport`
    ports: list[tuple[int, int]] | None = None
    sources: list[firewall.Network] | None = None
    family: str | None = None  # a network that every source must be in ("0.0.0.0/0": IPv4)
    unknown: list[str] = field(default_factory=list)
    never: bool = False  # the rule cannot match a new connection from another host
    verdict: str | None = None
    target: str = ""


def parse(text: str) -> firewall.FirewallPolicy:
    """The policy in `nft -j list ruleset` output (see gonogo.firewall.parse_nft_json)."""
    ruleset = _read(_objects(text))
    chains = []
    for base in ruleset.bases:
        family, table = base["family"], base["table"]
        rules = {
            name: [rule for body in bodies if (rule := _rule(body, ruleset.sets)) is not None]
            for name, bodies in ruleset.rules[(family, table)].items()
        }
        policy = firewall.Verdict.DROP if base.get("policy") == "drop" else firewall.Verdict.ACCEPT
        priority = base.get("prio", 0)
        priority = priority if isinstance(priority, int) else 0
        chains.append(
            _firewall_walk.walk_chain(rules, base["name"], policy, family=family, priority=priority)
        )
    return _firewall_walk.combine("nftables", chains, whole_ruleset=True)


def _objects(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The listing's objects as (kind, body) pairs, or an error naming what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FirewallPolicyError(
            f"{_WHAT}: expected JSON, found {_excerpt(text)} "
            f"({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    if not isinstance(document, dict) or not isinstance(document.get("nftables"), list):
        raise FirewallPolicyError(
            f"{_WHAT}: expected a JSON object with key 'nftables' holding a list, "
            f"found {_excerpt(document)}"
        )
    objects = []
    for index, item in enumerate(document["nftables"]):
        if not isinstance(item, dict) or len(item) != 1:
            raise FirewallPolicyError(
                f"{_WHAT}: nftables[{index}]: expected an object with one key "
                f"(table, chain, rule, set...), found {_excerpt(item)}"
            )
        ((kind, body),) = item.items()
        if kind in ("set", "chain", "rule") and not _named(body):
            raise FirewallPolicyError(
                f"{_WHAT}: nftables[{index}]: expected a {kind} with family, table and "
                f"{'chain' if kind == 'rule' else 'name'}, found {_excerpt(body)}"
            )
        objects.append((kind, body))
    return objects


def _named(body: Any) -> bool:
    keys = (
        ("family", "table", "chain" if "expr" in body else "name") if isinstance(body, dict) else ()
    )
    return bool(keys) and all(isinstance(body.get(key), str) for key in keys)


def _read(objects: Iterable[tuple[str, dict[str, Any]]]) -> _Ruleset:
    """Sets, rules by chain, and the base chains that filter what arrives for the host."""
    ruleset = _Ruleset()
    for kind, body in objects:
        table = (body.get("family", ""), body.get("table", ""))
        if kind == "set":
            elements = body.get("elem", [])  # absent when the set is empty
            elements = elements if isinstance(elements, list) else [elements]
            ruleset.sets[(*table, body["name"])] = elements
        elif kind == "chain":
            ruleset.rules.setdefault(table, {}).setdefault(body["name"], [])
            hook = (body.get("hook"), body.get("type"), table[0])
            if hook[:2] == ("input", "filter") and hook[2] in _FAMILIES:
                ruleset.bases.append(body)
        elif kind == "rule":
            if not isinstance(body.get("expr"), list):
                raise FirewallPolicyError(
                    f"{_WHAT}: {_where(body)}: expected a list of expressions under 'expr', "
                    f"found {_excerpt(body.get('expr'))}"
                )
            ruleset.rules.setdefault(table, {}).setdefault(body["chain"], []).append(body)
    return ruleset


def _rule(body: dict[str, Any], sets: Mapping[_SetKey, list[Any]]) -> _firewall_walk.Rule | None:
    """One rule for the walk, or None when it cannot match a new incoming connection."""
    where = _where(body)
    reading = _Reading()
    for expression in body["expr"]:
        if not isinstance(expression, dict) or len(expression) != 1:
            raise FirewallPolicyError(
                f"{_WHAT}: {where}: expected an expression with one key, "
                f"found {_excerpt(expression)}"
            )
        ((key, value),) = expression.items()
        _read_expression(key, value, reading, _Sets(sets, body, where))
    matches = _matches(reading)
    if reading.never or not matches:
        return None
    text = " ".join(_statement_text(expression) for expression in body["expr"])
    unknown = tuple(dict.fromkeys(reading.unknown))
    return _firewall_walk.Rule(where, text, reading.verdict, reading.target, matches, unknown)


@dataclass(frozen=True)
class _Sets:
    """Named-set lookup for one rule: sets belong to the rule's table."""

    sets: Mapping[_SetKey, list[Any]]
    body: dict[str, Any]
    where: str

    def elements(self, reference: str) -> list[Any]:
        key = (self.body["family"], self.body["table"], reference[1:])
        if key not in self.sets:
            raise FirewallPolicyError(
                f"{_WHAT}: {self.where}: refers to set {reference}, which table "
                f"{key[0]} {key[1]} does not define"
            )
        return self.sets[key]


def _read_expression(key: str, value: Any, reading: _Reading, sets: _Sets) -> None:
    if key == "match" and isinstance(value, dict):
        _read_match(value.get("left"), value.get("op"), value.get("right"), reading, sets)
    elif key in _VERDICTS:
        reading.verdict = key
        reading.target = str(value.get("target", "")) if isinstance(value, dict) else ""
    elif key in _OTHER_VERDICTS:
        reading.verdict = "other"
        reading.unknown.append("verdict map" if key == "vmap" else key)
    elif key == "xt" and isinstance(value, dict):
        # iptables-nft compatibility: the kernel runs an xtables extension nft cannot show.
        if (value.get("type"), value.get("name")) == ("target", "REJECT"):
            reading.verdict = "reject"
        else:
            reading.unknown.append(f"xt {value.get('type')} {value.get('name')} (iptables-nft)")
    elif key not in _IGNORED and key != "continue":
        reading.unknown.append(key)  # limit, quota, meter, mark setting...: not modelled


def _read_match(left: Any, op: Any, right: Any, reading: _Reading, sets: _Sets) -> None:
    """Fold one `match` into the reading: what it keeps, or that it cannot be modelled."""
    kind = _left_kind(left)
    positive = op in ("==", "in")
    if kind == ("ct", "state"):
        if ("new" in _words(right)) != positive:
            reading.never = True  # established, related, invalid: not a new connection
        return
    if kind in (("meta", "iifname"), ("meta", "iif")) and _words(right) == {"lo"}:
        reading.never = reading.never or positive  # loopback is the host talking to itself
        return  # and `iifname != "lo"` holds for every connection from another host
    if positive and _read_positive(kind, right, reading, sets):
        return
    shown = _value_text(left)
    reading.unknown.append(shown if positive else f"{shown} {op} {_value_text(right)}")


def _read_positive(
    kind: tuple[str, str] | None, right: Any, reading: _Reading, sets: _Sets
) -> bool:
    """Fold a match this model understands; False when it is not one of those."""
    if kind in (("meta", "l4proto"), ("ip", "protocol"), ("ip6", "nexthdr")):
        names = _protocol_names(right)
        if names is None:
            return False
        reading.protocols = names if reading.protocols is None else reading.protocols & names
        reading.family = _FAMILY_OF.get(kind, reading.family)
        return True
    if kind == ("meta", "nfproto") and isinstance(right, str) and right in _NFPROTO:
        reading.family = _NFPROTO[right]
        return True
    if kind is not None and kind[1] == "dport" and kind[0] in ("tcp", "udp", "th"):
        ports = _port_ranges(right, sets)
        if ports is None or reading.ports is not None:
            return False
        reading.port_protocol, reading.ports = ("any" if kind[0] == "th" else kind[0]), ports
        return True
    if kind in (("ip", "saddr"), ("ip6", "saddr")):
        networks = _networks(right, sets)
        if networks is None or reading.sources is not None:
            return False
        reading.sources = networks
        return True
    return False


def _left_kind(left: Any) -> tuple[str, str] | None:
    """(protocol, field) of a payload, ("meta", key), ("ct", key); None for anything else."""
    if isinstance(left, dict) and len(left) == 1:
        ((kind, body),) = left.items()
        if kind == "payload" and isinstance(body, dict):
            return (str(body.get("protocol")), str(body.get("field")))
        if kind in ("meta", "ct") and isinstance(body, dict):
            return (kind, str(body.get("key")))
    return None


def _matches(reading: _Reading) -> tuple[firewall.Allowance, ...]:
    """Every (protocol, port range, source) the rule's matches allow together."""
    protocols = reading.protocols
    if reading.port_protocol in ("tcp", "udp"):
        implied = {reading.port_protocol}
        protocols = implied if protocols is None else protocols & implied
    protocols = {"any"} if protocols is None else protocols
    odd = sorted(protocols - {"tcp", "udp", "any"})
    if odd:
        reading.unknown.append(f"protocol {', '.join(odd)}")
        protocols = (protocols - set(odd)) or {"any"}
    sources: list[firewall.Network | None] = [None]
    if reading.sources is not None or reading.family is not None:
        sources = [*_in_family(reading.sources, reading.family)]
    ports = reading.ports if reading.ports is not None else [(0, 65535)]
    return tuple(
        firewall.Allowance(protocol, first, last, source)
        for protocol, (first, last), source in product(sorted(protocols), ports, sources)
    )


def _in_family(
    sources: list[firewall.Network] | None, family: str | None
) -> list[firewall.Network]:
    if family is None:
        return sources or []
    everything = ipaddress.ip_network(family)
    if sources is None:
        return [everything]
    return [source for source in sources if source.version == everything.version]


def _port_ranges(value: Any, sets: _Sets) -> list[tuple[int, int]] | None:
    """Port ranges from a number, range, anonymous or named set; None for anything else."""
    if isinstance(value, str) and value.startswith("@"):
        return _port_ranges(sets.elements(value), sets)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:
        return [(value, value)]
    if isinstance(value, dict) and len(value) == 1:
        ((kind, body),) = value.items()
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            first, last = (_port_ranges(end, sets) for end in body)
            if first and last and first[0][0] <= last[0][0]:
                return [(first[0][0], last[0][0])]
            return None
        if kind == "set":
            return _port_ranges(body, sets)
        if kind == "elem" and isinstance(body, dict):  # an element with a counter or comment
            return _port_ranges(body.get("val"), sets)
        return None
    if isinstance(value, list):
        parts = [_port_ranges(item, sets) for item in value]
        return None if None in parts else [r for part in parts if part for r in part]
    return None


def _networks(value: Any, sets: _Sets) -> list[firewall.Network] | None:
    """Source networks from an address, prefix, range or set; None for anything else."""
    try:
        if isinstance(value, str):
            if value.startswith("@"):
                return _networks(sets.elements(value), sets)
            return [ipaddress.ip_network(value)]
        if isinstance(value, list):
            parts = [_networks(item, sets) for item in value]
            return None if None in parts else [n for part in parts if part for n in part]
        if not isinstance(value, dict) or len(value) != 1:
            return None
        ((kind, body),) = value.items()
        if kind == "prefix" and isinstance(body, dict):
            return [ipaddress.ip_network(f"{body.get('addr')}/{body.get('len')}", strict=False)]
        if kind == "range" and isinstance(body, list) and len(body) == 2:
            first, last = (ipaddress.ip_address(end) for end in body)
            return list(ipaddress.summarize_address_range(first, last))
        if kind == "set":
            return _networks(body, sets)
        if kind == "elem" and isinstance(body, dict):
            return _networks(body.get("val"), sets)
    except (TypeError, ValueError):
        return None
    return None


def _protocol_names(value: Any) -> set[str] | None:
    if isinstance(value, str):
        return {value}
    if isinstance(value, int) and not isinstance(value, bool):
        return {_PROTOCOL_NUMBERS.get(value, str(value))}
    if isinstance(value, dict) and isinstance(value.get("set"), list):
        value = value["set"]
    if isinstance(value, list):
        names = [_protocol_names(item) for item in value]
        return None if None in names else {n for part in names if part for n in part}
    return None


def _words(value: Any) -> set[str]:
    """The names in a match's right side: `ct state` and interface names."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict) and isinstance(value.get("set"), list):
        value = value["set"]
    return {item for item in value if isinstance(item, str)} if isinstance(value, list) else set()


# --- readable text, for `unmodelled` and error messages ---------------------------------------


def _where(body: dict[str, Any]) -> str:
    return f"{body['family']} {body['table']} {body['chain']} handle {body.get('handle', '?')}"


def _statement_text(expression: Any) -> str:
    """One expression roughly as `nft list ruleset` writes it."""
    if not isinstance(expression, dict) or len(expression) != 1:
        return json.dumps(expression)
    ((key, value),) = expression.items()
    if key == "match" and isinstance(value, dict):
        op = value.get("op")
        shown = "" if op in ("==", "in") else f" {op}"
        return f"{_value_text(value.get('left'))}{shown} {_value_text(value.get('right'))}"
    if key in ("jump", "goto") and isinstance(value, dict):
        return f"{key} {value.get('target')}"
    if key == "limit" and isinstance(value, dict):
        return f"limit rate {value.get('rate')}/{value.get('per')}"
    if key == "xt" and isinstance(value, dict):
        return f"xt {value.get('type')} {value.get('name')}"
    if key == "vmap" and isinstance(value, dict) and isinstance(value.get("data"), dict):
        pairs = [p for p in value["data"].get("set", []) if isinstance(p, list) and len(p) == 2]
        entries = ", ".join(f"{_value_text(k)} : {_statement_text(v)}" for k, v in pairs)
        return f"{_value_text(value.get('key'))} vmap {{ {entries} }}"
    if key in _VERDICTS or key in _IGNORED or key == "continue":
        return str(key)
    return json.dumps(expression)


def _value_text(value: Any) -> str:
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, list):
        return ",".join(_value_text(item) for item in value)
    if isinstance(value, dict) and len(value) == 1:
        ((kind, body),) = value.items()
        if kind == "payload" and isinstance(body, dict):
            return f"{body.get('protocol')} {body.get('field')}"
        if kind in ("meta", "ct") and isinstance(body, dict):
            key = body.get("key")
            return str(key) if key in ("iifname", "oifname", "iif", "oif") else f"{kind} {key}"
        if kind == "set" and isinstance(body, list):
            return "{ " + ", ".join(_value_text(item) for item in body) + " }"
        if kind == "range" and isinstance(body, list):
            return "-".join(_value_text(item) for item in body)
        if kind == "prefix" and isinstance(body, dict):
            return f"{body.get('addr')}/{body.get('len')}"
        if kind in ("&", "|", "^") and isinstance(body, list):
            return f" {kind} ".join(_value_text(item) for item in body)
    return json.dumps(value)


def _excerpt(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if not text.strip():
        return "empty output"
    return repr(text[:60] + "..." if len(text) > 60 else text)
