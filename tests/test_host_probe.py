"""Host facts and their judgement, against real things: this machine, a netns, a container.

Files, listeners, the namespace and the container are made by the tests and removed after
them. The namespace has only `lo` (plus the routes a test adds), so nothing a test sends
from it can leave it.
"""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gonogo.docker_images import build_image
from gonogo.environment_inside import HostPolicy
from gonogo.errors import TargetUnreachableError
from gonogo.host_state import (
    disk_problems,
    file_problems,
    listening_problems,
    load_problems,
    memory_problems,
    package_problems,
    service_problems,
    sysctl_problems,
    time_problems,
    user_problems,
    version_matches,
)
from gonogo.probes import hosts
from gonogo.probes.hosts import (
    FileFacts,
    ListenerFact,
    PackageFacts,
    ServiceFacts,
    TimeSyncFacts,
    UserFacts,
)
from gonogo.probes.ports import PortState
from tests.docker_containers import engine_or_fail

IP = shutil.which("ip") or "/usr/sbin/ip"
_PUBLIC_HINT = "(every interface); declare it with bind: any, or bind it to loopback/private"
_NS_PORT = 7000  # inside the test's own namespace: nothing else can hold it
_DOCKERFILE = """\
FROM {base}
USER app
CMD ["sleep", "300"]
"""
# A TCP server that says when it listens, run inside the namespace.
_LISTENER = """
import socket, sys
server = socket.create_server((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    server.accept()[0].close()
"""


def _policy(**fields: Any) -> HostPolicy:
    return HostPolicy.model_validate({"name": "box", **fields})


@pytest.fixture(scope="module")
def local() -> Any:
    """This machine through testinfra's local backend."""
    return hosts.connect(HostPolicy(name="box"), timeout_s=20)


@pytest.fixture
def listen() -> Iterator[Callable[[str], int]]:
    """Open a TCP listener on an address, on a port the kernel picks; closed at the end."""
    sockets: list[socket.socket] = []

    def open_listener(address: str) -> int:
        sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
        sockets.append(sock)
        sock.bind((address, 0))
        sock.listen(8)
        return int(sock.getsockname()[1])

    yield open_listener
    for sock in sockets:
        sock.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- this machine: files ---------------------------------------------------------------------


