"""Facts about a host read through a testinfra backend: services, packages, files, sockets, ...

Knows nothing of pytest or of expectations. `connect` opens one testinfra connection per
(backend, inventory, netns, sudo) and checks that it runs a command before handing it out.

Every command is bounded by the `timeout_s` given to `connect`, and each of its output streams
by MAX_OUTPUT; gonogo.probes._testinfra says how, backend by backend.

`reach` lets its command run for its own connect timeout plus 5 s when that is longer than
the host's deadline.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gonogo.environment_inside import HostPolicy
from gonogo.errors import TargetUnreachableError
from gonogo.probes._testinfra import (
    MAX_OUTPUT,
    Host,
    RunError,
    check_connection,
    first_line,
    new_backend,
    shown,
)
from gonogo.probes.ports import PortState

__all__ = [
    "MAX_OUTPUT",
    "CommandFacts",
    "FileFacts",
    "ListenerFact",
    "PackageFacts",
    "ReachFacts",
    "ServiceFacts",
    "TimeSyncFacts",
    "UserFacts",
    "config_test",
    "connect",
    "disk_free_percent",
    "file",
    "listeners",
    "load_per_cpu",
    "memory_used_percent",
    "package",
    "reach",
    "run",
    "service",
    "sysctl",
    "time_sync",
    "user",
]

_RUN_MAX_OUTPUT = 4 * 1024 * 1024  # `run`: firewall rulesets can be long
_REACH_GRACE_S = 5.0  # starting python3 or nc on a slow host, on top of the connect timeout
_SYSCTL_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")
# Errors a connect gets when the network, a route or a firewall answers for the host.
_FILTERING = frozenset(
    {"ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENETDOWN", "EACCES", "EPERM"}
)
_NC_FILTERING = (
    "unreachable",
    "no route",
    "invalid argument",
    "network is down",
    "host is down",
    "not permitted",
    "permission denied",
)


@dataclass(frozen=True, slots=True)
class CommandFacts:
    """How a command ended: its exit status and what it said (stdout, then stderr)."""

    command: str
    exit_status: int
    output: str


@dataclass(frozen=True, slots=True)
class ServiceFacts:
    """Whether a service runs and starts at boot; None where the host could not tell."""

    running: bool | None
    enabled: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class PackageFacts:
    installed: bool
    version: str | None


@dataclass(frozen=True, slots=True)
class FileFacts:
    """Owner, group and permission bits (e.g. 0o640) of a path, following symlinks."""

    exists: bool
    owner: str | None
    group: str | None
    mode: int | None


@dataclass(frozen=True, slots=True, order=True)
class ListenerFact:
    """One listening socket: tcp or udp, the address as the host prints it, and the port."""

    protocol: str
    address: str
    port: int


@dataclass(frozen=True, slots=True)
class UserFacts:
    exists: bool
    uid: int | None
    shell: str | None


@dataclass(frozen=True, slots=True)
class TimeSyncFacts:
    """Whether the clock is synchronised, None if no tool on the host could tell, and why."""

    synchronised: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class ReachFacts:
    """A TCP connect tried from the host: open, closed (refused) or filtered, and how."""

    state: PortState
    detail: str


_backends: dict[tuple[str, str | None, str | None, bool], Any] = {}
_hosts: dict[tuple[str, str | None, str | None, bool, str, float], Host] = {}


def connect(policy: HostPolicy, timeout_s: float) -> Any:
    """A testinfra host for `policy` whose commands end within `timeout_s`, checked to answer.

    The connection is shared by every policy with the same backend, inventory, netns and sudo.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    key = (policy.backend, policy.ansible_inventory, policy.netns, policy.sudo)
    host = _hosts.get((*key, policy.label, timeout_s))
    if host is not None:
        return host
    label = _describe(policy)
    backend = _backends.get(key)
    host = Host(backend or new_backend(policy, timeout_s, label), label, timeout_s)
    if backend is None:
        check_connection(host, policy)
        _backends[key] = host.backend
    _hosts[(*key, policy.label, timeout_s)] = host
    return host


