"""The ports probe against real sockets: open, closed, filtered, IPv6 and a full loopback scan.

Every target is on this machine: 127.0.0.1 and ::1 here, and 127.0.0.1 inside a throwaway
network namespace (only `lo`, nothing routes out) for dropped packets and DNS failures.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gonogo.errors import TargetUnreachableError
from gonogo.probes import ports
from gonogo.probes.ports import PortState, resolve, scan

# Addresses a listener can have in `ss -ltnH` that accept a connect to 127.0.0.1.
_REACHABLE_VIA_LOOPBACK = {"127.0.0.1", "0.0.0.0", "*", "[::ffff:127.0.0.1]"}  # noqa: S104 (ss text)

# Ports inside the namespace: one listened on, one dropped, one rejected by nftables.
_NS_OPEN, _NS_DROPPED, _NS_REJECTED = 7000, 7001, 7002


@pytest.fixture
def listen() -> Iterator[Callable[..., int]]:
    """Open a listening socket on an address (port 0: the kernel picks); closed at the end."""
    sockets: list[socket.socket] = []

    def open_listener(address: str, port: int = 0) -> int:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sockets.append(sock)
        sock.bind((address, port))
        sock.listen(16)
        return int(sock.getsockname()[1])

    yield open_listener
    for sock in sockets:
        sock.close()


def _free_port() -> int:
    """A port nothing listens on any more (just closed), below the ephemeral range, so that
    no connect to it can be given the same port as its source (see the self-connect test)."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    below = int(ephemeral[0])
    for port in random.sample(range(1024, below), k=min(50, below - 1024)):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            sock.listen(1)
            return port
    raise AssertionError(f"no free port found between 1024 and {below}")


def test_listening_port_is_open(listen: Callable[..., int]) -> None:
    port = listen("127.0.0.1")
    result = scan("127.0.0.1", [port], timeout_s=2)
    (fact,) = result.facts
    assert (fact.host, fact.address, fact.port) == ("127.0.0.1", "127.0.0.1", port)
    assert (fact.state, fact.detail) == (PortState.OPEN, "connected")
    assert 0 <= fact.elapsed_ms < 2000
    assert result.addresses == ("127.0.0.1",)
    assert result.open_ports() == (port,)


def test_just_closed_port_is_closed() -> None:
    port = _free_port()
    (fact,) = scan("127.0.0.1", [port], timeout_s=2).facts
    assert (fact.state, fact.detail) == (PortState.CLOSED, "refused (ECONNREFUSED)")


def test_by_state_groups_every_fact(listen: Callable[..., int]) -> None:
    open_port, closed_port = listen("127.0.0.1"), _free_port()
    groups = scan("127.0.0.1", [closed_port, open_port], timeout_s=2).by_state()
    assert [f.port for f in groups[PortState.OPEN]] == [open_port]
    assert [f.port for f in groups[PortState.CLOSED]] == [closed_port]
    assert groups[PortState.FILTERED] == ()


def test_ipv6_listener_is_open() -> None:
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError as exc:
        pytest.skip(f"kernel has IPv6 disabled: cannot create an IPv6 socket ({exc})")
    with sock:
        try:
            sock.bind(("::1", 0))
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            pytest.skip(f"kernel has IPv6 disabled on lo: cannot bind ::1 ({exc.strerror})")
        sock.listen(4)
        port = sock.getsockname()[1]
        result = scan("::1", [port], timeout_s=2, family=socket.AF_INET6)
    (fact,) = result.facts
    assert (fact.address, fact.state) == ("::1", PortState.OPEN)
    assert scan("[::1]", [port], timeout_s=2).facts[0].state is PortState.CLOSED


def test_family_that_does_not_match_the_address_is_refused() -> None:
    with pytest.raises(TargetUnreachableError, match=r"^host 127\.0\.0\.1 is not an IPv6 address"):
        scan("127.0.0.1", [80], family=socket.AF_INET6)


