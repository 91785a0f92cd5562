"""The rule walk shared by the firewall parsers, and the arithmetic on allowances it needs.

Each parser turns its tool's rules into `Rule`s; `walk_chain` walks one base chain in order
(first verdict wins, jumps followed) and `combine` makes one FirewallPolicy of every base chain,
so nftables, iptables and ufw agree on what ordering means.

gonogo.firewall defines the model first and imports the parsers last, so this module can take
the model by name whichever of them is imported first; the parsers use it as a module, at call
time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from gonogo.errors import FirewallPolicyError
from gonogo.firewall import Allowance, FirewallPolicy, Verdict, _within

_MAX_DEPTH = 16  # as the kernel's nf_tables jump stack: a deeper ruleset does not load
_FAMILY_NAMES = {"ip": "IPv4", "ip6": "IPv6"}
_EVERYTHING = Allowance("any", 0, 65535)


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as a parser read it, in the terms the walk understands.

    `verdict` is accept, drop, reject, jump, goto or return; "other" for one the walk cannot
    follow (a verdict map, a queue); None when the rule only logs or counts. `matches` are the
    connections it applies to; `unknown` names its conditions that the model cannot follow.
    """

    where: str
    text: str
    verdict: str | None
    target: str = ""
    matches: tuple[Allowance, ...] = (_EVERYTHING,)
    unknown: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Block:
    """Connections an earlier drop or reject took: a later accept cannot let them in."""

    matches: Allowance
    verdict: str
    where: str


@dataclass
class _Chain:
    """What one base chain does with new incoming connections of its address family."""

    family: str  # "ip", "ip6" or "inet" (both)
    priority: int
    default: Verdict
    allowed: list[Allowance] = field(default_factory=list)
    blocks: list[_Block] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class _Walk:
    """Rules in order, first verdict wins; a jump is followed with the conditions that led to it."""

    def __init__(self, chains: Mapping[str, Sequence[Rule]], family: str, priority: int) -> None:
        self._chains = chains
        self.result = _Chain(family, priority, Verdict.ACCEPT)
        self.final: Verdict | None = None  # an unconditional verdict: nothing after it counts

    def run(
        self, chain: str, scope: tuple[Allowance, ...], path: tuple[str, ...], origin: str
    ) -> None:
        """Walk `chain` for the connections in `scope` until a verdict or its end returns."""
        rules = self._enter(chain, path, origin)
        path = (*path, chain)
        for index, rule in enumerate(rules):
            if self.final is not None:
                return
            matches = _narrow(rule.matches, scope)
            if not matches or rule.verdict is None:
                continue
            if rule.unknown or rule.verdict == "other":
                self._note_unknown(rule)
                if rule.verdict == "return":
                    self._note_not_followed(rules[index + 1 :], rule)
                    return
                continue
            whole = rule.matches == (_EVERYTHING,)
            if rule.verdict in ("jump", "goto"):
                self.run(rule.target, matches, path, f"{rule.where}: {rule.text}")
            if rule.verdict in ("goto", "return"):
                # What went to a goto's chain, or returned, sees no more of this one.
                narrowed = _narrow_out(scope, matches)
                if narrowed is None:
                    self._note_not_followed(rules[index + 1 :], rule)
                if not narrowed:
                    return
                scope = narrowed
            elif rule.verdict != "jump" and (
                self._decide(rule, matches, whole and scope == (_EVERYTHING,)) or whole
            ):
                return

    def _enter(self, chain: str, path: tuple[str, ...], origin: str) -> Sequence[Rule]:
        if chain in path:
            raise FirewallPolicyError(f"{origin}: jump loop {' -> '.join((*path, chain))}")
        if len(path) >= _MAX_DEPTH:
            raise FirewallPolicyError(
                f"{origin}: jumps nest deeper than {_MAX_DEPTH} chains ({' -> '.join(path)})"
            )
        rules = self._chains.get(chain)
        if rules is None:
            raise FirewallPolicyError(f"{origin}: jumps to chain {chain!r}, which is not defined")
        return rules

    def _decide(self, rule: Rule, matches: tuple[Allowance, ...], final: bool) -> bool:
        """Record an accept, drop or reject; True when it ends the whole walk."""
        result = self.result
        if rule.verdict == "accept":
            for allowance in matches:
                result.allowed += _subtract(allowance, result.blocks, result.notes)
        else:
            result.blocks += [_Block(m, str(rule.verdict), rule.where) for m in matches]
        if final:
            self.final = Verdict(str(rule.verdict))
        return final

    def _note_unknown(self, rule: Rule) -> None:
        conditions = f"{', '.join(rule.unknown)} not modelled" if rule.unknown else "not modelled"
        if rule.verdict == "accept":
            why = f"not counted as allowed: {conditions}"
        elif rule.verdict in ("drop", "reject"):
            why = f"may {rule.verdict} connections counted as allowed: {conditions}"
        elif rule.verdict in ("jump", "goto"):
            if not any(r.verdict for r in self._chains.get(rule.target, ())):
                return  # the chain only logs or counts: not following it changes nothing
            why = f"chain {rule.target} not followed: {conditions}"
        else:
            why = f"verdict not followed: {conditions}"
        self.result.notes.append(f"{rule.where}: {rule.text} ({why})")

    def _note_not_followed(self, rules: Sequence[Rule], after: Rule) -> None:
        for rule in rules:
            if rule.verdict is not None:
                why = f"after the conditional {after.verdict} at {after.where}; not followed"
                self.result.notes.append(f"{rule.where}: {rule.text} ({why})")