def run(host: Any, command: str, label: str | None = None) -> str:
    """The stdout of `command` (a fixed command line) on the host, which must exit 0."""
    name = label or host.label
    host.max_bytes = _RUN_MAX_OUTPUT
    try:
        result = host.run(command)
    finally:
        host.max_bytes = MAX_OUTPUT
    if result.rc == 127:
        raise TargetUnreachableError(f"{name}: `{command}`: {command.split()[0]} is not installed")
    if result.rc != 0:
        raise TargetUnreachableError(
            f"{name}: `{command}` exited {result.rc}: {first_line(result.stderr)}"
        )
    return str(result.stdout)


def _describe(policy: HostPolicy) -> str:
    where = policy.backend + (f" in netns {policy.netns}" if policy.netns else "")
    return where if policy.name is None else f"{policy.name} ({where})"


# --- facts ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _asking(host: Any, what: str) -> Iterator[list[Any]]:
    """Record the commands run for `what`; turn testinfra's failures into operator words."""
    journal: list[Any] = []
    host.journal = journal
    label = getattr(host, "label", repr(host))
    try:
        yield journal
    except TargetUnreachableError:
        raise
    except RunError as exc:
        raise TargetUnreachableError(f"{label}: {what}: {exc}") from None
    # testinfra's check_output asserts, find_command raises ValueError, and a module that
    # does not know this system raises NotImplementedError or RuntimeError.
    except (AssertionError, ValueError, RuntimeError, NotImplementedError) as exc:
        raise TargetUnreachableError(f"{label}: cannot read {what}: {_why(exc, journal)}") from None
    finally:
        host.journal = None


def service(host: Any, name: str) -> ServiceFacts:
    """Whether `name` runs and is enabled, as testinfra's service module reads it.

    testinfra picks systemd when systemctl and a systemd /sbin/init are installed, even where
    systemd is not PID 1, and falls back to `service <name> status` when systemctl cannot talk
    to it; the detail lists what was run and what it said.
    """
    with _asking(host, f"service {name}") as ran:
        try:
            module = host.service  # choosing the implementation runs commands of its own
        except (AssertionError, ValueError, RuntimeError, NotImplementedError) as exc:
            reason = f"testinfra has no service module for this host: {_why(exc, ran)}"
            return ServiceFacts(None, None, reason)
        ran.clear()
        unit = module(name)
        running, why_running = _tell(lambda: unit.is_running, ran)
        enabled, why_enabled = _tell(lambda: unit.is_enabled, ran)
        said = "; ".join(_said(result) for result in ran)
        reasons = "; ".join(why for why in (why_running, why_enabled) if why)
        detail = f"{module.__name__}: {said or 'no command run'}" + (
            f"; {reasons}" if reasons else ""
        )
        return ServiceFacts(running, enabled, detail[:800])


def config_test(host: Any, command: str) -> CommandFacts:
    """Run a server's own configuration test (`nginx -t`) and keep how it ended: a failing
    test is a fact to judge, not an unreachable host. Bounded like every command here."""
    with _asking(host, f"`{command}`"):
        result = host.run(command)
    said = "\n".join(part.strip() for part in (result.stdout, result.stderr) if part.strip())
    return CommandFacts(command, int(result.rc), said)


def package(host: Any, name: str) -> PackageFacts:
    """Whether package `name` is installed and its version (dpkg, rpm, apk, pacman, pkg...)."""
    with _asking(host, f"package {name}"):
        found = host.package(name)
        if not found.is_installed:
            return PackageFacts(False, None)
        return PackageFacts(True, str(found.version))


def file(host: Any, path: str) -> FileFacts:
    """Whether `path` exists and, if so, its owner, group and mode."""
    with _asking(host, f"file {path}"):
        found = host.file(path)
        if not found.exists:
            return FileFacts(False, None, None, None)
        return FileFacts(True, str(found.user), str(found.group), int(found.mode))


def listeners(host: Any) -> tuple[ListenerFact, ...]:
    """Every listening tcp and udp socket (ss, else netstat), sorted; unix sockets left out."""
    with _asking(host, "listening sockets") as ran:
        module = host.socket  # finds ss or netstat
        ran.clear()
        specs = module.get_listening_sockets()
        for result in ran:  # testinfra reads ss's output without looking at its exit status
            if result.rc != 0:
                raise TargetUnreachableError(
                    f"{host.label}: cannot list listening sockets: {_said(result)}"
                )
        found = {fact for fact in map(_listener, specs) if fact is not None}
        return tuple(sorted(found, key=lambda fact: (fact.protocol, fact.port, fact.address)))


