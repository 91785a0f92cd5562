"""The inside sections of the environment file: containers, hosts, firewall policy, reachability.

What an operator would otherwise read off `docker inspect`, `docker logs`, `ss -tlnp`,
`systemctl`, `ufw status verbose` and a security-group spreadsheet. Defaults are the source
documents' asks: non-root, limited, healthy, pinned, restart `unless-stopped`, no ERROR lines,
log rotation, databases and caches bound to loopback or a private address.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gonogo._section import Entry, Seconds, Section, Severity

__all__ = [
    "DANGEROUS_CAPABILITIES",
    "Allow",
    "ContainerLimits",
    "ContainerLogs",
    "ContainerPolicy",
    "ContainerSelector",
    "DiskFloor",
    "FileExpectation",
    "FirewallPolicyCheck",
    "HostItem",
    "HostPolicy",
    "Listener",
    "Reachability",
    "ServiceExpectation",
    "UserExpectation",
    "host_items",
]

Port = Annotated[int, Field(ge=1, le=65535)]
RestartPolicy = Literal["no", "always", "unless-stopped", "on-failure"]
_RESTART_POLICIES: tuple[RestartPolicy, ...] = ("unless-stopped", "always")
Percent = Annotated[float, Field(ge=0, le=100)]

# Capabilities that let a container reach past its own walls (docker's own default set,
# which includes NET_RAW and CHOWN, is not "added" and so not judged).
DANGEROUS_CAPABILITIES = (
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "BPF",
    "PERFMON",
)
# The documents grep for ERROR lines; CRITICAL/FATAL/PANIC and tracebacks are the same news.
DEFAULT_ERROR_PATTERN = r"\b(ERROR|CRITICAL|FATAL|PANIC)\b|Traceback \(most recent call last\)"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(i?[bB])?\s*$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_MODE = re.compile(r"^0?[0-7]{3,4}$")


def _bytes(value: Any) -> Any:
    """`512M`, `1G`, `64MiB` or a plain number of bytes, as bytes (powers of 1024, as docker)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    match = _SIZE.match(str(value))
    size = float(match[1]) * _SIZE_UNITS[match[2].lower()] if match else math.inf
    if not math.isfinite(size):
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise PydanticCustomError(
            "gonogo", f"expected a size such as 512M, 1G or 1048576, got {shown}"
        )
    return int(size)


def _seconds(value: Any) -> Any:
    """`10m`, `1h`, `30s` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise PydanticCustomError(
            "gonogo", f"expected a duration such as 10m, 1h or 30s, got {value!r}"
        )
    return float(match[1]) * _DURATION_UNITS[match[2]]


def _mode(value: Any) -> Any:
    """File modes are octal: `"0600"`, `"600"`, or YAML's 0o600 / 384 integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= 0o7777:
            raise PydanticCustomError("gonogo", f"expected a file mode up to 07777, got {value}")
        return value
    if isinstance(value, str) and _MODE.match(value):
        return int(value, 8)
    raise PydanticCustomError(
        "gonogo", f'expected an octal file mode such as "0600", got {value!r}'
    )


Bytes = Annotated[int, BeforeValidator(_bytes), Field(gt=0)]
Duration = Annotated[float, BeforeValidator(_seconds), Field(gt=0, le=30 * 86400)]
FileMode = Annotated[int, BeforeValidator(_mode)]


class ContainerSelector(Section):
    """Which containers an entry judges: by name, by compose project/service, or by labels."""

    container: str | None = Field(None, description="Exact container name.")
    project: str | None = Field(None, description="Compose project (com.docker.compose.project).")
    service: str | None = Field(None, description="Compose service (com.docker.compose.service).")
    labels: dict[str, str] = Field(default_factory=dict, description="Every label must match.")

    @model_validator(mode="after")
    def _one_way(self) -> ContainerSelector:
        ways = [self.container is not None, self.service is not None, bool(self.labels)]
        if sum(ways) != 1:
            raise PydanticCustomError(
                "gonogo",
                "expected exactly one of container, service (with an optional project) or labels",
            )
        if self.project is not None and self.service is None:
            raise PydanticCustomError("gonogo", "project needs a service to select within it")
        return self

    def label_filters(self) -> dict[str, str]:
        """The engine-side label filter this selector amounts to (empty for a name)."""
        if self.service is not None:
            found = {"com.docker.compose.service": self.service}
            if self.project is not None:
                found["com.docker.compose.project"] = self.project
            return found
        return dict(self.labels)

    def describe(self) -> str:
        if self.container is not None:
            return f"container {self.container}"
        return ", ".join(f"{key}={value}" for key, value in sorted(self.label_filters().items()))