def _me() -> tuple[str, str]:
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def test_file_with_mode_0600_meets_exact_mode_and_max_mode(local: Any, tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("token\n")
    path.chmod(0o600)
    owner, group = _me()
    facts = hosts.file(local, str(path))
    assert facts == FileFacts(True, owner, group, 0o600)
    policy = _policy(
        files={str(path): {"owner": owner, "group": group, "mode": "0600", "max_mode": "0640"}}
    )
    assert file_problems(policy, str(path), facts) == []


def test_file_with_mode_0644_breaks_exact_mode_and_max_mode(local: Any, tmp_path: Path) -> None:
    path = tmp_path / "leaky"
    path.write_text("token\n")
    path.chmod(0o644)
    facts = hosts.file(local, str(path))
    assert facts.mode == 0o644
    policy = _policy(files={str(path): {"owner": "nobody", "mode": "0600", "max_mode": "0600"}})
    assert file_problems(policy, str(path), facts) == [
        f"box: file {path} owner is {_me()[0]}; expected nobody",
        f"box: file {path} mode is 0644; expected 0600",
        f"box: file {path} mode is 0644; expected at most 0600 (extra bits 0044)",
    ]


def test_absent_file_passes_when_expected_absent_and_fails_when_expected(
    local: Any, tmp_path: Path
) -> None:
    path = str(tmp_path / "never-written")
    facts = hosts.file(local, path)
    assert facts == FileFacts(False, None, None, None)
    assert file_problems(_policy(files={path: {"exists": False}}), path, facts) == []
    assert file_problems(_policy(files={path: {}}), path, facts) == [
        f"box: file {path} is absent; expected present"
    ]


def test_present_file_expected_absent_is_a_problem(local: Any) -> None:
    facts = hosts.file(local, "/etc/passwd")
    assert facts.exists
    assert file_problems(
        _policy(files={"/etc/passwd": {"exists": False}}), "/etc/passwd", facts
    ) == ["box: file /etc/passwd is present; expected absent"]


# --- this machine: listeners ---------------------------------------------------------------


def test_loopback_listener_fits_loopback_and_private_but_not_another_address(
    local: Any, listen: Callable[[str], int]
) -> None:
    port = listen("127.0.0.1")
    facts = hosts.listeners(local)
    assert ListenerFact("tcp", "127.0.0.1", port) in facts
    for bind in ("loopback", "private"):
        policy = _policy(listening=[{"port": port, "bind": bind}])
        assert not [
            problem for problem in listening_problems(policy, facts) if f" {port} " in problem
        ]
    policy = _policy(listening=[{"port": port, "bind": ["10.9.9.9"]}])
    assert f"box: port {port} listens on 127.0.0.1; expected exactly 10.9.9.9" in (
        listening_problems(policy, facts)
    )


def test_public_listener_is_a_problem_until_declared_with_bind_any(
    local: Any, listen: Callable[[str], int]
) -> None:
    port = listen("0.0.0.0")  # noqa: S104 - the point of the test
    facts = hosts.listeners(local)
    assert ListenerFact("tcp", "0.0.0.0", port) in facts  # noqa: S104
    undeclared = listening_problems(_policy(), facts)
    assert f"box: port {port} listens on 0.0.0.0 {_PUBLIC_HINT}" in undeclared
    allowed = listening_problems(_policy(undeclared_public_listeners=True), facts)
    assert not [problem for problem in allowed if f" {port} " in problem]
    declared_any = listening_problems(_policy(listening=[{"port": port, "bind": "any"}]), facts)
    assert not [problem for problem in declared_any if f" {port} " in problem]
    declared_loopback = listening_problems(_policy(listening=[{"port": port}]), facts)
    assert (
        f"box: port {port} listens on 0.0.0.0 (every interface); "
        "expected loopback only (127.0.0.0/8, ::1)"
    ) in declared_loopback


def test_declared_port_with_nothing_listening_is_a_problem(local: Any) -> None:
    port = _closed_port()
    facts = hosts.listeners(local)
    policy = _policy(listening=[{"port": port, "bind": "private"}])
    assert (
        f"box: port {port} is not listening; expected listening on loopback or private "
        "addresses only (RFC 1918, fc00::/7, link-local)"
    ) in listening_problems(policy, facts)


# --- this machine: packages, users, sysctl ---------------------------------------------------


def test_installed_package_matches_its_version_prefix_and_not_another(local: Any) -> None:
    python3 = hosts.package(local, "python3")
    assert python3.installed
    assert python3.version is not None and python3.version.startswith("3.11")
    assert hosts.package(local, "dpkg").installed
    policy = _policy(packages={"python3": "3.11", "dpkg": None})
    assert package_problems(policy, "python3", python3) == []
    old = _policy(packages={"python3": "2.7"})
    assert package_problems(old, "python3", python3) == [
        f"box: package python3 is {python3.version}; expected version 2.7*"
    ]


def test_made_up_package_is_not_installed(local: Any) -> None:
    facts = hosts.package(local, "gonogo-no-such-package")
    assert facts == PackageFacts(False, None)
    assert package_problems(
        _policy(packages={"gonogo-no-such-package": None}), "gonogo-no-such-package", facts
    ) == ["box: package gonogo-no-such-package is not installed; expected installed"]


def test_version_prefix_stops_at_a_component_boundary() -> None:
    assert version_matches("3.11.2-1+b1", "3.11")
    assert version_matches("1:2.3.4-1", "2.3")
    assert version_matches("1:2.3.4-1", "1:2.3")
    assert not version_matches("3.110.0", "3.11")
    assert not version_matches("2.7.18", "3.11")


def test_root_has_uid_0_not_5_and_a_missing_user_is_absent(local: Any) -> None:
    root = hosts.user(local, "root")
    assert root.exists and root.uid == 0
    assert root.shell == pwd.getpwnam("root").pw_shell
    assert user_problems(_policy(users={"root": {"uid": 0}}), "root", root) == []
    assert user_problems(_policy(users={"root": {"uid": 5}}), "root", root) == [
        "box: user root uid is 0; expected 5"
    ]
    missing = hosts.user(local, "gonogo-nobody")
    assert missing == UserFacts(False, None, None)
    assert user_problems(_policy(users={"gonogo-nobody": {}}), "gonogo-nobody", missing) == [
        "box: user gonogo-nobody is absent; expected present"
    ]
    absent = _policy(users={"gonogo-nobody": {"exists": False}})
    assert user_problems(absent, "gonogo-nobody", missing) == []


def test_sysctl_reads_the_kernel_value_and_a_wrong_value_fails(local: Any) -> None:
    key = "net.ipv4.ip_forward"
    value = hosts.sysctl(local, key)
    assert value == Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    assert sysctl_problems(_policy(sysctl={key: value}), key, value) == []
    assert sysctl_problems(_policy(sysctl={key: int(value)}), key, value) == []
    wrong = "0" if value == "1" else "1"
    assert sysctl_problems(_policy(sysctl={key: wrong}), key, value) == [
        f"box: sysctl {key} is {value}; expected {wrong}"
    ]


def test_sysctl_with_several_fields_compares_whitespace_normalised(local: Any) -> None:
    key = "net.ipv4.tcp_rmem"
    value = hosts.sysctl(local, key)
    assert "\t" in value  # as the kernel prints it
    assert sysctl_problems(_policy(sysctl={key: " ".join(value.split())}), key, value) == []


def test_unknown_sysctl_key_is_unreachable_with_the_reason(local: Any) -> None:
    with pytest.raises(TargetUnreachableError) as caught:
        hosts.sysctl(local, "net.gonogo.nope")
    assert str(caught.value).startswith("box (local://): sysctl net.gonogo.nope cannot be read: ")


# --- this machine: disks, memory, load, time, services ----------------------------------------


def test_root_disk_free_percent_matches_statvfs_and_the_floors(local: Any) -> None:
    free = hosts.disk_free_percent(local, "/")
    stat = os.statvfs("/")
    used = stat.f_blocks - stat.f_bfree
    expected = 100 * stat.f_bavail / (used + stat.f_bavail)
    assert free == pytest.approx(expected, abs=1.0)
    assert disk_problems(_policy(disks={"/": {"min_free_percent": 0}}), "/", free) == []
    assert disk_problems(_policy(disks={"/": {"min_free_percent": 100}}), "/", free) == [
        f"box: disk / has {free:.1f}% free; expected at least 100%"
    ]


def test_memory_and_load_pass_generous_ceilings_and_fail_tiny_ones(local: Any) -> None:
    used = hosts.memory_used_percent(local)
    assert 0 < used < 100
    assert memory_problems(_policy(max_memory_used_percent=100), used) == []
    assert memory_problems(_policy(max_memory_used_percent=0.0001), used) == [
        f"box: memory is {used:.1f}% used; expected at most 0.0001%"
    ]
    load = hosts.load_per_cpu(local)
    expected_load = float(Path("/proc/loadavg").read_text().split()[0]) / os.cpu_count()
    assert load >= 0 and load == pytest.approx(expected_load, abs=1.0)
    assert load_problems(_policy(max_load_per_cpu=1000), load) == []
    if load > 0.0001:  # an idle machine can show 0.00, which no positive ceiling fails
        assert load_problems(_policy(max_load_per_cpu=0.0001), load) == [
            f"box: load is {load:.2f} per CPU; expected at most 0.0001"
        ]


def test_time_sync_facts_agree_with_the_judgement(local: Any) -> None:
    facts = hosts.time_sync(local)
    problems = time_problems(_policy(time_synchronised=True), facts)
    assert time_problems(_policy(), facts) == []
    if facts.synchronised is None:
        assert facts.detail.startswith("no tool could tell: timedatectl")
        for tool in ("chronyc", "ntpstat", "ntpq"):
            assert tool in facts.detail
        assert problems == [f"box: cannot tell whether the clock is synchronised: {facts.detail}"]
    elif facts.synchronised:
        assert problems == []
    else:
        assert problems == [
            f"box: clock is not synchronised ({facts.detail}); expected synchronised"
        ]


def test_unsynchronised_clock_is_a_problem_only_when_asked_for() -> None:
    facts = TimeSyncFacts(False, "`chronyc -n tracking`: Leap status Not synchronised")
    assert time_problems(_policy(), facts) == []
    assert time_problems(_policy(time_synchronised=True), facts) == [
        "box: clock is not synchronised (`chronyc -n tracking`: Leap status Not synchronised); "
        "expected synchronised"
    ]
    assert time_problems(_policy(time_synchronised=True), TimeSyncFacts(True, "")) == []


def test_service_that_cannot_exist_is_never_running(local: Any) -> None:
    name = "gonogo-no-such-service"
    facts = hosts.service(local, name)
    assert facts.running is not True
    assert name in facts.detail
    problems = service_problems(_policy(services={name: {}}), name, facts)
    assert len(problems) == 1
    assert problems[0].startswith(
        (
            f"box: service {name} is not running; expected running (",
            f"box: cannot tell whether {name} runs: ",
        )
    )


def test_service_that_cannot_tell_is_a_problem_not_a_pass() -> None:
    facts = ServiceFacts(None, None, "`service nginx status` exit 4")
    policy = _policy(services={"nginx": {"running": True, "enabled": True}})
    assert service_problems(policy, "nginx", facts) == [
        "box: cannot tell whether nginx runs: `service nginx status` exit 4",
        "box: cannot tell whether nginx starts at boot: `service nginx status` exit 4",
    ]
    stopped = _policy(services={"nginx": {"running": False}})
    assert service_problems(stopped, "nginx", ServiceFacts(False, True, "")) == []


# --- bind classes with literal facts ---------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "bind", "fits"),
    [
        ("127.0.0.53", "loopback", True),
        ("::1", "loopback", True),
        ("10.0.0.5", "loopback", False),
        ("10.0.0.5", "private", True),
        ("172.31.255.1", "private", True),
        ("192.168.1.1", "private", True),
        ("fe80::1%eth0", "private", True),
        ("fd12::1", "private", True),
        ("::ffff:192.168.1.1", "private", True),
        ("192.0.2.10", "private", False),
        ("0.0.0.0", "private", False),  # noqa: S104
        ("::", "loopback", False),
        ("203.0.113.9", "any", True),
    ],
)
def test_bind_classes(address: str, bind: str, fits: bool) -> None:
    listener = ListenerFact("tcp", address, 5432)
    policy = _policy(listening=[{"port": 5432, "bind": bind}])
    assert (listening_problems(policy, [listener]) == []) is fits


