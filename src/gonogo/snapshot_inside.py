"""The inside sections of a snapshot: containers by compose service, and listening sockets.

Containers are judged with the checks' own functions against the default policy (non-root,
limited, pinned, healthy, restart unless-stopped, rotated logs), so a weak spot here is
exactly what `pytest --env` would report, in the same words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from gonogo import containers as judge
from gonogo._yaml_writer import Commented
from gonogo.environment_inside import (
    DANGEROUS_CAPABILITIES,
    ContainerPolicy,
    ContainerSelector,
)
from gonogo.probes.containers import ContainerFacts, ContainerSet, LogExcerpt
from gonogo.probes.hosts import ListenerFact
from gonogo.snapshot import RISKY_PORTS, Observation
from gonogo.snapshot_edge import slug
from gonogo.snapshot_spots import WeakSpots

__all__ = ["containers_section", "hosts_section"]

_SERVICE = "com.docker.compose.service"
_PROJECT = "com.docker.compose.project"
_EPHEMERAL = 32768  # Linux's default ip_local_port_range starts here: client ports, not services
_Judge = Callable[[ContainerPolicy, ContainerSet], list[str]]


def containers_section(observation: Observation, spots: WeakSpots) -> list[Any]:
    """One entry per compose service (or per container outside compose)."""
    found = observation.containers
    if found is None:
        return []
    groups: dict[tuple[str | None, str | None, str], list[ContainerFacts]] = {}
    for facts in found.containers:
        service = facts.labels.get(_SERVICE)
        key = (facts.labels.get(_PROJECT), service, service or facts.name)
        groups.setdefault(key, []).append(facts)
    engine = observation.targets.docker or None
    logs = _Logs(observation.container_logs)
    return [
        _container_entry(project, service, name, members, found, engine, spots, logs)
        for (project, service, name), members in sorted(groups.items(), key=lambda item: item[0][2])
    ]


def _container_entry(
    project: str | None,
    service: str | None,
    name: str,
    members: list[ContainerFacts],
    found: ContainerSet,
    engine: str | None,
    spots: WeakSpots,
    logs: _Logs,
) -> Commented:
    select: dict[str, str] = (
        {"project": project, "service": service} if project and service else {"container": name}
    )
    if service and not project:
        select = {"service": service}
    label = slug(name, "container")
    group = ContainerSet(found.engine, tuple(members), found.duration_s)
    policy = ContainerPolicy(name=label, select=ContainerSelector.model_validate(select))
    entry: dict[str, Any] = {"name": label, "select": select}
    if engine:
        entry["engine"] = engine
    entry["replicas"] = sum(1 for c in members if c.status == "running")
    notes: list[str] = []
    weakness = _Weakness(policy, group, label, spots, notes, entry)
    if all(c.healthcheck_defined for c in members):
        entry["health"] = "required"
    weakness.judge(judge.health, "health", "ignore")
    weakness.judge(judge.running, None, None)
    weakness.judge(
        judge.restart_policy, "restart_policy", sorted({c.restart_policy for c in members})
    )
    weakness.judge(judge.user, "non_root", False)
    added = {cap.upper().removeprefix("CAP_") for c in members for cap in c.cap_add}
    allowed = [cap for cap in DANGEROUS_CAPABILITIES if cap not in added]
    weakness.judge(judge.privileges, "forbidden_capabilities", allowed)
    if any(c.privileged for c in members) and spots.as_is:
        entry["allow_privileged"] = True
    entry["limits"] = _limits(members)
    weakness.judge(judge.limits, "limits", {**entry["limits"], "required": False})
    if entry["limits"] == {}:
        del entry["limits"]
    weakness.judge(judge.image, "image", "any")
    entry["published_ports"] = sorted({p.host_port for c in members for p in c.published_ports})
    if all(c.read_only_rootfs for c in members):
        entry["read_only_rootfs"] = True
    weakness.judge(judge.restarts, "max_restarts", max(c.restart_count for c in members))
    weakness.judge(judge.log_rotation, "logs", {"rotation": False})
    weakness.judge(lambda policy, found: judge.log_errors(policy, found, logs.read), "logs", None)
    images = ", ".join(sorted({c.image for c in members}))
    users = ", ".join(sorted({c.user or "root" for c in members}))
    about = f"{', '.join(c.name for c in members)}: {images}, user {users}"
    return Commented(entry, above=(about, *notes))


class _Weakness:
    """Runs one judge against the default policy; a problem becomes a note, and with --as-is
    the key that accepts what was found."""

    def __init__(
        self,
        policy: ContainerPolicy,
        found: ContainerSet,
        label: str,
        spots: WeakSpots,
        notes: list[str],
        entry: dict[str, Any],
    ) -> None:
        self.policy, self.found, self.label = policy, found, label
        self.spots, self.notes, self.entry = spots, notes, entry

    def judge(self, check: _Judge, key: str | None, as_found: Any) -> None:
        problems = check(self.policy, self.found)
        if not problems:
            return
        for problem in problems:
            self.notes.append(self.spots.note(self.label, problem))
        if self.spots.as_is and key is not None:
            self.entry[key] = as_found


class _Logs:
    """The logs the snapshot read, by container (none for the `none` log driver)."""

    def __init__(self, read: dict[str, LogExcerpt]) -> None:
        self._read = read

    def read(self, facts: ContainerFacts) -> LogExcerpt:
        return self._read.get(facts.id) or LogExcerpt("", 0, truncated=False)


def _limits(members: list[ContainerFacts]) -> dict[str, Any]:
    """The highest CPU and memory limits found, as bounds no replica may exceed."""
    cpus = [c.cpus for c in members if c.cpus is not None]
    memory = [c.memory for c in members if c.memory is not None]
    bounds: dict[str, Any] = {}
    if cpus and len(cpus) == len(members):
        bounds["max_cpus"] = max(cpus)
    if memory and len(memory) == len(members):
        bounds["max_memory"] = _size(max(memory))
    return bounds


def _size(value: int) -> str:
    """Bytes in the environment file's units: 256M, 1G, or a plain number."""
    for unit, scale in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value % scale == 0:
            return f"{value // scale}{unit}"
    return str(value)


