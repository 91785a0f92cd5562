"""Facts about a host read through a testinfra backend: services, packages, files, sockets, ...

Knows nothing of pytest or of expectations. `connect` opens one testinfra connection per
(backend, inventory, netns, sudo) and checks that it runs a command before handing it out.

Every command is bounded by the `timeout_s` given to `connect`:

- local, netns, ssh, docker, podman, kubectl: testinfra runs each command as a local process
  (`sh -c`, `ip netns exec`, or the ssh / docker / podman / kubectl client). gonogo starts it
  in a session of its own, reads at most 1 MiB of stdout and of stderr (more is an error, not
  a cut answer), and kills the whole process group at the deadline. What a killed client had
  started on the far side (a command in a container, on an ssh host) is not reached from here
  and runs to its own end. ssh also gets ConnectTimeout and BatchMode, so it never waits for a
  password; sudo is `sudo -n` everywhere for the same reason.
- paramiko, ansible: there is no process of ours to kill, so each command runs in a daemon
  thread that gonogo stops waiting for at the deadline (the connection or the `ansible`
  process finishes on its own timeouts); output is capped after the fact.

`reach` lets its command run for its own connect timeout plus 5 s when that is longer than
the host's deadline.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import testinfra.backend
import testinfra.host
from testinfra.backend.base import BaseBackend, CommandResult

from gonogo.environment_inside import HostPolicy
from gonogo.errors import TargetUnreachableError
from gonogo.probes.ports import PortState

__all__ = [
    "MAX_OUTPUT",
    "FileFacts",
    "ListenerFact",
    "PackageFacts",
    "ReachFacts",
    "ServiceFacts",
    "TimeSyncFacts",
    "UserFacts",
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

MAX_OUTPUT = 1024 * 1024  # per stream and command; a longer answer is refused, not parsed
_RUN_MAX_OUTPUT = 4 * 1024 * 1024  # `run`: firewall rulesets can be long
_REACH_GRACE_S = 5.0  # starting python3 or nc on a slow host, on top of the connect timeout
_SHOWN = 160  # characters of a command quoted in a message
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
# What the docker / podman / kubectl client prints when the engine or the container, not the
# command, failed: without this a missing container would read as "command exited 1".
_CLIENT_ERRORS = {
    "docker": (
        b"Error response from daemon",
        b"Cannot connect to the Docker daemon",
        b"error during connect",
    ),
    "podman": (b"Error: no container", b"Error: can only create exec sessions"),
    "kubectl": (b"Error from server", b"The connection to the server", b"error: unable to"),
}


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


# --- bounded backends --------------------------------------------------------------------


class _RunError(Exception):
    """A command that did not run to its end: not started, timed out, or said too much."""


# testinfra ships no type information: its classes are Any to mypy.
class _Backend(BaseBackend):  # type: ignore[misc]
    """What every gonogo backend adds to testinfra's: a deadline, an output cap, `sudo -n`."""

    timeout_s: float = 30.0
    max_bytes: int = MAX_OUTPUT

    def get_sudo_command(self, command: str, sudo_user: str | None) -> str:
        # -n: fail at once where sudo would ask for a password no one is there to type
        if sudo_user is None:
            return str(self.quote("sudo -n /bin/sh -c %s", command))
        return str(self.quote("sudo -n -u %s /bin/sh -c %s", sudo_user, command))


class _ProcessBackend(_Backend):
    """Backends whose commands are local processes (testinfra's run_local): killed in time."""

    client_errors: tuple[bytes, ...] = ()

    def run_local(self, command: str, *args: str) -> Any:
        text = str(self.quote(command, *args))
        rc, out, err = _run_process(self.encode(text), self.timeout_s, self.max_bytes, text)
        if rc != 0 and err.lstrip().startswith(self.client_errors):
            raise _RunError(f"`{_shown(text)}`: {_first_line(err.decode(errors='replace'))}")
        return self.result(rc, self.encode(text), out, err)


class _NetnsBackend(_ProcessBackend):
    """This machine, every command run inside one network namespace."""

    NAME = "local"

    def __init__(self, netns: str, **kwargs: Any) -> None:
        self.netns = netns
        super().__init__(f"netns:{netns}", **kwargs)

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        inner = self.quote(command, *args)
        outer = str(self.quote("ip netns exec %s /bin/sh -c %s", self.netns, inner))
        if self.sudo:  # `ip netns exec` itself needs root
            outer = self.get_sudo_command(outer, None)
        return self.run_local(outer)


