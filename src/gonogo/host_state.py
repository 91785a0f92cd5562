"""Host state judged: the facts a host gave (probes.hosts) against what its policy asks.

Pure functions, no I/O: each takes the policy and the facts for one aspect and returns the
problems, one sentence each, "<host>: <what> is <found>; expected <wanted>". No problems
means the aspect holds. Where the facts say a host could not tell, that is a problem too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from gonogo.environment_inside import HostPolicy, Listener

if TYPE_CHECKING:  # the facts are plain data; judging them needs no testinfra
    from gonogo.probes.hosts import (
        CommandFacts,
        FileFacts,
        ListenerFact,
        PackageFacts,
        ServiceFacts,
        TimeSyncFacts,
        UserFacts,
    )

__all__ = [
    "config_test_problems",
    "disk_problems",
    "file_problems",
    "fits_bind",
    "listening_problems",
    "load_problems",
    "memory_problems",
    "package_problems",
    "service_problems",
    "sysctl_problems",
    "time_problems",
    "user_problems",
    "version_matches",
]

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# RFC 1918, unique local (fc00::/7) and link-local: addresses no one outside can route to.
_PRIVATE = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
    )
)
_BIND_TEXT = {
    "loopback": "loopback only (127.0.0.0/8, ::1)",
    "private": "loopback or private addresses only (RFC 1918, fc00::/7, link-local)",
    "any": "any address",
}
_VERSION_SEPARATORS = ".-+~:_"
_QUOTED_LINES = 3
_NOT_FOUND = 127  # the shell's "command not found"


def service_problems(policy: HostPolicy, name: str, facts: ServiceFacts) -> list[str]:
    """Service `name` runs (or not) and starts at boot (or not) as `policy.services` says."""
    wanted = policy.services[name]
    problems = []
    if facts.running is None:
        problems.append(f"{policy.label}: cannot tell whether {name} runs: {facts.detail}")
    elif facts.running != wanted.running:
        found = "running" if facts.running else "not running"
        expected = "running" if wanted.running else "stopped"
        problems.append(
            f"{policy.label}: service {name} is {found}; expected {expected} ({facts.detail})"
        )
    if wanted.enabled is not None:
        if facts.enabled is None:
            problems.append(
                f"{policy.label}: cannot tell whether {name} starts at boot: {facts.detail}"
            )
        elif facts.enabled != wanted.enabled:
            found = _enabled(facts.enabled)
            problems.append(
                f"{policy.label}: service {name} is {found} at boot; "
                f"expected {_enabled(wanted.enabled)}"
            )
    return problems


def package_problems(policy: HostPolicy, name: str, facts: PackageFacts) -> list[str]:
    """Package `name` is installed, at a version starting with the declared prefix if any."""
    prefix = policy.packages[name]
    wanted = "installed" if prefix is None else f"version {prefix}*"
    if not facts.installed:
        return [f"{policy.label}: package {name} is not installed; expected {wanted}"]
    if prefix is not None and not version_matches(facts.version or "", prefix):
        return [f"{policy.label}: package {name} is {facts.version}; expected {wanted}"]
    return []


def version_matches(version: str, prefix: str) -> bool:
    """`3.11` matches 3.11.2-1+b1 but not 3.110; a Debian epoch (`1:`) is skipped unless asked."""
    if ":" not in prefix:
        version = version.partition(":")[2] or version
    if not version.startswith(prefix):
        return False
    rest = version[len(prefix) :]
    return not rest or prefix[-1] in _VERSION_SEPARATORS or rest[0] in _VERSION_SEPARATORS


def file_problems(policy: HostPolicy, path: str, facts: FileFacts) -> list[str]:
    """`path` exists (or not), with the declared owner, group, exact mode and no extra bits."""
    wanted = policy.files[path]
    where = f"{policy.label}: file {path}"
    if facts.exists != wanted.exists:
        found, expected = ("present", "absent") if facts.exists else ("absent", "present")
        return [f"{where} is {found}; expected {expected}"]
    if not facts.exists:
        return []
    problems = []
    if wanted.owner is not None and facts.owner != wanted.owner:
        problems.append(f"{where} owner is {facts.owner}; expected {wanted.owner}")
    if wanted.group is not None and facts.group != wanted.group:
        problems.append(f"{where} group is {facts.group}; expected {wanted.group}")
    mode = facts.mode
    if wanted.mode is not None and mode != wanted.mode:
        problems.append(f"{where} mode is {_octal(mode)}; expected {_octal(wanted.mode)}")
    if wanted.max_mode is not None:
        extra = (mode or 0) & ~wanted.max_mode & 0o7777
        if mode is None or extra:
            problems.append(
                f"{where} mode is {_octal(mode)}; expected at most {_octal(wanted.max_mode)} "
                f"(extra bits {_octal(extra)})"
            )
    return problems


def listening_problems(policy: HostPolicy, listeners: Sequence[ListenerFact]) -> list[str]:
    """Each declared port listens, bound only where its `bind` allows; nothing else is public.

    A socket on 0.0.0.0 or :: whose port `listening` does not declare is a problem unless
    `undeclared_public_listeners` allows it; a declared one is judged by its own `bind`.
    """
    problems = []
    for wanted in policy.listening:
        problems += _listener_problems(policy.label, wanted, listeners)
    if policy.undeclared_public_listeners:
        return problems
    declared = {(wanted.protocol, wanted.port) for wanted in policy.listening}
    public: dict[tuple[str, int], list[str]] = {}
    for fact in listeners:
        if _is_wildcard(fact.address) and (fact.protocol, fact.port) not in declared:
            public.setdefault((fact.protocol, fact.port), []).append(fact.address)
    for (protocol, port), addresses in sorted(public.items(), key=lambda item: item[0][::-1]):
        problems.append(
            f"{policy.label}: {_port(port, protocol)} listens on {' and '.join(addresses)} "
            "(every interface); declare it with bind: any, or bind it to loopback/private"
        )
    return problems


def fits_bind(address: str, bind: str | Sequence[str]) -> bool:
    """Whether a socket bound to `address` fits a bind class or is one of listed addresses."""
    if bind == "any":
        return True
    ip = _ip(address)
    if ip is None:  # "*" and the like: every interface
        return False
    if not isinstance(bind, str):
        return any(ip == _ip(listed) for listed in bind)
    if bind == "loopback":
        return ip.is_loopback
    if bind == "private":
        return ip.is_loopback or any(ip in network for network in _PRIVATE)
    raise ValueError(f"unknown bind class {bind!r}; expected loopback, private or any")


def user_problems(policy: HostPolicy, name: str, facts: UserFacts) -> list[str]:
    """User `name` exists (or not), with the declared uid and login shell."""
    wanted = policy.users[name]
    where = f"{policy.label}: user {name}"
    if facts.exists != wanted.exists:
        found, expected = ("present", "absent") if facts.exists else ("absent", "present")
        return [f"{where} is {found}; expected {expected}"]
    problems = []
    if facts.exists and wanted.uid is not None and facts.uid != wanted.uid:
        problems.append(f"{where} uid is {facts.uid}; expected {wanted.uid}")
    if facts.exists and wanted.shell is not None and facts.shell != wanted.shell:
        problems.append(f"{where} shell is {facts.shell or 'unknown'}; expected {wanted.shell}")
    return problems


def sysctl_problems(policy: HostPolicy, key: str, value: str) -> list[str]:
    """Kernel parameter `key` equals the declared value, whitespace runs counted as one."""
    found, wanted = " ".join(value.split()), " ".join(str(policy.sysctl[key]).split())
    if found == wanted:
        return []
    return [f"{policy.label}: sysctl {key} is {found or '(empty)'}; expected {wanted}"]


def disk_problems(policy: HostPolicy, path: str, free_percent: float) -> list[str]:
    """The file system holding `path` has at least the declared share free."""
    floor = policy.disks[path].min_free_percent
    if free_percent >= floor:
        return []
    return [
        f"{policy.label}: disk {path} has {free_percent:.1f}% free; expected at least {floor:g}%"
    ]


def memory_problems(policy: HostPolicy, used_percent: float) -> list[str]:
    """Memory in use stays at or below `max_memory_used_percent`, when one is declared."""
    ceiling = policy.max_memory_used_percent
    if ceiling is None or used_percent <= ceiling:
        return []
    return [f"{policy.label}: memory is {used_percent:.1f}% used; expected at most {ceiling:g}%"]


def load_problems(policy: HostPolicy, load_per_cpu: float) -> list[str]:
    """The 1-minute load per processor stays at or below `max_load_per_cpu`, when declared."""
    ceiling = policy.max_load_per_cpu
    if ceiling is None or load_per_cpu <= ceiling:
        return []
    return [f"{policy.label}: load is {load_per_cpu:.2f} per CPU; expected at most {ceiling:g}"]


def time_problems(policy: HostPolicy, facts: TimeSyncFacts) -> list[str]:
    """The clock is synchronised, when `time_synchronised` asks for it; unknown is a problem."""
    if not policy.time_synchronised:
        return []
    if facts.synchronised is None:
        return [f"{policy.label}: cannot tell whether the clock is synchronised: {facts.detail}"]
    if not facts.synchronised:
        return [
            f"{policy.label}: clock is not synchronised ({facts.detail}); expected synchronised"
        ]
    return []


def _listener_problems(
    label: str, wanted: Listener, listeners: Iterable[ListenerFact]
) -> list[str]:
    port = _port(wanted.port, wanted.protocol)
    bound = sorted(
        {fact.address for fact in listeners if (fact.protocol, fact.port) == _key(wanted)}
    )
    if isinstance(wanted.bind, list):
        expected = f"exactly {' and '.join(wanted.bind)}"
        found = {_ip(address) for address in bound}  # None ("*") never matches a listed one
        if found == {_ip(address) for address in wanted.bind}:
            return []
    else:
        expected = _BIND_TEXT[wanted.bind]
        outside = [address for address in bound if not fits_bind(address, wanted.bind)]
        if bound and not outside:
            return []
        bound = outside or bound
    if not bound:
        return [f"{label}: {port} is not listening; expected listening on {expected}"]
    every = " (every interface)" if any(_is_wildcard(address) for address in bound) else ""
    return [f"{label}: {port} listens on {' and '.join(bound)}{every}; expected {expected}"]


def _key(wanted: Listener) -> tuple[str, int]:
    return wanted.protocol, wanted.port


def _ip(address: str) -> _IPAddress | None:
    """`127.0.0.1`, `[::1]`, `fe80::1%eth0` or `::ffff:10.0.0.1` as an address (v4 if mapped)."""
    text = address.strip().removeprefix("[").removesuffix("]").partition("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _is_wildcard(address: str) -> bool:
    ip = _ip(address)
    return address.strip() == "*" or (ip is not None and ip.is_unspecified)


def _port(port: int, protocol: str) -> str:
    return f"port {port}" if protocol == "tcp" else f"{protocol} port {port}"


def _enabled(enabled: bool) -> str:
    return "enabled" if enabled else "disabled"


def _octal(mode: int | None) -> str:
    return "unknown" if mode is None else f"{mode:04o}"


def config_test_problems(policy: HostPolicy, name: str, facts: CommandFacts) -> list[str]:
    """The configuration test exited 0; otherwise its own words say why the server would not
    load what is deployed (the lines that name a problem first)."""
    if facts.exit_status == 0:
        return []
    where = f"{policy.label}: {name} configuration test `{facts.command}`"
    if facts.exit_status == _NOT_FOUND:
        program = facts.command.split()[0]
        return [f"{where}: {program} not found on the host; expected the test to exit 0"]
    lines = [line.strip() for line in facts.output.splitlines() if line.strip()]
    lines.sort(key=lambda line: not any(word in line.lower() for word in ("emerg", "error")))
    said = " | ".join(lines[:_QUOTED_LINES]) or "no output"
    return [f"{where} exited {facts.exit_status}: {said}; expected exit 0"]