def test_full_scan_finds_exactly_the_loopback_listeners(listen: Callable[..., int]) -> None:
    # Kernel-chosen ports sit in the ephemeral range, where self-connects happen; the low
    # one is connected to early, so it shows whether answers are read while the scan goes on.
    low = listen("127.0.0.1", _free_port())
    ours = {low} | {listen("127.0.0.1") for _ in range(3)}
    snapshots: list[set[int]] = [_loopback_listeners()]
    stop = threading.Event()

    def sample() -> None:  # other processes may open and close listeners meanwhile
        while not stop.wait(0.02):
            snapshots.append(_loopback_listeners())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = scan("127.0.0.1", range(1, 65536), timeout_s=2)
    finally:
        stop.set()
        sampler.join(timeout=10)
    snapshots.append(_loopback_listeners())
    found = set(result.open_ports())
    seen = set().union(*snapshots)
    always = set.intersection(*snapshots)
    assert len(result.facts) == 65535
    assert ours <= found
    (low_fact,) = (f for f in result.facts if f.port == low)
    assert low_fact.elapsed_ms < 750, "answer read only after the connects that followed it"
    assert found <= seen | ours, f"open but never listening (self-connect?): {found - seen}"
    assert always <= found, f"listening throughout the scan but not found: {always - found}"
    for fact in result.facts:
        if "itself" in fact.detail:
            assert fact.state is PortState.CLOSED


def _loopback_listeners() -> set[int]:
    """TCP ports `ss` lists as listening on an address 127.0.0.1 reaches."""
    lines = subprocess.run(
        ["ss", "-ltnH"], capture_output=True, text=True, check=True, timeout=10
    ).stdout.splitlines()
    listening = set()
    for line in lines:
        address, _, port = line.split()[3].rpartition(":")
        if address.partition("%")[0] in _REACHABLE_VIA_LOOPBACK:
            listening.add(int(port))
    return listening


def test_connect_to_itself_counts_as_closed() -> None:
    # Binding the source port to the target port forces the simultaneous open that an
    # ephemeral-range scan only hits by chance.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert sock.connect_ex(("127.0.0.1", port)) == 0
        state, detail = ports._outcome(sock, 0, ipaddress.ip_address("127.0.0.1"), port)
    assert state is PortState.CLOSED
    assert detail == "connected to itself (source port = port): nothing listens"


def test_poll_fallback_gives_the_same_facts(
    listen: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "_Poller", ports._PollPoller)
    open_port, closed_port = listen("127.0.0.1"), _free_port()
    result = scan("127.0.0.1", [open_port, closed_port], timeout_s=2, concurrency=1)
    assert {f.port: f.state for f in result.facts} == {
        open_port: PortState.OPEN,
        closed_port: PortState.CLOSED,
    }


def test_localhost_resolves_to_loopback() -> None:
    addresses = resolve("localhost", timeout_s=5)
    assert addresses
    assert all(ipaddress.ip_address(a).is_loopback for a in addresses)
    assert resolve("localhost", timeout_s=5, family=socket.AF_INET) == ["127.0.0.1"]


def test_ip_literal_needs_no_lookup() -> None:
    assert resolve("127.0.0.1", timeout_s=5) == ["127.0.0.1"]
    assert resolve("[0:0::1]", timeout_s=5) == ["::1"]


def test_invalid_host_name_does_not_resolve() -> None:
    # A 64-character label fails IDNA encoding before any query could be sent.
    name = "a" * 64 + ".invalid"
    with pytest.raises(TargetUnreachableError) as raised:
        resolve(name, timeout_s=5)
    assert str(raised.value).startswith(
        f"host name {name} does not resolve (not a valid host name: "
    )


@pytest.mark.parametrize("bad", [0, -1, 65536, 100_000])
def test_port_out_of_range_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError, match=rf"^port {bad} is outside 1\.\.65535$"):
        scan("127.0.0.1", [80, bad])


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"timeout_s": 0}, r"^timeout_s must be positive, got 0$"),
        ({"concurrency": 0}, r"^concurrency must be at least 1, got 0$"),
    ],
)
def test_bad_scan_option_is_a_value_error(option: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scan("127.0.0.1", [80], **option)


# --- inside a network namespace: nothing sent there can leave the machine -------------------


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    """A fresh network namespace with only `lo` up; deleted at the end of the module."""
    if shutil.which("ip") is None:
        pytest.skip("`ip` not found (Debian package iproute2); needed for a network namespace")
    name = f"gonogo-ports-{os.getpid()}"
    added = subprocess.run(
        ["ip", "netns", "add", name], capture_output=True, text=True, timeout=30, check=False
    )
    if added.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {added.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False, timeout=30)


@pytest.fixture(scope="module")
def firewalled(namespace: str) -> str:
    """The namespace with nftables dropping one port and rejecting another."""
    if shutil.which("nft") is None:
        pytest.skip("`nft` not found (Debian package nftables); needed to drop packets")
    rules = f"""
        table inet gonogo {{
            chain input {{
                type filter hook input priority 0; policy accept;
                tcp dport {_NS_DROPPED} drop
                tcp dport {_NS_REJECTED} reject with icmpx type host-unreachable
            }}
        }}
    """
    subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "-f", "-"],
        input=rules,
        text=True,
        check=True,
        timeout=30,
    )
    return namespace