def test_public_udp_listener_on_both_families_is_one_problem() -> None:
    facts = [ListenerFact("udp", "0.0.0.0", 53), ListenerFact("udp", "::", 53)]  # noqa: S104
    assert listening_problems(_policy(), facts) == [
        f"box: udp port 53 listens on 0.0.0.0 and :: {_PUBLIC_HINT}"
    ]


# --- failures: deadlines, output cap, unreachable backends ------------------------------------


def test_command_past_the_deadline_is_killed_with_its_children(tmp_path: Path) -> None:
    host = hosts.connect(HostPolicy(name="slow"), timeout_s=0.5)
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    with pytest.raises(TargetUnreachableError) as caught:
        host.run("sleep 30 & echo $! > %s; wait", str(pidfile))
    assert time.monotonic() - started < 3
    assert str(caught.value).startswith("slow (local://): `sleep 30 & echo $! > ")
    assert str(caught.value).endswith("did not finish within 0.5 s; killed it")
    child = Path(f"/proc/{pidfile.read_text().strip()}/stat")
    deadline = time.monotonic() + 5
    while child.exists() and child.read_text().split()[2] != "Z":
        assert time.monotonic() < deadline, "the backgrounded sleep outlived the deadline"
        time.sleep(0.05)


def test_output_beyond_the_cap_is_refused_not_parsed(local: Any) -> None:
    with pytest.raises(TargetUnreachableError) as caught:
        local.run("head -c 2000000 /dev/zero")
    assert str(caught.value) == (
        "box (local://): `head -c 2000000 /dev/zero` printed more than 1 MiB on stdout; "
        "stopped it rather than judge a cut answer"
    )


