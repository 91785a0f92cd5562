"""Containers judged against their policy: one function per aspect, each returning its problems.

Pure: facts from `gonogo.probes.containers` in, sentences out; no engine, no pytest. Each
problem names the container, what was found and what the policy expects. When the selector
matched nothing, every aspect says so, so that no check passes on an empty set.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the facts' types only: judging needs no Docker SDK
    from collections.abc import Callable

    from gonogo.environment_inside import ContainerPolicy
    from gonogo.probes.containers import ContainerFacts, ContainerSet, LogExcerpt

    Aspect = Callable[[ContainerPolicy, ContainerSet], list[str]]

__all__ = [
    "ASPECTS",
    "health",
    "image",
    "limits",
    "log_errors",
    "log_rotation",
    "privileges",
    "published_ports",
    "read_only",
    "replicas",
    "restart_policy",
    "restarts",
    "running",
    "since_for",
    "user",
]

_QUOTED_LINES = 3
_QUOTE_CHARS = 200
_ROOT_USERS = frozenset({"", "0", "root"})
_PINNED_ID = re.compile(r"^sha256:[0-9a-f]{64}$")
# The engine stamps StartedAt once the process runs, and a first line can be logged before it
# (seen: up to 3 ms earlier); since=StartedAt would drop exactly the start-up errors.
_START_SLACK = timedelta(seconds=1)


def replicas(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """As many running containers as `replicas` says, or at least one when it says nothing."""
    up = [c.name for c in found.containers if c.status == "running"]
    where = f"{policy.select.describe()} on {found.engine}"
    if policy.replicas == 0:  # scaled to zero on purpose: the one case where none is right
        if up:
            return [f"{where}: {len(up)} running ({', '.join(up)}); expected none"]
        return []
    if not found.containers:
        return _none_found(policy, found)
    if policy.replicas is None:
        if up:
            return []
        states = ", ".join(f"{c.name} {c.status}" for c in found.containers)
        return [f"{where}: none running ({states}); expected at least one"]
    if len(up) != policy.replicas:
        names = f" ({', '.join(up)})" if up else ""
        return [f"{where}: {len(up)} running{names}; expected {policy.replicas}"]
    return []


def running(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Every matching container is running: not exited, restarting, paused or never started."""
    if not found.containers:
        return _none_found(policy, found)
    return [
        f"{c.name}: {_state(c)}; expected running"
        for c in found.containers
        if c.status != "running"
    ]