def _in_namespace(namespace: str, code: str, resolv_conf: Path | None = None) -> Any:
    """Run Python `code` inside the namespace; it prints one JSON document, returned here.

    With `resolv_conf`, the helper sees that file as /etc/resolv.conf: `ip netns exec` gives
    it a mount namespace of its own, so the bind mount never reaches the rest of the machine.
    """
    python = [sys.executable, "-W", "error", "-c", code]
    if resolv_conf is not None:
        mount = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
        python = ["sh", "-c", mount, "sh", str(resolv_conf), *python]
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *python],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"helper in {namespace} failed:\n{done.stderr}"
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def local_resolv_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A resolv.conf whose only name server is 127.0.0.1 (of the namespace)."""
    path = tmp_path_factory.mktemp("dns") / "resolv.conf"
    path.write_text("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
    return path


@pytest.fixture(scope="module")
def namespace_scan(firewalled: str) -> dict[str, Any]:
    """A full 1-65535 scan of 127.0.0.1 inside the namespace, where only _NS_OPEN listens."""
    code = f"""
import json, socket
from gonogo.probes.ports import PortState, scan
with socket.create_server(("127.0.0.1", {_NS_OPEN})):
    result = scan("127.0.0.1", range(1, 65536), timeout_s=0.5)
groups = result.by_state()
print(json.dumps({{
    "open": result.open_ports(),
    "filtered": {{f.port: [f.detail, f.elapsed_ms] for f in groups[PortState.FILTERED]}},
    "closed": len(groups[PortState.CLOSED]),
    "duration_s": result.duration_s,
}}))
"""
    return dict(_in_namespace(firewalled, code))


def test_dropped_port_is_filtered(namespace_scan: dict[str, Any]) -> None:
    detail, elapsed_ms = namespace_scan["filtered"][str(_NS_DROPPED)]
    assert detail == "no answer within 0.5 s"
    assert 500 <= elapsed_ms < 2000


def test_rejected_port_is_filtered_with_the_reason(namespace_scan: dict[str, Any]) -> None:
    detail, _ = namespace_scan["filtered"][str(_NS_REJECTED)]
    assert detail == "No route to host (EHOSTUNREACH)"


def test_namespace_scan_sees_only_its_listener(namespace_scan: dict[str, Any]) -> None:
    assert namespace_scan["open"] == [_NS_OPEN]
    assert sorted(namespace_scan["filtered"]) == [str(_NS_DROPPED), str(_NS_REJECTED)]
    assert namespace_scan["closed"] == 65535 - 3


def test_unresolvable_name_says_so(namespace: str, local_resolv_conf: Path) -> None:
    # In the namespace the only name server is 127.0.0.1, where nothing listens.
    code = """
import json
from gonogo.errors import TargetUnreachableError
from gonogo.probes.ports import scan
try:
    scan("gonogo-no-such-host.invalid", [80], timeout_s=5)
except TargetUnreachableError as exc:
    print(json.dumps(str(exc)))
"""
    message = _in_namespace(namespace, code, local_resolv_conf)
    assert message.startswith("host name gonogo-no-such-host.invalid does not resolve (")


def test_silent_name_server_times_out(namespace: str, local_resolv_conf: Path) -> None:
    code = """
import json, socket
from gonogo.errors import TargetUnreachableError
from gonogo.probes.ports import resolve
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
    silent.bind(("127.0.0.1", 53))  # takes queries, never answers
    try:
        resolve("gonogo-no-such-host.invalid", timeout_s=0.5)
    except TargetUnreachableError as exc:
        print(json.dumps(str(exc)))
"""
    assert _in_namespace(namespace, code, local_resolv_conf) == (
        "host name gonogo-no-such-host.invalid does not resolve "
        "(no answer within 0.5 s; is DNS reachable?)"
    )
