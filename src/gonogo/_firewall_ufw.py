"""`ufw status verbose` read into the firewall model: the incoming default and the rule table.

ufw tries its rules in the order listed, IPv4 ones and IPv6 ones in separate chains, so each
family is walked on its own by gonogo._firewall_walk. Both that and gonogo.firewall are used
as modules, at call time: gonogo.firewall imports this one.
"""

from __future__ import annotations

import ipaddress
import re

from gonogo import _firewall_walk, firewall
from gonogo.errors import FirewallPolicyError

_WHAT = "ufw status verbose"
_DEFAULTS = {"deny": "drop", "reject": "reject", "allow": "accept"}
_VERDICTS = {"ALLOW": "accept", "LIMIT": "accept", "DENY": "drop", "REJECT": "reject"}
_STATUS = re.compile(r"^Status:\s*(\S+)", re.MULTILINE)
_DEFAULT = re.compile(r"^Default:(.*)$", re.MULTILINE)
_INCOMING = re.compile(r"(\w+) \(incoming\)")
_HEADER = re.compile(r"^\s*To\s+Action\s+From\s*$")
_ROW = re.compile(
    r"^(?:\[\s*\d+\]\s*)?(?P<to>.+?)\s+(?P<action>ALLOW|DENY|REJECT|LIMIT)"
    r"(?:\s+(?P<direction>IN|OUT|FWD))?\s+(?P<source>.+?)$"
)
_PORTS = re.compile(r"^(?P<ports>\d+(?::\d+)?(?:,\d+(?::\d+)?)*)(?:/(?P<protocol>tcp|udp))?$")
_DECORATIONS = re.compile(r"\s+#.*$|\s*\(log(?:-all)?\)")  # a comment, the logging mark
_PROFILES = "application profile: its ports are in /etc/ufw/applications.d"


def parse(text: str) -> firewall.FirewallPolicy:
    """The policy in `ufw status verbose` output (see gonogo.firewall.parse_ufw_status)."""
    status = _STATUS.search(text)
    if status is None:
        raise FirewallPolicyError(
            f"{_WHAT}: expected a line 'Status: active' or 'Status: inactive', "
            f"found {_excerpt(text)}"
        )
    if status.group(1) == "inactive":
        return firewall.FirewallPolicy(
            "ufw", active=False, default_incoming=firewall.Verdict.ACCEPT
        )
    default = _default_incoming(text)
    rules: dict[str, list[_firewall_walk.Rule]] = {"ip": [], "ip6": []}
    for number, line in _rule_lines(text):
        family, rule = _rule(number, line)
        if rule is not None:
            rules[family].append(rule)
    chains = [
        _firewall_walk.walk_chain({"rules": family_rules}, "rules", default, family=family)
        for family, family_rules in rules.items()
    ]
    return _firewall_walk.combine("ufw", chains, whole_ruleset=False)


def _default_incoming(text: str) -> firewall.Verdict:
    found = _DEFAULT.search(text)
    incoming = _INCOMING.search(found.group(1)) if found else None
    if incoming is None or incoming.group(1) not in _DEFAULTS:
        shown = repr(found.group(0).strip()) if found else "no 'Default:' line"
        raise FirewallPolicyError(
            f"{_WHAT}: expected a line like 'Default: deny (incoming), allow (outgoing)' "
            f"with deny, reject or allow for incoming, found {shown}; is this `ufw status` "
            f"without `verbose`?"
        )
    return firewall.Verdict(_DEFAULTS[incoming.group(1)])


def _rule_lines(text: str) -> list[tuple[int, str]]:
    """The rows of the rule table (after its header and dashes), with their line numbers."""
    lines = text.splitlines()
    header = next((n for n, line in enumerate(lines) if _HEADER.match(line)), None)
    if header is None:
        return []  # ufw prints no table when there are no rules
    start = header + 1
    if start < len(lines) and set(lines[start].split()) <= {"--", "------", "----"}:
        start += 1
    return [(n + 1, lines[n]) for n in range(start, len(lines)) if lines[n].strip()]


def _rule(number: int, line: str) -> tuple[str, _firewall_walk.Rule | None]:
    """The address family of one row and the rule it is; None for an outgoing or routed rule."""
    where = f"{_WHAT} line {number}"
    row = _ROW.match(_DECORATIONS.sub("", line).strip())
    if row is None:
        raise FirewallPolicyError(
            f"{where}: expected 'TO  ALLOW|DENY|REJECT|LIMIT [IN|OUT|FWD]  FROM', found {line!r}"
        )
    to, source = row.group("to"), row.group("source")
    addresses = [_network(word) for word in f"{to} {source}".split()]
    v6 = "(v6)" in line or any(a is not None and a.version == 6 for a in addresses)
    family = "ip6" if v6 else "ip"
    if row.group("direction") in ("OUT", "FWD"):
        return family, None  # leaves the host, or passes through it: not an incoming connection
    unknown: list[str] = []
    protocols, ports = _destination(to, unknown)
    sources = _sources(source, unknown)
    matches = tuple(
        firewall.Allowance(protocol, first, last, origin)
        for protocol in protocols
        for first, last in ports
        for origin in sources
    )
    verdict = _VERDICTS[row.group("action")]
    text = " ".join(line.split())
    return family, _firewall_walk.Rule(where, text, verdict, "", matches, tuple(unknown))


def _destination(to: str, unknown: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """Protocols and port ranges of the To column; what cannot be read goes to `unknown`."""
    to, on, interface = to.replace("(v6)", "").strip().partition(" on ")
    if on:
        unknown.append(f"interface {interface.strip()}")
    words = to.split()
    if words[:1] == ["Anywhere"]:
        words = words[1:]
    elif words and _network(words[0]) is not None:
        unknown.append(f"destination {words[0]}")  # one of the host's addresses, not all
        words = words[1:]
    if not words:
        return ["any"], [(0, 65535)]
    found = _PORTS.match(words[0]) if len(words) == 1 else None
    if found is None:
        unknown.append(_PROFILES)
        return ["any"], [(0, 65535)]
    ranges = []
    for part in found.group("ports").split(","):
        first, _, last = part.partition(":")
        ranges.append((int(first), int(last or first)))
    if not all(0 <= first <= last <= 65535 for first, last in ranges):
        unknown.append(f"ports {found.group('ports')}")
        return ["any"], [(0, 65535)]
    return [found.group("protocol") or "any"], ranges


def _sources(source: str, unknown: list[str]) -> list[firewall.Network | None]:
    """The From column: Anywhere, an address or a network; a port or app is not modelled."""
    words = source.replace("(v6)", "").split()
    network = _network(words[0]) if words else None
    if words[:1] != ["Anywhere"] and network is None:
        unknown.append(f"source {source}")
        return [None]
    if len(words) > 1:
        unknown.append(f"source {' '.join(words[1:])}")
    return [network]


def _network(word: str) -> firewall.Network | None:
    try:
        return ipaddress.ip_network(word, strict=False)
    except ValueError:
        return None


def _excerpt(text: str) -> str:
    if not text.strip():
        return "empty output"
    first = text.strip().splitlines()[0]
    return repr(first[:60] + "..." if len(first) > 60 else first)