def test_run_returns_stdout_and_fails_on_a_failing_command(local: Any) -> None:
    assert hosts.run(local, "echo gonogo") == "gonogo\n"
    with pytest.raises(TargetUnreachableError, match=r"^fw: `false` exited 1: $"):
        hosts.run(local, "false", "fw")
    with pytest.raises(TargetUnreachableError, match="gonogo-no-such-tool is not installed"):
        hosts.run(local, "gonogo-no-such-tool --list", "fw")


def test_ssh_to_a_closed_port_is_unreachable_within_the_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(TargetUnreachableError) as caught:
        hosts.connect(HostPolicy(backend="ssh://nobody@127.0.0.1:1"), timeout_s=2)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith(
        "ssh://nobody@127.0.0.1:1: ssh could not run `echo gonogo-ok` (exit 255): "
    )
    assert "Connection refused" in message


# --- inside a network namespace --------------------------------------------------------------


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    """A fresh network namespace with only `lo` up; deleted at the end of the module."""
    if not os.path.exists(IP):
        pytest.fail(f"`ip` not found at {IP} (Debian package iproute2)", pytrace=False)
    name = f"gonogo-h{os.getpid()}"
    added = subprocess.run(
        [IP, "netns", "add", name], capture_output=True, text=True, timeout=30, check=False
    )
    if added.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {added.stderr.strip()}")
    try:
        subprocess.run([IP, "-n", name, "link", "set", "lo", "up"], check=True, timeout=30)
        yield name
    finally:
        subprocess.run([IP, "netns", "delete", name], check=False, timeout=30)