def walk_chain(
    chains: Mapping[str, Sequence[Rule]],
    base: str,
    policy: Verdict,
    *,
    family: str,
    priority: int = 0,
) -> _Chain:
    """What base chain `base` (with `policy`) lets in; its jumps go to other `chains`."""
    walk = _Walk(chains, family, priority)
    walk.run(base, (_EVERYTHING,), (), base)
    walk.result.default = walk.final or policy
    return walk.result


def combine(source: str, chains: Sequence[_Chain], *, whole_ruleset: bool) -> FirewallPolicy:
    """One policy from every base chain: a connection must get past each chain that sees it.

    `whole_ruleset`: the chains are all there is, so an address family none of them sees is
    unfiltered (nftables); otherwise such a family is merely not in the output (iptables-save).
    """
    if not chains:
        return FirewallPolicy(source, active=False, default_incoming=Verdict.ACCEPT)
    notes = [note for chain in chains for note in chain.notes]
    strict = sorted(
        (c for c in chains if c.default is not Verdict.ACCEPT), key=lambda c: c.priority
    )
    allowed: list[Allowance] = []
    for family, name in _FAMILY_NAMES.items():
        seeing = [chain for chain in chains if chain.family in (family, "inet")]
        if seeing or whole_ruleset:
            allowed += _family_allowed(name, seeing, notes, open_note=bool(strict))
    default = strict[0].default if strict else Verdict.ACCEPT
    return FirewallPolicy(source, True, default, tuple(allowed), tuple(notes))


def _family_allowed(
    name: str, chains: Sequence[_Chain], notes: list[str], *, open_note: bool
) -> list[Allowance]:
    """What gets past all `chains` for one address family (`name`: IPv4 or IPv6)."""
    strict = [chain for chain in chains if chain.default is not Verdict.ACCEPT]
    lenient = [chain for chain in chains if chain.default is Verdict.ACCEPT]
    blocks = [block for chain in lenient for block in chain.blocks]
    if not strict:
        for block in blocks:
            notes.append(
                f"{block.where}: {block.verdict}s {block.matches} (the default accepts the "
                f"rest; allowances cannot express an exception)"
            )
        if open_note:
            notes.append(
                f"{name}: no input chain drops what it does not accept, so every {name} "
                f"connection gets in; default_incoming describes the other address family"
            )
        return [allowance for chain in chains for allowance in chain.allowed]
    version = 4 if name == "IPv4" else 6
    allowed = [a for a in strict[0].allowed if a.source is None or a.source.version == version]
    for chain in strict[1:]:
        allowed = [both for a in allowed for b in chain.allowed if (both := _intersection(a, b))]
    return [piece for a in allowed for piece in _subtract(a, blocks, notes)]


# --- set arithmetic on allowances -------------------------------------------------------------


def _intersection(a: Allowance, b: Allowance) -> Allowance | None:
    """The connections both allow, if any: address blocks either nest or do not meet."""
    if "any" not in (a.protocol, b.protocol) and a.protocol != b.protocol:
        return None
    first, last = max(a.first_port, b.first_port), min(a.last_port, b.last_port)
    if first > last:
        return None
    if _within(a.source, b.source):
        source = a.source
    elif _within(b.source, a.source):
        source = b.source
    else:
        return None
    protocol = b.protocol if a.protocol == "any" else a.protocol
    return Allowance(protocol, first, last, source)


def _narrow(matches: Iterable[Allowance], scope: Iterable[Allowance]) -> tuple[Allowance, ...]:
    """The part of `matches` inside `scope` (the conditions of the jumps that led here)."""
    return tuple(both for m in matches for s in scope if (both := _intersection(m, s)))


def _without(a: Allowance, b: Allowance) -> tuple[Allowance, ...] | None:
    """`a` minus `b`, or None when the rest is not a few allowances (all but one source...)."""
    if _intersection(a, b) is None:
        return (a,)
    if b.protocol not in ("any", a.protocol) or not _within(a.source, b.source):
        return None
    pieces = []
    if a.first_port < b.first_port:
        pieces.append(replace(a, last_port=b.first_port - 1))
    if b.last_port < a.last_port:
        pieces.append(replace(a, first_port=b.last_port + 1))
    return tuple(pieces)


def _narrow_out(
    scope: tuple[Allowance, ...], leaving: tuple[Allowance, ...]
) -> tuple[Allowance, ...] | None:
    """`scope` once the connections `leaving` have returned; None when it cannot be said."""
    for gone in leaving:
        rest: list[Allowance] = []
        for part in scope:
            pieces = _without(part, gone)
            if pieces is None:
                return None
            rest += pieces
        scope = tuple(rest)
    return scope


def _subtract(allowance: Allowance, blocks: Sequence[_Block], notes: list[str]) -> list[Allowance]:
    """What is left of an accept after the drops and rejects before it; notes what cannot be."""
    pieces = [allowance]
    for block in blocks:
        kept: list[Allowance] = []
        for piece in pieces:
            rest = _without(piece, block.matches)
            if rest is None:
                notes.append(
                    f"{block.where}: {block.verdict}s {block.matches}, part of the later "
                    f"{piece}; counted as allowed in full"
                )
                rest = (piece,)
            kept += rest
        pieces = kept
    return pieces
