"""Two throwaway network namespaces joined by a veth pair, for tests that need a real firewall.

Rules loaded into a namespace filter only that namespace, and the veth pair is its only link,
so nothing a test sends can leave the pair or touch the machine's own firewall. Everything
is deleted at the end of the block, however the block ends.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest

from tests.processes import stop

IP = shutil.which("ip") or "/usr/sbin/ip"
_INSTALL = "run scripts/install-system-packages.sh (Debian package iproute2)"
_pairs = itertools.count()
_PEER = ("peer", "name", "veth-b", "netns")

# A small TCP server: accepts and closes, and says when it listens so the caller need not poll.
_LISTENER = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
server = socket.create_server((host, port), family=family)
print("listening", flush=True)
while True:
    connection, _ = server.accept()
    connection.close()
"""


@dataclass(frozen=True)
class NamespacePair:
    """Namespace `a` at `a_address` and namespace `b` at `b_address`, on one /30."""

    a: str
    b: str
    a_address: str
    b_address: str


@contextlib.contextmanager
def namespace_pair(prefix: str = "gonogo") -> Iterator[NamespacePair]:
    """Two fresh namespaces, a veth pair between them, addresses and links up; then deleted.

    Skips the test when the kernel or the permissions refuse a namespace (with ip's reason),
    and fails it when `ip` itself is missing.
    """
    if not os.path.exists(IP):
        pytest.fail(f"`ip` not found at {IP}; {_INSTALL}", pytrace=False)
    number = next(_pairs)
    a, b = (f"{prefix}-{os.getpid()}-{number}-{side}" for side in "ab")
    octet = _octet(number)
    pair = NamespacePair(a, b, f"10.203.{octet}.1", f"10.203.{octet}.2")
    created: list[str] = []
    try:
        for name in (a, b):
            _add_namespace(name)
            created.append(name)
        _link(pair)
        yield pair
    finally:
        for name in created:
            subprocess.run([IP, "netns", "delete", name], check=False, timeout=30)


def _octet(number: int) -> int:
    """The X of 10.203.X.0/30 for this process's `number`-th pair.

    Each pair has routing tables of its own, so equal subnets could not collide anyway; an
    octet per process and pair keeps xdist workers' addresses apart in captures and logs.
    """
    return (os.getpid() + number) % 256


def _add_namespace(name: str) -> None:
    added = subprocess.run(
        [IP, "netns", "add", name], capture_output=True, text=True, timeout=30, check=False
    )
    if added.returncode != 0:
        pytest.skip(f"cannot create network namespace {name}: {added.stderr.strip()}")


def _link(pair: NamespacePair) -> None:
    """The veth pair, created straight inside the namespaces so its names never meet others'."""
    commands = [
        [IP, "link", "add", "veth-a", "netns", pair.a, "type", "veth", *_PEER, pair.b],
        [IP, "-n", pair.a, "address", "add", f"{pair.a_address}/30", "dev", "veth-a"],
        [IP, "-n", pair.b, "address", "add", f"{pair.b_address}/30", "dev", "veth-b"],
    ]
    for namespace, device in ((pair.a, "veth-a"), (pair.b, "veth-b")):
        commands += [
            [IP, "-n", namespace, "link", "set", "lo", "up"],
            [IP, "-n", namespace, "link", "set", device, "up"],
        ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed: {done.stderr.strip()}", pytrace=False)


def run_in(
    namespace: str, argv: Sequence[str], input: str | None = None, timeout: float = 30
) -> str:
    """Run `argv` inside `namespace` and return its stdout; fails the test if it fails."""
    command = [IP, "netns", "exec", namespace, *argv]
    try:
        done = subprocess.run(
            command, input=input, capture_output=True, text=True, timeout=timeout, check=True
        )
    except subprocess.CalledProcessError as exc:
        failed = exc  # failed outside the handler: the report shows stderr, not a chained trace
    else:
        return done.stdout
    pytest.fail(
        f"`{' '.join(argv)}` in {namespace} exited {failed.returncode}: {failed.stderr.strip()}",
        pytrace=False,
    )


@contextlib.contextmanager
def listen_in(namespace: str, address: str, port: int, timeout_s: float = 5) -> Iterator[None]:
    """A TCP server on `address`:`port` inside `namespace`, listening before the block starts.

    Stops the one process it started (TERM, then KILL) when the block ends.
    """
    # `ip netns exec` execs the command, so this pid is the server's own.
    server = subprocess.Popen(
        [IP, "netns", "exec", namespace, sys.executable, "-c", _LISTENER, address, str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _await_listening(server, f"{namespace} {address}:{port}", timeout_s)
        yield
    finally:
        stop(server, timeout_s=5)
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()


def _await_listening(server: subprocess.Popen[str], what: str, timeout_s: float) -> None:
    assert server.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([server.stdout], [], [], deadline - time.monotonic())
        if ready:
            if server.stdout.readline().strip() == "listening":
                return
            break  # end of output: the server exited
    server.kill()
    _, errors = server.communicate(timeout=5)
    pytest.fail(
        f"listener on {what} did not start within {timeout_s:g} s: {errors.strip()}",
        pytrace=False,
    )