def hosts_section(observation: Observation, spots: WeakSpots) -> list[Any]:
    """One entry per testinfra host: every listening socket, bound where it was found."""
    ranges = observation.targets.ports
    entries = []
    for backend, listeners in sorted(observation.listeners.items()):
        kept = [fact for fact in listeners if _kept(fact, ranges)]
        grouped: dict[tuple[str, int], list[str]] = {}
        for fact in kept:
            grouped.setdefault((fact.protocol, fact.port), []).append(fact.address)
        listening: list[Any] = []
        for (protocol, port), addresses in sorted(grouped.items(), key=lambda item: item[0][::-1]):
            listener: dict[str, Any] = {"port": port}
            if protocol != "tcp":
                listener["protocol"] = protocol
            bind = _bind(addresses)
            if bind == "any" and port in RISKY_PORTS:
                note = spots.note(
                    backend, f"{RISKY_PORTS[port]} ({port}) listens on every interface"
                )
                listening.append(
                    Commented(
                        {**listener, "bind": bind if spots.as_is else "loopback"}, above=(note,)
                    )
                )
                continue
            listener["bind"] = bind
            listening.append(listener)
        entry: dict[str, Any] = {
            "name": slug(backend.partition("://")[2], "this-host"),
            "backend": backend,
        }
        entry["listening"] = listening
        above: tuple[str, ...] = ()
        if ranges:
            entry["undeclared_public_listeners"] = True
            above = (
                "Only sockets on the scanned ports (--ports) were written: others may listen.",
            )
        entries.append(Commented(entry, above=above))
    return entries


def _kept(fact: ListenerFact, ranges: tuple[tuple[int, int], ...]) -> bool:
    if ranges:
        return any(first <= fact.port <= last for first, last in ranges)
    return fact.port < _EPHEMERAL


def _bind(addresses: list[str]) -> str | list[str]:
    """The narrowest bind class that holds every address a port listens on."""
    ips = []
    for address in addresses:
        try:
            ips.append(ipaddress.ip_address(address.partition("%")[0]))
        except ValueError:
            return "any"  # "*" and the like
    if any(ip.is_unspecified for ip in ips):
        return "any"
    if all(ip.is_loopback for ip in ips):
        return "loopback"
    if all(ip.is_loopback or ip.is_private for ip in ips):
        return "private"
    return sorted({str(ip) for ip in ips})