class _ThreadedBackend(_Backend):
    """Backends that talk over a library connection: waited for in a thread, up to the deadline."""

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        answers: list[Any] = []
        failures: list[BaseException] = []
        parent_run = super().run

        def work() -> None:
            try:
                answers.append(parent_run(command, *args, **kwargs))
            except BaseException as exc:  # handed to the waiting thread below
                failures.append(exc)

        shown = _shown(str(self.quote(command, *args)))
        worker = threading.Thread(target=work, name=f"gonogo {self.NAME} command", daemon=True)
        worker.start()
        worker.join(self.timeout_s)
        if failures:
            failed = failures[0]
            if not isinstance(failed, Exception) or isinstance(failed, _RunError):
                raise failed
            # paramiko's and ansible's failures are the connection's, never the command's
            said = _first_line(str(failed)) or type(failed).__name__
            raise _RunError(f"{self.NAME} could not run `{shown}`: {said}") from None
        if not answers:
            raise _RunError(f"`{shown}` did not finish within {self.timeout_s:g} s; gave up on it")
        result = answers[0]
        if max(len(result.stdout_bytes), len(result.stderr_bytes)) > self.max_bytes:
            raise _RunError(f"`{shown}` printed more than {_size(self.max_bytes)}; not parsed")
        return result


class _Host(testinfra.host.Host):  # type: ignore[misc]
    """A testinfra host that names itself in errors and can record the commands it runs."""

    def __init__(self, backend: Any, label: str, timeout_s: float) -> None:
        super().__init__(backend)
        self.label = label
        self.timeout_s = timeout_s
        self.max_bytes = MAX_OUTPUT
        self.journal: list[Any] | None = None

    def run(self, command: str, *args: str, **kwargs: Any) -> Any:
        self.backend.timeout_s, self.backend.max_bytes = self.timeout_s, self.max_bytes
        try:
            result = super().run(command, *args, **kwargs)
        except _RunError as exc:
            raise TargetUnreachableError(f"{self.label}: {exc}") from None
        except RuntimeError as exc:
            if not (exc.args and isinstance(exc.args[0], CommandResult)):
                raise
            failed = exc.args[0]  # testinfra's ssh backend: ssh itself failed (exit 255)
            raise TargetUnreachableError(
                f"{self.label}: ssh could not run `{_shown(str(command))}` "
                f"(exit {failed.rc}): {_first_line(failed.stderr)}"
            ) from None
        if self.journal is not None:
            self.journal.append(result)
        return result


_backends: dict[tuple[str, str | None, str | None, bool], Any] = {}
_hosts: dict[tuple[str, str | None, str | None, bool, str, float], _Host] = {}


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
    host = _Host(backend or _new_backend(policy, timeout_s, label), label, timeout_s)
    if backend is None:
        _check_connection(host, policy)
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
            f"{name}: `{command}` exited {result.rc}: {_first_line(result.stderr)}"
        )
    return str(result.stdout)


def _describe(policy: HostPolicy) -> str:
    where = policy.backend + (f" in netns {policy.netns}" if policy.netns else "")
    return where if policy.name is None else f"{policy.name} ({where})"


def _new_backend(policy: HostPolicy, timeout_s: float, label: str) -> Any:
    scheme = policy.backend.partition("://")[0]
    name, kwargs = testinfra.backend.parse_hostspec(policy.backend)
    kwargs["sudo"] = policy.sudo or kwargs.get("sudo", False)
    if policy.ansible_inventory is not None:
        kwargs["ansible_inventory"] = policy.ansible_inventory
    if scheme in ("ssh", "paramiko"):
        kwargs.setdefault("timeout", max(1, math.ceil(timeout_s)))
    if scheme == "ssh":
        kwargs.setdefault("ssh_extra_args", "-o BatchMode=yes")
    try:
        if policy.netns is not None:
            backend: Any = _NetnsBackend(policy.netns, **kwargs)
        else:
            base = testinfra.backend.get_backend_class(scheme)
            mixin = _ThreadedBackend if scheme in ("paramiko", "ansible") else _ProcessBackend
            klass = type(
                f"Gonogo{base.__name__}",
                (mixin, base),
                {"client_errors": _CLIENT_ERRORS.get(scheme, ())},
            )
            backend = klass(**kwargs) if scheme == "local" else klass(name, **kwargs)
    except (RuntimeError, ImportError, ValueError) as exc:  # e.g. paramiko not installed
        raise TargetUnreachableError(f"{label}: cannot open the backend: {exc}") from None
    backend.timeout_s = timeout_s
    return backend


