"""A host's firewall as one model: which new incoming connections its policy lets in.

Three parsers read what the host's own tools print (`nft -j list ruleset`, `iptables-save`,
`ufw status verbose`) into the same FirewallPolicy, so a check asks one question of any of
them. Pure and judgement-free: nothing runs here, nothing is declared good or bad, and what a
parser cannot follow is kept, readable, in `unmodelled` instead of being guessed at.

The parsers turn each rule into a `Rule` that gonogo._firewall_walk walks in order (first
verdict wins, jumps followed), so nftables and iptables agree on what ordering means.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "COMMANDS",
    "PARSERS",
    "Allowance",
    "FirewallPolicy",
    "Verdict",
    "parse_iptables_save",
    "parse_nft_json",
    "parse_ufw_status",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_PROTOCOLS = ("tcp", "udp", "any")


class Verdict(enum.StrEnum):
    """What the policy does with a new incoming connection."""

    ACCEPT = "accept"
    DROP = "drop"  # silently: the client waits for its timeout
    REJECT = "reject"  # answered: the client is refused at once


@dataclass(frozen=True, slots=True, order=True)
class Allowance:
    """One kind of new incoming connection the policy lets in.

    `protocol` is "tcp", "udp" or "any" (the rule names none); a rule without a port match
    spans 0-65535. `source` None means from anywhere.
    """

    protocol: str
    first_port: int
    last_port: int
    source: Network | None = None

    def __post_init__(self) -> None:
        if self.protocol not in _PROTOCOLS:
            raise ValueError(
                f"protocol must be one of {', '.join(_PROTOCOLS)}, got {self.protocol!r}"
            )
        if not 0 <= self.first_port <= self.last_port <= 65535:
            raise ValueError(f"ports {self.first_port}-{self.last_port} are not a range in 0-65535")

    def __str__(self) -> str:
        if (self.first_port, self.last_port) == (0, 65535):
            ports = "*"
        elif self.first_port == self.last_port:
            ports = str(self.first_port)
        else:
            ports = f"{self.first_port}-{self.last_port}"
        origin = "anywhere" if self.source is None else str(self.source)
        return f"{self.protocol}/{ports} from {origin}"

    def covers(self, protocol: str, port: int, source: Address | Network | None = None) -> bool:
        """Whether this lets in `protocol` to `port` from `source`; None asks for every source."""
        if self.protocol not in ("any", protocol):
            return False
        return self.first_port <= port <= self.last_port and _within(source, self.source)


@dataclass(frozen=True)
class FirewallPolicy:
    """What one tool's output says about new incoming connections.

    `allowed` is sorted and free of duplicates whoever builds the policy. `unmodelled` holds
    rules (with where they were found) that may let in or keep out more than `allowed` says.
    """

    source: str
    active: bool
    default_incoming: Verdict
    allowed: tuple[Allowance, ...] = ()
    unmodelled: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The same allowance turns up once per chain and address family: keep one, in order.
        object.__setattr__(self, "allowed", tuple(sorted(set(self.allowed), key=_sort_key)))
        object.__setattr__(self, "unmodelled", tuple(dict.fromkeys(self.unmodelled)))

    def allows(self, protocol: str, port: int, source: Address | Network | None = None) -> bool:
        """Whether a new connection gets in: an allowance covers it or the default accepts it.

        `source` None asks whether every source gets in. With a default of accept this is
        always True: drops before it are listed in `unmodelled`, not modelled as exceptions.
        """
        if self.default_incoming is Verdict.ACCEPT:
            return True
        return any(allowance.covers(protocol, port, source) for allowance in self.allowed)


def parse_nft_json(text: str) -> FirewallPolicy:
    """The policy in `nft -j list ruleset` output: every filter chain on the input hook."""
    return _firewall_nft.parse(text)


def parse_iptables_save(text: str) -> FirewallPolicy:
    """The policy in `iptables-save` output, `ip6tables-save` output, or both concatenated."""
    return _firewall_iptables.parse(text)


def parse_ufw_status(text: str) -> FirewallPolicy:
    """The policy in `ufw status verbose` output: its incoming default and its rules."""
    return _firewall_ufw.parse(text)


PARSERS: Mapping[str, Callable[[str], FirewallPolicy]] = MappingProxyType(
    {"nftables": parse_nft_json, "iptables": parse_iptables_save, "ufw": parse_ufw_status}
)
COMMANDS: Mapping[str, str] = MappingProxyType(
    {"nftables": "nft -j list ruleset", "iptables": "iptables-save", "ufw": "ufw status verbose"}
)

# --- allowance arithmetic the model itself needs ----------------------------------------------


def _sort_key(allowance: Allowance) -> tuple[str, int, int, int, int, int]:
    """Allowances in order; order=True alone cannot compare an IPv4 source with an IPv6 one."""
    source = allowance.source
    where = (0, 0, 0) if source is None else (source.version, int(source[0]), source.prefixlen)
    return (allowance.protocol, allowance.first_port, allowance.last_port, *where)


def _within(inner: Address | Network | None, outer: Network | None) -> bool:
    """Whether every address of `inner` (None: every address at all) is in `outer` (None: too)."""
    if outer is None:
        return True
    if inner is None or inner.version != outer.version:
        return False
    if isinstance(inner, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return inner in outer
    return inner.subnet_of(outer)  # type: ignore[arg-type]  # same version, checked above


# Last: the parsers, and the walk they import, use the model above when they are imported.
from gonogo import _firewall_iptables, _firewall_nft, _firewall_ufw  # noqa: E402