@pytest.fixture(scope="module")
def in_namespace(namespace: str) -> Any:
    return hosts.connect(_policy(name="ns", netns=namespace), timeout_s=20)


@pytest.fixture
def namespace_listener(namespace: str) -> Iterator[subprocess.Popen[str]]:
    """A TCP server on 127.0.0.1:_NS_PORT inside the namespace, listening when handed over."""
    server = subprocess.Popen(
        [
            IP,
            "netns",
            "exec",
            namespace,
            sys.executable,
            "-c",
            _LISTENER,
            "127.0.0.1",
            str(_NS_PORT),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "listening", server.stderr
        yield server
    finally:
        server.kill()
        server.communicate(timeout=10)


def test_netns_sees_only_the_listener_started_inside_it(
    in_namespace: Any, namespace_listener: subprocess.Popen[str]
) -> None:
    assert hosts.listeners(in_namespace) == (ListenerFact("tcp", "127.0.0.1", _NS_PORT),)
    namespace_listener.kill()
    namespace_listener.wait(timeout=10)
    assert hosts.listeners(in_namespace) == ()


def test_reach_inside_netns_is_open_with_a_listener_and_closed_without(
    in_namespace: Any, namespace_listener: subprocess.Popen[str]
) -> None:
    seen = hosts.reach(in_namespace, "127.0.0.1", _NS_PORT, timeout_s=2)
    assert (seen.state, seen.detail) == (PortState.OPEN, "connected, via python3")
    namespace_listener.kill()
    namespace_listener.wait(timeout=10)
    seen = hosts.reach(in_namespace, "127.0.0.1", _NS_PORT, timeout_s=2)
    assert (seen.state, seen.detail) == (PortState.CLOSED, "refused (ECONNREFUSED), via python3")


def test_reach_through_a_blackhole_route_is_filtered(namespace: str, in_namespace: Any) -> None:
    subprocess.run(
        [IP, "netns", "exec", namespace, IP, "route", "replace", "blackhole", "10.203.250.0/24"],
        check=True,
        timeout=30,
    )
    started = time.monotonic()
    seen = hosts.reach(in_namespace, "10.203.250.1", 80, timeout_s=2)
    assert time.monotonic() - started < 2 + 3
    assert (seen.state, seen.detail) == (
        PortState.FILTERED,
        "no usable route (EINVAL, blackhole?), via python3",
    )


def test_reach_to_a_dropped_port_is_filtered_after_the_timeout(
    namespace: str, in_namespace: Any
) -> None:
    if shutil.which("nft") is None:
        pytest.skip("`nft` not found (Debian package nftables); needed to drop packets")
    rules = f"""
        table inet gonogo_hosts {{
            chain input {{
                type filter hook input priority 0; policy accept;
                tcp dport {_NS_PORT + 1} drop
            }}
        }}
    """
    subprocess.run(
        [IP, "netns", "exec", namespace, "nft", "-f", "-"],
        input=rules,
        text=True,
        check=True,
        timeout=30,
    )
    started = time.monotonic()
    seen = hosts.reach(in_namespace, "127.0.0.1", _NS_PORT + 1, timeout_s=1)
    elapsed = time.monotonic() - started
    assert (seen.state, seen.detail) == (PortState.FILTERED, "no answer within 1 s, via python3")
    assert 1 <= elapsed < 1 + 3


# --- inside a container ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    """A busybox container (user app, host network) on the engine DOCKER_HOST names; removed."""
    engine = engine_or_fail()
    client = engine.client(timeout_s=60)
    try:
        image = build_image(client, "gonogo-test-hosts:1", _DOCKERFILE)
        name = f"gonogo-hosts-{os.getpid()}-{secrets.token_hex(3)}"
        created = client.containers.create(
            image,
            name=name,
            labels={"org.gonogo.test": f"hosts-{os.getpid()}"},
            network_mode="host",
        )
        try:
            created.start()
            # testinfra's docker backend runs the docker CLI: it must find the same engine
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("DOCKER_HOST", engine.base_url)
                yield name
        finally:
            client.api.remove_container(created.id, force=True)
    finally:
        client.close()


@pytest.fixture(scope="module")
def in_container(container: str) -> Any:
    return hosts.connect(HostPolicy(backend=f"docker://{container}"), timeout_s=20)


def test_container_facts_come_from_inside_it(container: str, in_container: Any) -> None:
    assert hosts.file(in_container, "/etc/passwd") == FileFacts(True, "root", "root", 0o644)
    assert hosts.user(in_container, "app") == UserFacts(True, 10001, "/bin/sh")
    assert 0 < hosts.disk_free_percent(in_container, "/") <= 100


def test_reach_from_a_container_without_python_uses_nc(
    in_container: Any, listen: Callable[[str], int]
) -> None:
    port = listen("127.0.0.1")
    seen = hosts.reach(in_container, "127.0.0.1", port, timeout_s=2)
    assert (seen.state, seen.detail) == (PortState.OPEN, "connected, via nc")
    seen = hosts.reach(in_container, "127.0.0.1", _closed_port(), timeout_s=2)
    assert (seen.state, seen.detail) == (PortState.CLOSED, "refused, via nc")


def test_container_without_ss_lists_listeners_with_netstat(
    in_container: Any, listen: Callable[[str], int]
) -> None:
    port = listen("127.0.0.1")  # the container shares this machine's network
    assert ListenerFact("tcp", "127.0.0.1", port) in hosts.listeners(in_container)


def test_service_on_a_container_without_init_tools_cannot_tell(in_container: Any) -> None:
    facts = hosts.service(in_container, "sshd")
    assert (facts.running, facts.enabled) == (None, None)
    assert 'cannot find "service" command' in facts.detail
    problems = service_problems(_policy(services={"sshd": {}}), "sshd", facts)
    assert problems == [f"box: cannot tell whether sshd runs: {facts.detail}"]


def test_missing_container_is_unreachable(container: str) -> None:
    started = time.monotonic()
    with pytest.raises(TargetUnreachableError) as caught:
        hosts.connect(HostPolicy(backend="docker://gonogo-no-such-container"), timeout_s=5)
    assert time.monotonic() - started < 10
    assert str(caught.value).startswith("docker://gonogo-no-such-container: `docker exec ")
    assert str(caught.value).endswith(
        "Error response from daemon: No such container: gonogo-no-such-container"
    )