class ContainerLimits(Section):
    """CPU and memory limits must be set; bounds are optional."""

    required: bool = True
    max_cpus: Annotated[float, Field(gt=0, le=1024)] | None = None
    max_memory: Bytes | None = None
    min_memory: Bytes | None = None

    def asks(self) -> bool:
        """Whether there is anything to judge: limits required, or a bound given."""
        bounds = (self.max_cpus, self.max_memory, self.min_memory)
        return self.required or any(bound is not None for bound in bounds)


class ContainerLogs(Section):
    """No error lines since the deploy (or a recent window), read with a cap; rotation on."""

    error_pattern: str = DEFAULT_ERROR_PATTERN
    since: Literal["start"] | Duration = Field(
        "start", description="'start' (the container's start, i.e. the deploy) or e.g. 10m."
    )
    max_bytes: Annotated[int, BeforeValidator(_bytes), Field(gt=0, le=64 * 1024**2)] = 1024**2
    rotation: bool = Field(True, description="The log driver must cap file size (max-size).")

    @field_validator("error_pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class ContainerPolicy(Entry):
    """The containers of one service and what each of them must be."""

    select: ContainerSelector
    engine: str | None = Field(
        None, description="Docker engine URL; default DOCKER_HOST or the local socket."
    )
    replicas: Annotated[int, Field(ge=0, le=10_000)] | None = Field(
        None, description="Exact count of running containers; default at least one."
    )
    health: Literal["required", "if_defined", "ignore"] = "if_defined"
    restart_policy: list[RestartPolicy] | None = Field(
        default_factory=lambda: list(_RESTART_POLICIES),
        description="Accepted restart policies; null to accept any.",
    )
    non_root: bool = True
    allow_privileged: bool = False
    forbidden_capabilities: list[str] = Field(default_factory=lambda: list(DANGEROUS_CAPABILITIES))
    limits: ContainerLimits = Field(default_factory=ContainerLimits)
    image: Literal["tag", "digest", "any"] = Field(
        "tag", description="tag: an explicit tag other than latest (or a digest); digest: @sha256."
    )
    published_ports: list[Port] | None = Field(
        None, description="Exactly these host ports published; [] for none (databases, caches)."
    )
    max_restarts: Annotated[int, Field(ge=0)] | None = 3
    read_only_rootfs: bool = False
    logs: ContainerLogs | None = Field(default_factory=ContainerLogs)
    timeout_s: Seconds | None = None

    @field_validator("engine")
    @classmethod
    def _empty_is_default(cls, value: str | None) -> str | None:
        return value or None

    def _default_label(self) -> str:
        selector = self.select
        return selector.container or selector.service or selector.describe()

    @field_validator("forbidden_capabilities")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [cap.upper().removeprefix("CAP_") for cap in value]


class ServiceExpectation(Section):
    running: bool = True
    enabled: bool | None = None


class FileExpectation(Section):
    exists: bool = True
    owner: str | None = None
    group: str | None = None
    mode: FileMode | None = Field(None, description='Exact mode, e.g. "0600".')
    max_mode: FileMode | None = Field(
        None, description='No permission bit beyond these, e.g. "0640".'
    )


class UserExpectation(Section):
    exists: bool = True
    uid: Annotated[int, Field(ge=0)] | None = None
    shell: str | None = None


BindClass = Literal["loopback", "private", "any"]


class Listener(Section):
    """A listening socket and where it may be bound: loopback, private, any, or addresses."""

    port: Port
    protocol: Literal["tcp", "udp"] = "tcp"
    bind: BindClass | list[str] = "loopback"

    @field_validator("bind")
    @classmethod
    def _addresses(cls, value: BindClass | list[str]) -> BindClass | list[str]:
        if isinstance(value, list):
            for address in value:
                try:
                    ipaddress.ip_address(address)
                except ValueError:
                    raise ValueError(
                        f"{address!r} is not an IP address; expected loopback, private, any "
                        "or a list of IP addresses"
                    ) from None
        return value


class DiskFloor(Section):
    min_free_percent: Percent = 10.0


class HostPolicy(Entry):
    """One host reached through a testinfra backend, and the state it must be in."""

    backend: str = Field(
        "local://",
        description="testinfra host spec: local://, ssh://user@host, docker://name, "
        "ansible://HOST (a host of ansible_inventory).",
    )
    ansible_inventory: str | None = None
    netns: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = Field(
        None, description="Run the host's commands inside this network namespace (local only)."
    )
    sudo: bool = False
    timeout_s: Seconds | None = None
    services: dict[str, ServiceExpectation] = Field(default_factory=dict)
    packages: dict[str, str | None] = Field(
        default_factory=dict, description="Package name: version prefix, or null for any."
    )
    files: dict[str, FileExpectation] = Field(default_factory=dict)
    listening: list[Listener] = Field(default_factory=list)
    undeclared_public_listeners: bool = Field(
        False, description="Allow sockets on 0.0.0.0/:: that `listening` does not declare."
    )
    users: dict[str, UserExpectation] = Field(default_factory=dict)
    sysctl: dict[str, str | int] = Field(default_factory=dict)
    disks: dict[str, DiskFloor] = Field(default_factory=dict)
    max_memory_used_percent: Percent | None = None
    max_load_per_cpu: Annotated[float, Field(gt=0, le=1000)] | None = None
    time_synchronised: bool = False
    config_tests: dict[str, Annotated[str, Field(min_length=1)]] = Field(
        default_factory=dict,
        description="Servers' own configuration tests that must exit 0, by name: "
        "{nginx: 'nginx -t', haproxy: 'haproxy -c -f /etc/haproxy/haproxy.cfg'}.",
    )

    def _default_label(self) -> str:
        return self.backend

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        scheme = value.partition("://")[0]
        if scheme not in {"local", "ssh", "paramiko", "docker", "podman", "ansible", "kubectl"}:
            raise ValueError(
                "expected a testinfra backend such as local://, ssh://user@host, "
                "docker://container or ansible://host"
            )
        return value

    @model_validator(mode="after")
    def _netns_is_local(self) -> HostPolicy:
        if self.netns is not None and not self.backend.startswith("local://"):
            raise PydanticCustomError("gonogo", "netns works only with the local:// backend")
        return self


@dataclass(frozen=True)
class HostItem:
    """One thing a hosts entry asks about (a service, a file...): one check's target."""

    host: HostPolicy
    key: str

    @property
    def label(self) -> str:
        return f"{self.host.label}:{self.key}"

    @property
    def severity(self) -> Severity | None:
        return self.host.severity


def host_items(hosts: list[HostPolicy], section: str) -> list[HostItem]:
    """Every (host, key) pair of one per-host mapping, e.g. section 'services'."""
    return [HostItem(host, key) for host in hosts for key in getattr(host, section)]


class Allow(Section):
    """One allowance a firewall must make: a port (or range), a protocol, a source range."""

    port: Port | Annotated[str, Field(pattern=r"^\d{1,5}-\d{1,5}$")]
    protocol: Literal["tcp", "udp", "any"] = "tcp"
    source: str | None = Field(None, alias="from", description="CIDR; default anywhere.")

    @field_validator("source")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError("expected a network such as 10.0.0.0/8") from None

    def span(self) -> tuple[int, int]:
        if isinstance(self.port, int):
            return self.port, self.port
        first, _, last = self.port.partition("-")
        if not 1 <= int(first) <= int(last) <= 65535:
            raise ValueError(f"port range {self.port}: expected first <= last within 1-65535")
        return int(first), int(last)


class FirewallPolicyCheck(Entry):
    """A host's firewall, read from the host: default incoming deny, and exactly these allowed."""

    host: str | None = Field(None, description="A `hosts` entry's name; default this machine.")
    source: Literal["nftables", "iptables", "ufw"] = "nftables"
    default_incoming: Literal["deny", "accept"] = "deny"
    allow: list[Allow] = Field(default_factory=list)

    def _default_label(self) -> str:
        return f"{self.host or 'local'}-{self.source}"

    @model_validator(mode="after")
    def _ranges(self) -> FirewallPolicyCheck:
        for allow in self.allow:
            try:
                allow.span()
            except ValueError as exc:
                raise PydanticCustomError("gonogo", str(exc)) from None
        return self


class Reachability(Entry):
    """One row of a security-group matrix: from here or a host, to an address and port."""

    source: str = Field(
        "here", alias="from", description="'here' (where the suite runs) or a `hosts` name."
    )
    to: str = Field(description="host:port, [IPv6]:port.")
    expect: Literal["open", "closed", "filtered", "blocked"] = Field(
        description="blocked: closed or filtered (not reachable either way)."
    )
    timeout_s: Seconds = 2.0

    def _default_label(self) -> str:
        return f"{self.source}-to-{self.to}"

    @field_validator("to")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, port = split_host_port(value)
        if not host or not 1 <= port <= 65535:
            raise ValueError("expected host:port with a port in 1-65535")
        return value

    def address(self) -> tuple[str, int]:
        return split_host_port(self.to)


def split_host_port(value: str) -> tuple[str, int]:
    """`10.0.0.2:8000`, `[::1]:443` or `db.internal:5432` as (host, port); port -1 if none."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        return value, -1
    return host.removeprefix("[").removesuffix("]"), int(port)