def health(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Healthy by its own healthcheck; `required` also insists that there is one."""
    if not found.containers:
        return _none_found(policy, found)
    if policy.health == "ignore":
        return []
    problems = []
    for c in found.containers:
        if not c.healthcheck_defined:
            if policy.health == "required":
                problems.append(
                    f"{c.name}: no healthcheck defined; expected one that reports healthy "
                    "(HEALTHCHECK in the image or `healthcheck:` in compose)"
                )
            continue
        if c.health == "healthy":
            continue
        if c.health == "starting":
            state = "health starting: no check has passed yet, which is not healthy"
        elif c.health is None:
            state = f"no health status ({c.status})"
        else:
            state = c.health
        said = f"; last check said {c.health_output!r}" if c.health_output else ""
        problems.append(f"{c.name}: {state}{said}; expected healthy")
    return problems


def restart_policy(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """The engine brings the container back after a crash or a reboot, as the policy accepts."""
    if not found.containers:
        return _none_found(policy, found)
    accepted = policy.restart_policy
    if accepted is None:
        return []
    wanted = " or ".join(accepted) or "none (the policy accepts no restart policy)"
    hint = f" (`restart: {accepted[0]}` in compose)" if accepted else ""
    return [
        f"{c.name}: restart policy {c.restart_policy}; expected {wanted}{hint}"
        for c in found.containers
        if c.restart_policy not in accepted
    ]


def user(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Not root: a user other than root, 0, or none at all (which is root)."""
    if not found.containers:
        return _none_found(policy, found)
    if not policy.non_root:
        return []
    return [
        f"{c.name}: runs as root (user {c.user!r}); expected a non-root user "
        "(set USER in the image or `user:` in compose)"
        for c in found.containers
        if c.user.partition(":")[0].strip() in _ROOT_USERS
    ]


def limits(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """CPU and memory limits set, and within the policy's bounds."""
    if not found.containers:
        return _none_found(policy, found)
    bounds = policy.limits
    problems = []
    for c in found.containers:
        missing = [kind for kind, value in (("CPU", c.cpus), ("memory", c.memory)) if value is None]
        if bounds.required and missing:
            problems.append(
                f"{c.name}: no {' and no '.join(missing)} limit; expected both "
                "(--cpus and --memory, or deploy.resources.limits in compose)"
            )
        reported = bounds.required
        if bounds.max_cpus is not None:
            if c.cpus is None and not reported:
                problems.append(f"{c.name}: no CPU limit; expected at most {bounds.max_cpus:g}")
            elif c.cpus is not None and c.cpus > bounds.max_cpus:
                problems.append(
                    f"{c.name}: CPU limit {c.cpus:g}; expected at most {bounds.max_cpus:g}"
                )
        if bounds.max_memory is not None:
            top = _size(bounds.max_memory)
            if c.memory is None and not reported:
                problems.append(f"{c.name}: no memory limit; expected at most {top}")
            elif c.memory is not None and c.memory > bounds.max_memory:
                problems.append(f"{c.name}: memory limit {_size(c.memory)}; expected at most {top}")
        if bounds.min_memory is not None and c.memory is not None and c.memory < bounds.min_memory:
            problems.append(
                f"{c.name}: memory limit {_size(c.memory)}; "
                f"expected at least {_size(bounds.min_memory)}"
            )
    return problems


def privileges(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Not privileged unless allowed, and none of the forbidden capabilities added."""
    if not found.containers:
        return _none_found(policy, found)
    forbidden = {_capability(cap) for cap in policy.forbidden_capabilities}
    problems = []
    for c in found.containers:
        if c.privileged and not policy.allow_privileged:
            problems.append(
                f"{c.name}: runs privileged (every capability, every device); expected "
                "unprivileged (drop --privileged / `privileged: true`)"
            )
        added = {_capability(cap) for cap in c.cap_add}
        bad = added & forbidden
        if "ALL" in added and forbidden:
            bad.add("ALL")
        if bad:
            problems.append(
                f"{c.name}: adds {_count(len(bad), 'forbidden capability', 'ies')} "
                f"{', '.join(sorted(bad))}; expected none of them (remove from cap_add)"
            )
    return problems


def image(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """An image reference that pins what runs: a tag other than latest, or a digest."""
    if not found.containers:
        return _none_found(policy, found)
    if policy.image == "any":
        return []
    problems = []
    for c in found.containers:
        reference = c.image
        has_digest = "@sha256:" in reference
        if policy.image == "digest":
            if not has_digest:
                problems.append(
                    f"{c.name}: runs {reference}; expected a digest reference "
                    "(name@sha256:...), so every host runs the same bytes"
                )
            continue
        if has_digest or _PINNED_ID.match(reference):
            continue
        tag = _tag(reference)
        if tag is None or tag == "latest":
            implicit = " (no tag, so latest)" if tag is None else ""
            problems.append(
                f"{c.name}: runs {reference}{implicit}; expected an explicit tag other than "
                "latest, or a digest"
            )
    return problems


def published_ports(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Exactly the host ports the policy lists are published, when it lists any (or [])."""
    if not found.containers:
        return _none_found(policy, found)
    if policy.published_ports is None:
        return []
    wanted = set(policy.published_ports)
    problems = []
    for c in found.containers:
        have = {p.host_port for p in c.published_ports}
        if have == wanted:
            continue
        shown = ", ".join(
            f"{p.host_ip or '*'}:{p.host_port or '?'}->{p.container_port}"
            for p in c.published_ports
        )
        expected = f"host ports {_ports(wanted)}" if wanted else "no published ports"
        diff = [
            f"{label}: {_ports(ports)}"
            for label, ports in (("extra", have - wanted), ("missing", wanted - have))
            if ports
        ]
        problems.append(
            f"{c.name}: publishes {shown or 'no ports'}; expected {expected} ({'; '.join(diff)})"
        )
    return problems


def restarts(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Restarted no more often than `max_restarts`: more is a crash loop in the making."""
    if not found.containers:
        return _none_found(policy, found)
    most = policy.max_restarts
    if most is None:
        return []
    return [
        f"{c.name}: restarted {_count(c.restart_count, 'time')}; expected at most {most} "
        "(crash loop? read its logs)"
        for c in found.containers
        if c.restart_count > most
    ]


def read_only(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """A read-only root filesystem, when the policy asks for one."""
    if not found.containers:
        return _none_found(policy, found)
    if not policy.read_only_rootfs:
        return []
    return [
        f"{c.name}: root filesystem is writable; expected read-only "
        "(--read-only, or `read_only: true` in compose)"
        for c in found.containers
        if not c.read_only_rootfs
    ]


def log_rotation(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    """Logs that cannot fill the disk: json-file with max-size, local, or a driver off the host."""
    if not found.containers:
        return _none_found(policy, found)
    if policy.logs is None or not policy.logs.rotation:
        return []
    problems = []
    for c in found.containers:
        if c.log_driver == "json-file" and c.log_options.get("max-size", "-1") in ("", "-1"):
            problems.append(
                f"{c.name}: log driver json-file without max-size, so its log grows until the "
                "disk is full; expected a cap (--log-opt max-size=10m, or logging.options in "
                "compose), or the local driver"
            )
        elif c.log_driver == "none":
            problems.append(
                f"{c.name}: log driver none keeps no logs; expected rotated logs "
                "(json-file with max-size, or local)"
            )
        # local caps itself; journald, syslog, fluentd and the like rotate away from here.
    return problems


def log_errors(
    policy: ContainerPolicy,
    found: ContainerSet,
    read: Callable[[ContainerFacts], LogExcerpt],
) -> list[str]:
    """No line of the logs `read` returns matches the policy's error pattern."""
    if not found.containers:
        return _none_found(policy, found)
    if policy.logs is None:
        return []
    pattern = re.compile(policy.logs.error_pattern)
    problems = []
    for c in found.containers:
        if c.log_driver == "none":
            problems.append(
                f"{c.name}: log driver none keeps no logs, so error lines cannot be looked for; "
                "expected readable logs (json-file or local)"
            )
            continue
        excerpt = read(c)
        matching = [line for line in excerpt.text.splitlines() if pattern.search(line)]
        if not matching:
            continue
        quoted = " | ".join(repr(_cut(line)) for line in matching[:_QUOTED_LINES])
        cap = ", stopped at max_bytes" if excerpt.truncated else ""
        problems.append(
            f"{c.name}: {_count(len(matching), 'log line')} match {pattern.pattern!r} in the "
            f"{excerpt.bytes_read} bytes read{cap}; expected none; first: {quoted}"
        )
    return problems


def since_for(policy: ContainerPolicy, facts: ContainerFacts, now: datetime) -> datetime:
    """Where reading the logs starts: the container's start, or `since` seconds before `now`."""
    since = policy.logs.since if policy.logs is not None else "start"
    if since == "start":
        if facts.started_at is None:  # never started: read whatever there is, not nothing
            return datetime.fromtimestamp(0, UTC)
        return facts.started_at - _START_SLACK
    return now - timedelta(seconds=since)


ASPECTS: dict[str, Aspect] = {
    "replicas": replicas,
    "running": running,
    "health": health,
    "restart_policy": restart_policy,
    "user": user,
    "limits": limits,
    "privileges": privileges,
    "image": image,
    "published_ports": published_ports,
    "restarts": restarts,
    "read_only": read_only,
    "log_rotation": log_rotation,
}


def _none_found(policy: ContainerPolicy, found: ContainerSet) -> list[str]:
    return [f"no container matches {policy.select.describe()} on {found.engine}"]


def _state(c: ContainerFacts) -> str:
    if c.status == "exited":
        return f"exited with code {c.exit_code}"
    if c.status == "restarting":
        return (
            f"restarting (last exit code {c.exit_code}, "
            f"restarted {_count(c.restart_count, 'time')})"
        )
    if c.status == "created":
        return "created but never started"
    return c.status or "no status"


def _tag(reference: str) -> str | None:
    """The tag of `name[:tag]`; a registry's port (`host:5000/app`) is not one."""
    last = reference.partition("@")[0].rpartition("/")[2]
    name, colon, tag = last.partition(":")
    return tag if colon and name else None


def _capability(name: str) -> str:
    return name.strip().upper().removeprefix("CAP_")


def _ports(ports: set[int]) -> str:
    return ", ".join(str(port) if port else "an engine-chosen port" for port in sorted(ports))


def _size(value: int) -> str:
    """Bytes in docker's units (powers of 1024): 64 MiB, 1.5 GiB."""
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= scale:
            return f"{value / scale:.4g} {unit}"
    return f"{value} B"


def _count(n: int, noun: str, plural: str = "s") -> str:
    if n == 1:
        return f"1 {noun}"
    if plural == "ies":
        return f"{n} {noun.removesuffix('y')}ies"
    return f"{n} {noun}{plural}"


def _cut(line: str) -> str:
    line = line.strip()
    return line if len(line) <= _QUOTE_CHARS else line[: _QUOTE_CHARS - 3] + "..."
