"""TCP ports as facts seen from outside: open, closed (refused) or filtered (no answer).

Knows nothing of pytest or of expectations. A host name is resolved once, then each of its
addresses is connect-scanned with non-blocking sockets watched by epoll (poll elsewhere): a
bounded number in flight and a deadline per connect, so a silent host costs about
ports / concurrency * timeout_s seconds, and 1-65535 on loopback about a second.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import os
import resource
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain

from gonogo.errors import TargetUnreachableError

__all__ = ["DEFAULT_CONCURRENCY", "PortFact", "PortState", "ScanResult", "resolve", "scan"]

# Loopback answers within connect() itself, so a larger window only helps slow or silent
# hosts; 2048 keeps a 65535-port scan of a silent host near 32 timeouts.
DEFAULT_CONCURRENCY = 2048
_SPARE_FDS = 64  # descriptors left to the rest of the process (logging, pytest, a resolver)
_MAX_THREADS = 4
_BATCH = 128  # connects started between two looks at the poller
_PORTS_PER_THREAD = 1024  # below this a thread costs more than it saves
_NONBLOCK: int = getattr(socket, "SOCK_NONBLOCK", 0)  # Linux: saves a syscall per socket

_REFUSED = "refused (ECONNREFUSED)"
# The network or a firewall answered for the host: as good as no answer.
_UNREACHABLE = frozenset(
    {
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.EHOSTDOWN,
        errno.ENETDOWN,
        errno.EACCES,
        errno.EPERM,
    }
)
# A local shortage, not a fact about the target: let sockets in flight finish, then retry.
_BACK_OFF = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM, errno.EAGAIN, errno.EADDRNOTAVAIL}
)

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PortState(enum.StrEnum):
    """What a TCP connect to one port got back."""

    OPEN = "open"  # the handshake completed
    CLOSED = "closed"  # refused: the host answered and nothing listens
    FILTERED = "filtered"  # no answer within the timeout, or the network said unreachable


@dataclass(frozen=True, slots=True)
class PortFact:
    """One connect: to which address and port, what came back, how long it took, and why."""

    host: str
    address: str
    port: int
    state: PortState
    elapsed_ms: float
    detail: str


@dataclass(frozen=True)
class ScanResult:
    """One fact per port asked about, for each address the host resolved to, in that order."""

    host: str
    addresses: tuple[str, ...]
    facts: tuple[PortFact, ...]
    duration_s: float

    def open_ports(self) -> tuple[int, ...]:
        """Ports open on at least one address, ascending."""
        return tuple(sorted({f.port for f in self.facts if f.state is PortState.OPEN}))

    def by_state(self) -> dict[PortState, tuple[PortFact, ...]]:
        """The facts grouped by state; every state is a key, possibly with no facts."""
        groups: dict[PortState, list[PortFact]] = {state: [] for state in PortState}
        for fact in self.facts:
            groups[fact.state].append(fact)
        return {state: tuple(facts) for state, facts in groups.items()}


def resolve(host: str, timeout_s: float, *, family: int | None = None) -> list[str]:
    """The IPv4 and IPv6 addresses of `host`, looked up once; an IP literal needs no lookup."""
    literal = _ip_literal(host)
    if literal is not None:
        if family not in (None, _family_of(literal)):
            raise TargetUnreachableError(f"host {host} is not an {_family_name(family)} address")
        return [literal]
    answers: list[list[str]] = []
    errors: list[str] = []

    def look_up() -> None:
        try:
            infos = socket.getaddrinfo(
                host, None, family or socket.AF_UNSPEC, socket.SOCK_STREAM, socket.IPPROTO_TCP
            )
            answers.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except OSError as exc:
            errors.append(exc.strerror or str(exc))
        except UnicodeError as exc:  # a label the IDNA codec rejects
            errors.append(f"not a valid host name: {exc}")

    # getaddrinfo has no timeout of its own; a daemon thread lets us stop waiting for it.
    lookup = threading.Thread(target=look_up, name=f"gonogo resolve {host}", daemon=True)
    lookup.start()
    lookup.join(timeout_s)
    if answers and answers[0]:
        return answers[0]
    if errors:
        reason = errors[0]
    elif answers:
        reason = f"no {_family_name(family)} address"
    else:
        reason = f"no answer within {timeout_s:g} s; is DNS reachable?"
    raise TargetUnreachableError(f"host name {host} does not resolve ({reason})")


def scan(
    host: str,
    ports: Iterable[int],
    *,
    timeout_s: float = 1.0,
    concurrency: int = DEFAULT_CONCURRENCY,
    family: int | None = None,
) -> ScanResult:
    """TCP-connect each port on each address of `host`; `family` keeps only IPv4 or IPv6."""
    wanted = sorted({_checked_port(port) for port in ports})
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s!r}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
    started = time.perf_counter()
    addresses = resolve(host, timeout_s, family=family)
    # Each socket in flight holds a descriptor: stay under the soft limit rather than raise it.
    soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit != resource.RLIM_INFINITY:
        concurrency = max(1, min(concurrency, soft_limit - _SPARE_FDS))
    # socket(), connect() and close() release the GIL, and on a near host they are most of
    # the cost: a second thread nearly halves a full scan of loopback.
    threads = max(1, min(os.cpu_count() or 1, _MAX_THREADS, len(wanted) // _PORTS_PER_THREAD))
    facts: list[PortFact] = []
    for address in addresses:
        if threads == 1:
            facts += _scan_ports(host, address, wanted, timeout_s, concurrency)
            continue
        share = max(1, concurrency // threads)
        with ThreadPoolExecutor(threads, thread_name_prefix="gonogo-scan") as pool:
            parts = [
                pool.submit(_scan_ports, host, address, wanted[k::threads], timeout_s, share)
                for k in range(threads)
            ]
            merged = chain.from_iterable(part.result() for part in parts)
            facts += sorted(merged, key=lambda fact: fact.port)
    return ScanResult(host, tuple(addresses), tuple(facts), time.perf_counter() - started)


class _EpollPoller:
    """Sockets waiting for their connect to finish, watched with epoll (Linux)."""

    def __init__(self) -> None:
        self._epoll = select.epoll()

    def add(self, fd: int) -> None:
        self._epoll.register(fd, select.EPOLLOUT)

    def remove(self, fd: int) -> None:
        """Nothing to do: closing the socket takes it out of the epoll set."""

    def ready(self, timeout_s: float) -> list[int]:
        return [fd for fd, _ in self._epoll.poll(timeout_s)]

    def close(self) -> None:
        self._epoll.close()


class _PollPoller:
    """The same with poll(2), for systems without epoll; costs O(sockets) per wait."""

    def __init__(self) -> None:
        self._poll = select.poll()

    def add(self, fd: int) -> None:
        self._poll.register(fd, select.POLLOUT)

    def remove(self, fd: int) -> None:
        self._poll.unregister(fd)

    def ready(self, timeout_s: float) -> list[int]:
        return [fd for fd, _ in self._poll.poll(timeout_s * 1000)]

    def close(self) -> None:
        pass


_Poller: type[_EpollPoller | _PollPoller] = (
    _EpollPoller if hasattr(select, "epoll") else _PollPoller
)


class _Attempt:
    """A connect in flight; `done` marks deadline entries left over after the fd was reused."""

    __slots__ = ("done", "port", "sock", "started")

    def __init__(self, sock: socket.socket, port: int, started: float) -> None:
        self.sock = sock
        self.port = port
        self.started = started
        self.done = False


def _scan_ports(
    host: str, address: str, ports: list[int], timeout_s: float, concurrency: int
) -> list[PortFact]:
    """Some ports of one address: start a batch of connects, harvest answers, expire, repeat."""
    ip = ipaddress.ip_address(address.partition("%")[0])
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    # flowinfo and scope id, so that a link-local address keeps its interface
    info = socket.getaddrinfo(address, 0, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST)
    sockaddr_tail = info[0][4][2:]
    rows: list[tuple[int, PortState, float, str]] = []  # PortFact fields after `address`
    queue = deque(ports)
    in_flight: dict[int, _Attempt] = {}
    deadlines: deque[tuple[float, _Attempt]] = deque()  # start order is deadline order
    limit = concurrency
    now = time.monotonic
    poller = _Poller()

    def settle(sock: socket.socket, port: int, started: float, code: int | None) -> None:
        """Record the fact for `port` (`code` None: it timed out) and close its socket."""
        try:
            if code is None:
                state, detail = PortState.FILTERED, f"no answer within {timeout_s:g} s"
            else:
                state, detail = _outcome(sock, code, ip, port)
        finally:
            sock.close()
        rows.append((port, state, (now() - started) * 1000, detail))

    try:
        while queue or in_flight:
            # Start a batch, not the whole queue: answers waiting in the poller are read
            # (and timed) between batches, not after the last connect.
            for _ in range(_BATCH):
                if not queue or len(in_flight) >= limit:
                    break
                try:
                    sock = socket.socket(family, socket.SOCK_STREAM | _NONBLOCK)
                except OSError as exc:
                    if exc.errno not in _BACK_OFF or not in_flight:
                        raise
                    limit = len(in_flight)
                    break
                started = now()
                if not _NONBLOCK:
                    sock.setblocking(False)
                code = sock.connect_ex((address, queue[0], *sockaddr_tail))
                if code in _BACK_OFF and in_flight:
                    sock.close()
                    limit = len(in_flight)
                    break
                port = queue.popleft()
                if code == errno.EINPROGRESS:
                    # On loopback the refusal is in before connect() returns: read it now
                    # and spare the socket a trip through the poller.
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or code
                if code == errno.ECONNREFUSED:  # nearly every port: kept short
                    sock.close()
                    rows.append((port, PortState.CLOSED, (now() - started) * 1000, _REFUSED))
                    continue
                if code != errno.EINPROGRESS:
                    settle(sock, port, started, code)
                    continue
                attempt = _Attempt(sock, port, started)
                in_flight[sock.fileno()] = attempt
                deadlines.append((started + timeout_s, attempt))
                poller.add(sock.fileno())
            while deadlines and deadlines[0][1].done:
                deadlines.popleft()
            wait = 0.0
            if deadlines and not (queue and len(in_flight) < limit):
                wait = max(0.0, deadlines[0][0] - now())
            for fd in poller.ready(wait):
                attempt = in_flight.pop(fd)
                attempt.done = True
                poller.remove(fd)
                code = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                settle(attempt.sock, attempt.port, attempt.started, code)
            moment = now()
            while deadlines and (deadlines[0][1].done or deadlines[0][0] <= moment):
                attempt = deadlines.popleft()[1]
                if not attempt.done:
                    attempt.done = True
                    del in_flight[attempt.sock.fileno()]
                    poller.remove(attempt.sock.fileno())
                    settle(attempt.sock, attempt.port, attempt.started, None)
    finally:
        for attempt in in_flight.values():
            attempt.sock.close()
        poller.close()
    rows.sort()
    return [PortFact(host, address, *row) for row in rows]


def _outcome(sock: socket.socket, code: int, ip: _IPAddress, port: int) -> tuple[PortState, str]:
    """Classify a finished connect; `code` is its errno, 0 when the handshake completed."""
    if code == 0:
        local_address, local_port = sock.getsockname()[:2]
        # On loopback, a connect to a free port in the ephemeral range can be given that same
        # port as its source and complete a TCP simultaneous open with itself.
        if local_port == port and ipaddress.ip_address(local_address.partition("%")[0]) == ip:
            return PortState.CLOSED, "connected to itself (source port = port): nothing listens"
        return PortState.OPEN, "connected"
    name = errno.errorcode.get(code, str(code))
    if code in (errno.ECONNREFUSED, errno.ECONNRESET):
        return PortState.CLOSED, f"refused ({name})"
    if code in _UNREACHABLE:
        return PortState.FILTERED, f"{os.strerror(code)} ({name})"
    raise TargetUnreachableError(f"{ip} port {port}: connect failed: {os.strerror(code)} ({name})")


def _checked_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"port {port!r} is outside 1..65535")
    return port


def _ip_literal(host: str) -> str | None:
    """`host` as a normalised IP address if it is one; brackets around IPv6 are allowed."""
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _family_of(address: str) -> int:
    version = ipaddress.ip_address(address.partition("%")[0]).version
    return socket.AF_INET6 if version == 6 else socket.AF_INET


def _family_name(family: int | None) -> str:
    if family == socket.AF_INET:
        return "IPv4"
    if family == socket.AF_INET6:
        return "IPv6"
    return "IPv4 or IPv6" if family is None else f"family {family}"
