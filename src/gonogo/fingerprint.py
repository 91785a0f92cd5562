"""Fingerprints: how a deployment looks from outside and inside, as flat text that compares.

A fingerprint maps `"{area} {label}: {aspect}"` to a short normalised value, so that two of
them (two environments, or one environment now and at its last run) compare key by key, and
a run's fingerprint fits in its decision record as plain JSON. Pure functions of probe facts:
nothing here probes. Nothing here may carry a secret either, which is why headers are a fixed
list of security headers (never Set-Cookie) and containers show no environment or labels.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gonogo.probes.containers import ContainerFacts, ContainerSet, PublishedPort
from gonogo.probes.http import HttpResponse
from gonogo.probes.ports import PortState, ScanResult
from gonogo.probes.tls import TlsFacts

__all__ = [
    "AREAS",
    "FINGERPRINT_HEADERS",
    "area_of",
    "container_fingerprint",
    "header_fingerprint",
    "port_fingerprint",
    "tls_fingerprint",
]

AREAS = ("tls", "headers", "ports", "containers")
# What a browser acts on, and what tells an attacker which software to aim at. Names only a
# server sends about itself: a header that may carry a session or a token never goes in.
FINGERPRINT_HEADERS = (
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Referrer-Policy",
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
    "Server",
    "X-Powered-By",
)
ABSENT = "(absent)"
_RUN = 3  # this many consecutive ports or more read as a range: a filtered /16 stays short
_UNITS = (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024))


def area_of(key: str) -> str:
    """`"tls demo-tls: protocols"` -> `"tls"`."""
    return key.partition(" ")[0]


def tls_fingerprint(label: str, facts: TlsFacts) -> dict[str, str]:
    """Versions and suites accepted, and the certificate's issuer, key, trust and expiry."""
    cert = facts.certificate
    return _keyed(
        "tls",
        label,
        {
            "protocols": _listed(facts.accepted),
            "TLS 1.2 suites": _listed(sorted(facts.tls12_ciphers)),
            "TLS 1.3 suites": _listed(sorted(facts.tls13_suites)),
            "certificate issuer": cert.issuer,
            "certificate key": f"{cert.key_type} {cert.key_size}",
            "certificate signature": cert.signature_algorithm,
            "certificate trusted": "yes" if cert.verified else f"no: {cert.problem}",
            "certificate expires": f"{cert.not_after:%Y-%m-%d}",
        },
    )


def header_fingerprint(label: str, response: HttpResponse) -> dict[str, str]:
    """The status and each of FINGERPRINT_HEADERS as sent, `(absent)` when it was not."""
    aspects = {"status": str(response.status)}
    for name in FINGERPRINT_HEADERS:
        value = response.headers.get(name.lower())
        aspects[name] = ABSENT if value is None else (" ".join(value.split()) or "(empty)")
    return _keyed("headers", label, aspects)


def port_fingerprint(label: str, scan: ScanResult) -> dict[str, str]:
    """Open and filtered ports, ascending; three or more in a row as a range (`1-1024`)."""
    filtered = {fact.port for fact in scan.facts if fact.state is PortState.FILTERED}
    return _keyed(
        "ports",
        label,
        {"open": _port_list(scan.open_ports()), "filtered": _port_list(filtered)},
    )


def container_fingerprint(label: str, found: ContainerSet) -> dict[str, str]:
    """How many containers, and for each aspect the distinct values across them, sorted.

    Replicas that agree show one value; a replica that drifted from the others shows as a
    second value. With no container matched, only the count is there to compare.
    """
    containers = found.containers
    aspects = {"replicas": str(len(containers))}
    if not containers:
        return _keyed("containers", label, aspects)
    each: dict[str, Callable[[ContainerFacts], Iterable[str]]] = {
        "image": lambda c: [c.image],
        "status": lambda c: [c.status],
        "health": lambda c: [c.health or "none"],
        "user": lambda c: [c.user or "root"],
        "cpus": lambda c: ["unlimited" if c.cpus is None else f"{c.cpus:g}"],
        "memory": lambda c: [_size(c.memory)],
        "restart policy": lambda c: [c.restart_policy],
        "published ports": lambda c: [_published(port) for port in c.published_ports],
        "read-only rootfs": lambda c: [_yes(c.read_only_rootfs)],
        "privileged": lambda c: [_yes(c.privileged)],
        "added capabilities": lambda c: c.cap_add,
        "log rotation": lambda c: [_rotation(c)],
    }
    for aspect, values in each.items():
        aspects[aspect] = _listed(sorted({value for c in containers for value in values(c)}))
    return _keyed("containers", label, aspects)


def _keyed(area: str, label: str, aspects: dict[str, str]) -> dict[str, str]:
    return {f"{area} {label}: {aspect}": value for aspect, value in aspects.items()}


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"


def _port_list(ports: Iterable[int]) -> str:
    ordered = sorted(set(ports))
    parts: list[str] = []
    start = 0
    for end in range(1, len(ordered) + 1):
        if end < len(ordered) and ordered[end] == ordered[end - 1] + 1:
            continue
        run = ordered[start:end]
        if len(run) >= _RUN:
            parts.append(f"{run[0]}-{run[-1]}")
        else:
            parts += [str(port) for port in run]
        start = end
    return _listed(parts)


def _size(memory: int | None) -> str:
    """Bytes the way `docker run --memory` takes them: 256M, 1.5G, 512K."""
    if memory is None:
        return "unlimited"
    for unit, size in _UNITS:
        if memory >= size:
            return f"{memory / size:.2f}".rstrip("0").rstrip(".") + unit
    return f"{memory}B"


def _published(port: PublishedPort) -> str:
    """`8080->80/tcp`, with the host address when the binding names one (`127.0.0.1:...`)."""
    binding = f"{port.host_port}->{port.container_port}"
    if not port.host_ip:
        return binding
    host = f"[{port.host_ip}]" if ":" in port.host_ip else port.host_ip
    return f"{host}:{binding}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _rotation(container: ContainerFacts) -> str:
    """json-file's max-size; a driver that rotates by itself or ships logs off is named."""
    size = container.log_options.get("max-size", "")
    if size not in ("", "-1"):
        return size
    driver = container.log_driver
    return "off" if driver in ("", "json-file") else f"{driver} driver"