def _listener(spec: str) -> ListenerFact | None:
    """`tcp://0.0.0.0:22`, `tcp://:::80` or `udp://[fe80::1]%eth0:546` as a fact."""
    protocol, _, rest = spec.partition("://")
    if protocol not in ("tcp", "udp"):
        return None
    address, _, port = rest.rpartition(":")
    return ListenerFact(protocol, address.removeprefix("[").replace("]", ""), int(port))


def user(host: Any, name: str) -> UserFacts:
    """Whether user `name` exists (`id`), its uid and login shell (getent, else /etc/passwd)."""
    with _asking(host, f"user {name}"):
        found = host.user(name)
        if not found.exists:
            return UserFacts(False, None, None)
        return UserFacts(True, int(found.uid), _login_shell(host, name))


def _login_shell(host: Any, name: str) -> str | None:
    entry = host.run("getent passwd %s", name)  # busybox has no getent: read the file then
    text: str = entry.stdout if entry.rc == 0 else host.check_output("cat /etc/passwd")
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] == name:
            return fields[6]
    return None


def sysctl(host: Any, key: str) -> str:
    """Kernel parameter `key` as the kernel prints it (`sysctl -n`, else /proc/sys)."""
    if not _SYSCTL_KEY.fullmatch(key):
        raise ValueError(f"not a sysctl key: {key!r}")
    with _asking(host, f"sysctl {key}"):
        asked = host.run("sysctl -n %s", key)
        if asked.rc == 0:
            return str(asked.stdout).rstrip("\n")
        read = host.run("cat %s", "/proc/sys/" + key.replace(".", "/"))
        if read.rc == 0:
            return str(read.stdout).rstrip("\n")
        said = first_line(asked.stderr) if asked.rc != 127 else first_line(read.stderr)
        raise TargetUnreachableError(f"{host.label}: sysctl {key} cannot be read: {said}")


def disk_free_percent(host: Any, path: str) -> float:
    """Free space on the file system holding `path`, in percent of what users can fill.

    From `df -P` (POSIX, busybox too): available / (used + available), so blocks reserved
    for root count as neither, as in df's own Use%.
    """
    with _asking(host, f"disk {path}"):
        text = host.check_output("df -P %s", path)
        for line in reversed(text.splitlines()[1:]):
            sizes = re.search(r"\s(\d+)\s+(\d+)\s+(\d+)\s+(\d+|-)%?\s", f" {line} ")
            if sizes is None:
                continue
            used, available = int(sizes[2]), int(sizes[3])
            if used + available == 0:
                raise ValueError(f"`df -P {path}`: the file system reports no size: {line}")
            return 100.0 * available / (used + available)
        raise ValueError(f"`df -P {path}` printed no line with sizes: {first_line(text)}")


def memory_used_percent(host: Any) -> float:
    """100 * (1 - MemAvailable / MemTotal) from /proc/meminfo (a container sees the host's)."""
    with _asking(host, "memory"):
        fields: dict[str, int] = {}
        for line in host.check_output("cat /proc/meminfo").splitlines():
            key, _, value = line.partition(":")
            if value.split() and value.split()[0].isdigit():
                fields[key.strip()] = int(value.split()[0])
        if not fields.get("MemTotal"):
            raise ValueError("/proc/meminfo has no MemTotal")
        available = fields.get("MemAvailable")
        if available is None:  # kernels before 3.14
            available = sum(fields.get(key, 0) for key in ("MemFree", "Buffers", "Cached"))
        return 100.0 * (1 - available / fields["MemTotal"])


def load_per_cpu(host: Any) -> float:
    """The 1-minute load average divided by the processors (`nproc`, else /proc/cpuinfo)."""
    with _asking(host, "load"):
        text = host.check_output(
            "cat /proc/loadavg && (nproc 2>/dev/null || grep -c ^processor /proc/cpuinfo)"
        )
        lines = text.split("\n")
        load, cpus = float(lines[0].split()[0]), int(lines[-1].strip())
        if cpus < 1:
            raise ValueError(f"the host counts {cpus} processors")
        return load / cpus