def _check_connection(host: _Host, policy: HostPolicy) -> None:
    """Fail now, with the backend's words, rather than read a failed command as a fact."""
    result = host.run("echo gonogo-ok")
    if result.rc != 0 or result.stdout.strip() != "gonogo-ok":
        said = _first_line(result.stderr) or _first_line(result.stdout) or "no output"
        raise TargetUnreachableError(
            f"{host.label}: cannot run commands through {policy.backend} "
            f"(`echo` exited {result.rc}): {said}"
        )


def _run_process(
    command: bytes, timeout_s: float, max_bytes: int, text: str
) -> tuple[int, bytes, bytes]:
    deadline = time.monotonic() + timeout_s
    try:
        process = subprocess.Popen(  # noqa: S602 - testinfra's command line, arguments quoted
            command,
            shell=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a group to kill, and no terminal to prompt on
        )
    except OSError as exc:
        raise _RunError(f"cannot start `{_shown(text)}`: {exc.strerror or exc}") from None
    late = _RunError(f"`{_shown(text)}` did not finish within {timeout_s:g} s; killed it")
    with process:
        try:
            out, err = _read_capped(process, deadline, max_bytes, text, late)
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise late from None
        except BaseException:
            _kill_group(process)
            raise
    return process.returncode, out, err


def _read_capped(
    process: subprocess.Popen[bytes], deadline: float, max_bytes: int, text: str, late: _RunError
) -> tuple[bytes, bytes]:
    if process.stdout is None or process.stderr is None:
        raise _RunError(f"`{_shown(text)}`: no pipes to read")
    names = {process.stdout.fileno(): "stdout", process.stderr.fileno(): "stderr"}
    read: dict[int, bytearray] = {fd: bytearray() for fd in names}
    with selectors.DefaultSelector() as selector:
        for fd in names:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise late
            for key, _ in selector.select(left):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fd)
                    continue
                read[key.fd] += chunk
                if len(read[key.fd]) > max_bytes:
                    raise _RunError(
                        f"`{_shown(text)}` printed more than {_size(max_bytes)} on "
                        f"{names[key.fd]}; stopped it rather than judge a cut answer"
                    )
    return bytes(read[process.stdout.fileno()]), bytes(read[process.stderr.fileno()])


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # the command's own session: nothing else
    process.wait()


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
    except _RunError as exc:
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
        said = _first_line(asked.stderr) if asked.rc != 127 else _first_line(read.stderr)
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
        raise ValueError(f"`df -P {path}` printed no line with sizes: {_first_line(text)}")


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
            tried.append(f"{tool}: exit {result.rc}, {_first_line(_told(result)) or 'no output'}")
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
    said = _first_line(result.stdout)
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
            f"{host.label}: python3 could not try {where}: {_first_line(result.stderr)}"
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
        return ReachFacts(PortState.FILTERED, f"{_first_line(said)}, via {tool}")
    raise TargetUnreachableError(
        f"{host.label}: {tool} could not try {where} (exit {result.rc}): "
        f"{_first_line(said) or 'no output'}"
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
    return _first_line(str(exc)) or type(exc).__name__


def _said(result: Any) -> str:
    command = result.command
    text = command.decode(errors="replace") if isinstance(command, bytes) else str(command)
    told = _first_line(_told(result))
    return f"`{_shown(text)}` exit {result.rc}" + (f" ({told})" if told else "")


def _told(result: Any) -> str:
    return f"{result.stderr.strip()}\n{result.stdout.strip()}".strip()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0][:300] if lines else ""


def _shown(command: str) -> str:
    flat = " ".join(command.split())
    return flat if len(flat) <= _SHOWN else flat[: _SHOWN - 3] + "..."


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count >= 1024 * 1024 else f"{count} bytes"