def time_sync(host: Any) -> TimeSyncFacts:
    """Whether the clock is synchronised: timedatectl, then chronyc, ntpstat, ntpq."""
    tried: list[str] = []
    with _asking(host, "time synchronisation"):
        for command, verdict in _TIME_TOOLS:
            result = host.run(command)
            tool = command.split()[0]
            if result.rc == 127:
                tried.append(f"{tool}: not installed")
                continue
            decided, why = verdict(result)
            if decided is not None:
                return TimeSyncFacts(decided, f"`{command}`: {why}")
            tried.append(f"{tool}: exit {result.rc}, {first_line(_told(result)) or 'no output'}")
    return TimeSyncFacts(None, "no tool could tell: " + "; ".join(tried))


def _timedatectl(result: Any) -> tuple[bool | None, str]:
    value = result.stdout.strip()
    if result.rc != 0 or value not in ("yes", "no"):
        return None, ""
    return value == "yes", f"NTPSynchronized={value}"


def _chronyc(result: Any) -> tuple[bool | None, str]:
    for line in result.stdout.splitlines() if result.rc == 0 else ():
        key, _, value = line.partition(":")
        if key.strip() == "Leap status":  # Normal, Insert second, Delete second: in sync
            return value.strip() != "Not synchronised", f"Leap status {value.strip()}"
    return None, ""


def _ntpstat(result: Any) -> tuple[bool | None, str]:
    said = first_line(result.stdout)
    return {0: (True, said), 1: (False, said)}.get(result.rc, (None, ""))  # 2: no ntpd


def _ntpq(result: Any) -> tuple[bool | None, str]:
    if result.rc != 0:
        return None, ""
    peers = [line for line in result.stdout.splitlines() if line.startswith("*")]
    return (True, f"system peer {peers[0].split()[0][1:]}") if peers else (False, "no peer")


_TIME_TOOLS: tuple[tuple[str, Callable[[Any], tuple[bool | None, str]]], ...] = (
    ("timedatectl show -p NTPSynchronized --value", _timedatectl),
    ("chronyc -n tracking", _chronyc),
    ("ntpstat", _ntpstat),
    ("ntpq -pn", _ntpq),
)


# Runs on the target: one word out, the verdict is made here.
_CONNECT_PY = """
import errno, socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    sock = socket.create_connection((host, port), timeout)
except socket.timeout:
    print("timeout")
except socket.gaierror:
    print("unresolved")
except OSError as exc:
    print(errno.errorcode.get(exc.errno or 0, "E%s" % exc.errno))
else:
    print("self" if sock.getsockname()[:2] == sock.getpeername()[:2] else "connected")
    sock.close()
"""


def reach(host: Any, address: str, port: int, timeout_s: float) -> ReachFacts:
    """A TCP connect from the host to `address`:`port`: python3 there, else nc, else bash.

    Refused is closed; no answer within `timeout_s`, or a network that says unreachable (or
    a blackhole route), is filtered.
    """
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is outside 1..65535")
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    where = f"{address}:{port}" if ":" not in address else f"[{address}]:{port}"
    saved = host.timeout_s
    host.timeout_s = max(saved, timeout_s + _REACH_GRACE_S)
    try:
        with _asking(host, f"a connect to {where}"):
            if host.exists("python3"):
                return _reach_python(host, address, port, timeout_s, where)
            if host.exists("nc"):
                return _reach_nc(host, address, port, timeout_s, where)
            if host.exists("bash") and host.exists("timeout"):
                return _reach_bash(host, address, port, timeout_s, where)
    finally:
        host.timeout_s = saved
    raise TargetUnreachableError(
        f"{host.label}: cannot try {where} from the host: it has no python3, nc, or bash "
        "with timeout"
    )


def _reach_python(host: Any, address: str, port: int, timeout_s: float, where: str) -> ReachFacts:
    result = host.run("python3 -c %s %s %s %s", _CONNECT_PY, address, str(port), f"{timeout_s:g}")
    word = result.stdout.strip()
    if result.rc != 0 or not word:
        raise TargetUnreachableError(
            f"{host.label}: python3 could not try {where}: {first_line(result.stderr)}"
        )
    via = "via python3"
    if word == "connected":
        return ReachFacts(PortState.OPEN, f"connected, {via}")
    if word == "self":
        return ReachFacts(PortState.CLOSED, f"connected to itself: nothing listens, {via}")
    if word == "timeout":
        return ReachFacts(PortState.FILTERED, f"no answer within {timeout_s:g} s, {via}")
    if word in ("ECONNREFUSED", "ECONNRESET"):
        return ReachFacts(PortState.CLOSED, f"refused ({word}), {via}")
    if word in _FILTERING:
        text = os.strerror(getattr(errno, word))
        return ReachFacts(PortState.FILTERED, f"{text} ({word}), {via}")
    if word == "EINVAL":  # what Linux answers for a blackhole route
        return ReachFacts(PortState.FILTERED, f"no usable route (EINVAL, blackhole?), {via}")
    if word == "unresolved":
        raise TargetUnreachableError(f"{host.label}: {address} does not resolve on the host")
    raise TargetUnreachableError(f"{host.label}: connect to {where} failed on the host: {word}")


def _reach_nc(host: Any, address: str, port: int, timeout_s: float, where: str) -> ReachFacts:
    seconds = str(max(1, math.ceil(timeout_s)))
    result = host.run("nc -v -z -w %s %s %s", seconds, address, str(port))
    if re.search(r"invalid option|unrecognized option|illegal option|usage:", _told(result), re.I):
        # busybox's small nc knows neither -z nor -v, but runs a program once connected
        result = host.run("nc -w %s %s %s -e true", seconds, address, str(port))
    return _classify(host, result, timeout_s, where, "nc")


def _reach_bash(host: Any, address: str, port: int, timeout_s: float, where: str) -> ReachFacts:
    seconds = f"{timeout_s:g}"
    opener = 'exec 3<>"/dev/tcp/$0/$1"'
    result = host.run("timeout %s bash -c %s %s %s", seconds, opener, address, str(port))
    return _classify(host, result, timeout_s, where, "bash /dev/tcp")


def _classify(host: Any, result: Any, timeout_s: float, where: str, tool: str) -> ReachFacts:
    said = _told(result)
    lowered = said.lower()
    if result.rc == 0:
        return ReachFacts(PortState.OPEN, f"connected, via {tool}")
    if "refused" in lowered:
        return ReachFacts(PortState.CLOSED, f"refused, via {tool}")
    if result.rc == 124 or "timed out" in lowered or "timeout" in lowered:
        return ReachFacts(PortState.FILTERED, f"no answer within {timeout_s:g} s, via {tool}")
    if any(marker in lowered for marker in _NC_FILTERING):
        return ReachFacts(PortState.FILTERED, f"{first_line(said)}, via {tool}")
    raise TargetUnreachableError(
        f"{host.label}: {tool} could not try {where} (exit {result.rc}): "
        f"{first_line(said) or 'no output'}"
    )


# --- wording -------------------------------------------------------------------------------


def _tell(question: Callable[[], Any], ran: list[Any]) -> tuple[bool | None, str]:
    """The answer to a testinfra property, or None and why testinfra could not give one."""
    try:
        return bool(question()), ""
    except (AssertionError, ValueError, RuntimeError, NotImplementedError) as exc:
        return None, _why(exc, ran)


def _why(exc: BaseException, ran: list[Any]) -> str:
    """What failed: the last command run when it is the one testinfra complained about."""
    if isinstance(exc, AssertionError) and ran and ran[-1].rc != 0:
        return _said(ran[-1])
    if isinstance(exc, NotImplementedError):
        return "testinfra does not support this on the host's system"
    return first_line(str(exc)) or type(exc).__name__


def _said(result: Any) -> str:
    command = result.command
    text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
    told = first_line(_told(result))
    return f"`{shown(text)}` exit {result.rc}" + (f" ({told})" if told else "")


def _told(result: Any) -> str:
    return f"{result.stderr.strip()}\n{result.stdout.strip()}".strip()
