"""The container probe and judgements against real containers on a real Docker engine.

One set of containers per module run, each made to show one side of a verdict: healthy,
unhealthy, still starting, exited, crash-looping, root and privileged, limited, read-only,
chatty, logging errors. Cases no local engine can produce (a digest reference, a registry
port in the image name) are judged on facts built by hand.
"""

from __future__ import annotations

import dataclasses
import socket
from datetime import UTC, datetime, timedelta

import docker.api.client
import docker_containers
import pytest
from docker_containers import DockerLab, free_ports, wait_until

from gonogo import containers as judge
from gonogo.containers import ASPECTS, log_errors, since_for
from gonogo.environment_inside import ContainerPolicy, ContainerSelector
from gonogo.errors import TargetUnreachableError
from gonogo.probes.containers import (
    ContainerFacts,
    ContainerSet,
    LogExcerpt,
    PublishedPort,
    inspect_containers,
    read_logs,
)

docker_lab = docker_containers.docker_lab  # the session fixture, visible to this module

TIMEOUT_S = 10.0
LONG_LINE = "ERROR " + "x" * 300
BAD_SCRIPT = f"""\
echo "ERROR: on stderr" >&2
sleep 1
echo starting
echo "ERROR: database unreachable"
echo "{LONG_LINE}"
echo "ERROR four"
echo "all good now"
sleep 600
"""
CHATTY_SCRIPT = """\
PAD=................................................................................................
i=0
while [ $i -lt 2000 ]; do
  echo "line $i $PAD"
  i=$((i+1))
done
echo END
sleep 600
"""
SINCE_SCRIPT = 'echo "ERROR old line"; sleep 2; echo "fine new line"; sleep 600'
SECOND_NS = 1_000_000_000
LIMITS = {"nano_cpus": SECOND_NS // 2, "mem_limit": "64m"}


@dataclasses.dataclass
class Running:
    """The module's containers, by role, and what was chosen for them at start."""

    lab: DockerLab
    names: dict[str, str]
    bad_ports: tuple[int, int]
    web_project: str
    web_service: str


@pytest.fixture(scope="module")
def running(docker_lab: DockerLab) -> Running:
    """Every container the tests judge, started once and waited for until each is settled."""
    lab = docker_lab
    http_port, *bad_ports = free_ports(3)
    web_project, web_service = f"gonogo-test-{lab.session}", f"web-{lab.session}"
    made = {
        "good": lab.run(
            "good",
            lab.healthy_image,
            network_mode="host",
            environment={"PORT": str(http_port)},
            restart_policy={"Name": "unless-stopped"},
            read_only=True,
            log_config={"Type": "json-file", "Config": {"max-size": "1m"}},
            **LIMITS,
        ),
        "bad": lab.run(
            "bad",
            lab.latest_image,
            command=["sh", "-c", BAD_SCRIPT],
            cap_add=["SYS_ADMIN"],
            ports={"80/tcp": ("127.0.0.1", bad_ports[0]), "81/tcp": ("127.0.0.1", bad_ports[1])},
            log_config={"Type": "json-file", "Config": {}},
        ),
        # The image's healthcheck asks for an httpd that `sleep` never starts.
        "unhealthy": lab.run(
            "unhealthy",
            lab.healthy_image,
            command=["sleep", "600"],
            cpu_period=100_000,
            cpu_quota=50_000,
            mem_limit="64m",
        ),
        # First check in five minutes: the container stays `starting` throughout the tests.
        "starting": lab.run(
            "starting",
            lab.healthy_image,
            command=["sleep", "600"],
            healthcheck={"test": ["CMD-SHELL", "true"], "interval": 300 * SECOND_NS},
        ),
        # Not root: runc cannot raise every capability of a privileged root container in a
        # sandbox whose own bounding set lacks one (CAP_SYS_RESOURCE here).
        "privileged": lab.run(
            "privileged", lab.root_image, user="app", privileged=True, cap_add=["SYS_ADMIN"]
        ),
        "exited": lab.run("exited", lab.root_image, command=["false"]),
        "crashloop": lab.run(
            "crashloop",
            lab.root_image,
            command=["false"],
            restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
        ),
        "since": lab.run("since", lab.root_image, command=["sh", "-c", SINCE_SCRIPT]),
        "chatty": lab.run("chatty", lab.root_image, command=["sh", "-c", CHATTY_SCRIPT]),
        "local": lab.run("local", lab.root_image, log_config={"Type": "local"}),
        "nolog": lab.run("nolog", lab.root_image, log_config={"Type": "none"}),
    }
    compose = {"com.docker.compose.project": web_project, "com.docker.compose.service": web_service}
    for _ in range(2):
        lab.run("web", lab.root_image, labels=compose, restart_policy={"Name": "unless-stopped"})

    api = lab.client.api

    def state(role: str) -> dict:
        return api.inspect_container(made[role].id)["State"]

    def logged(role: str, text: str) -> bool:
        return text in api.logs(made[role].id).decode(errors="replace")

    wait_until(
        "good to be healthy", lambda: state("good").get("Health", {}).get("Status") == "healthy"
    )
    wait_until(
        "unhealthy to be unhealthy", lambda: state("unhealthy")["Health"]["Status"] == "unhealthy"
    )
    wait_until("exited to exit", lambda: state("exited")["Status"] == "exited")
    wait_until(
        "crashloop to give up after 2 restarts",
        lambda: (
            state("crashloop")["Status"] == "exited"
            and api.inspect_container(made["crashloop"].id)["RestartCount"] == 2
        ),
    )
    wait_until("bad to log its last ERROR line", lambda: logged("bad", "all good now"))
    wait_until("since to log its second line", lambda: logged("since", "fine new line"))
    wait_until("chatty to log 200 KB", lambda: logged("chatty", "END"))
    names = {role: container.name for role, container in made.items()}
    return Running(lab, names, (bad_ports[0], bad_ports[1]), web_project, web_service)


def policy(running: Running, role: str | None = None, **fields) -> ContainerPolicy:
    select = fields.pop("select", None) or running.lab.select(role)
    return ContainerPolicy(select=select, engine=running.lab.engine, **fields)


def look(chosen: ContainerPolicy) -> ContainerSet:
    return inspect_containers(chosen.select, engine=chosen.engine, timeout_s=TIMEOUT_S)


def judged(aspect: str, running: Running, role: str, **fields) -> list[str]:
    chosen = policy(running, role, **fields)
    return ASPECTS[aspect](chosen, look(chosen))


def reader(chosen: ContainerPolicy, max_bytes: int | None = None):
    logs = chosen.logs
    assert logs is not None
    now = datetime.now(UTC)
    return lambda facts: read_logs(
        facts,
        engine=chosen.engine,
        since=since_for(chosen, facts, now),
        max_bytes=max_bytes or logs.max_bytes,
        timeout_s=TIMEOUT_S,
    )


# -- the probe: facts as docker inspect has them ------------------------------------------------


def test_good_container_facts(running: Running):
    found = look(policy(running, "good"))
    assert found.engine == running.lab.engine
    (facts,) = found.containers
    assert facts.name == running.names["good"]
    assert len(facts.id) == 12
    assert facts.image == running.lab.healthy_image
    assert facts.image_id.startswith("sha256:")
    assert facts.status == "running"
    assert facts.health == "healthy"
    assert facts.healthcheck_defined
    assert facts.started_at is not None and facts.started_at.tzinfo is not None
    assert facts.user == "app"
    assert facts.cpus == 0.5
    assert facts.memory == 64 * 1024**2
    assert facts.restart_policy == "unless-stopped"
    assert facts.read_only_rootfs
    assert (facts.log_driver, facts.log_options) == ("json-file", {"max-size": "1m"})
    assert facts.published_ports == ()
    assert facts.labels["org.gonogo.test.role"] == "good"


def test_bad_container_facts(running: Running):
    (facts,) = look(policy(running, "bad")).containers
    assert facts.image == running.lab.latest_image
    assert facts.user == ""
    assert not facts.privileged
    assert facts.cap_add == ("SYS_ADMIN",)
    assert (facts.cpus, facts.memory) == (None, None)
    assert facts.health is None and not facts.healthcheck_defined
    assert facts.restart_policy == "no"
    first, second = running.bad_ports
    assert facts.published_ports == (  # ports ascending, as free_ports gave them
        PublishedPort("127.0.0.1", first, "80/tcp"),
        PublishedPort("127.0.0.1", second, "81/tcp"),
    )


def test_cpu_quota_reads_as_cpus(running: Running):
    (facts,) = look(policy(running, "unhealthy")).containers
    assert facts.cpus == 0.5


def test_health_output_is_the_last_check(running: Running):
    (facts,) = look(policy(running, "unhealthy")).containers
    assert facts.health == "unhealthy"
    assert "wget" in facts.health_output
    assert len(facts.health_output) <= 300


def test_select_by_exact_name(running: Running):
    # Names end in a counter, so the first one's name is a prefix of the tenth's and on.
    name = running.names["good"]
    assert [other for other in running.names.values() if other.startswith(f"{name}0")]
    found = look(policy(running, select=ContainerSelector(container=name)))
    assert [c.name for c in found.containers] == [name]


def test_select_by_compose_project_and_service(running: Running):
    select = ContainerSelector(project=running.web_project, service=running.web_service)
    found = look(policy(running, select=select))
    assert len(found.containers) == 2
    assert [c.name for c in found.containers] == sorted(c.name for c in found.containers)


def test_select_by_compose_service_alone(running: Running):
    found = look(policy(running, select=ContainerSelector(service=running.web_service)))
    assert len(found.containers) == 2


def test_select_by_labels(running: Running):
    found = look(policy(running, "exited"))
    assert [c.name for c in found.containers] == [running.names["exited"]]


def test_container_removed_between_list_and_inspect_is_left_out(running, monkeypatch):
    lab = running.lab
    doomed = lab.run("doomed", lab.root_image)
    real = docker.api.client.APIClient.inspect_container

    def inspect_after_removal(self, container):
        if container == doomed.id:
            lab.client.api.remove_container(doomed.id, force=True)
        return real(self, container)

    monkeypatch.setattr(docker.api.client.APIClient, "inspect_container", inspect_after_removal)
    select = ContainerSelector(labels={"org.gonogo.test": lab.session})
    found = look(policy(running, select=select))
    assert doomed.name not in [c.name for c in found.containers]
    assert running.names["good"] in [c.name for c in found.containers]


@pytest.mark.parametrize(
    ("engine", "said"),
    [
        ("unix:///nonexistent/docker.sock", "no socket at /nonexistent/docker.sock"),
        ("tcp://127.0.0.1:1", "connection refused"),
    ],
)
def test_unreachable_engine_is_named(engine, said):
    with pytest.raises(TargetUnreachableError) as caught:
        inspect_containers(ContainerSelector(container="api"), engine=engine, timeout_s=2)
    message = str(caught.value)
    assert message.startswith(f"Docker engine at {engine} did not answer: {said}")
    assert "is dockerd running, or is DOCKER_HOST set to the right engine?" in message


def test_silent_engine_times_out(tmp_path):
    path = tmp_path / "silent.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(str(path))
        silent.listen()  # accepts into the backlog, never answers
        engine = f"unix://{path}"
        with pytest.raises(TargetUnreachableError) as caught:
            inspect_containers(ContainerSelector(container="api"), engine=engine, timeout_s=0.3)
    assert str(caught.value) == (
        f"Docker engine at {engine} did not answer: no answer within 0.3 s; "
        "is the engine overloaded, or timeout_s too short for it?"
    )


def test_unreachable_engine_when_reading_logs():
    facts = _facts(name="api-1")
    with pytest.raises(TargetUnreachableError, match=r"tcp://127\.0\.0\.1:1 did not answer"):
        read_logs(
            facts, engine="tcp://127.0.0.1:1", since=datetime.now(UTC), max_bytes=10, timeout_s=2
        )


def test_logs_of_a_driver_that_keeps_none_cannot_be_read(running: Running):
    (facts,) = look(policy(running, "nolog")).containers
    with pytest.raises(TargetUnreachableError) as caught:
        read_logs(
            facts, engine=running.lab.engine, since=datetime.now(UTC), max_bytes=10, timeout_s=5
        )
    assert str(caught.value) == (
        f"Docker engine at {running.lab.engine} could not read the logs of {facts.name}: "
        "501 configured logging driver does not support reading"
    )


def test_read_logs_stops_at_max_bytes(running: Running):
    (facts,) = look(policy(running, "chatty")).containers
    since = datetime.fromtimestamp(1, UTC)
    cut = read_logs(facts, engine=running.lab.engine, since=since, max_bytes=10_240, timeout_s=5)
    assert cut.truncated
    assert cut.bytes_read == 10_240
    assert len(cut.text.encode()) <= 10_240
    assert cut.text.startswith("line 0 ")
    whole = read_logs(facts, engine=running.lab.engine, since=since, max_bytes=1 << 20, timeout_s=5)
    assert not whole.truncated
    assert whole.bytes_read > 200_000
    assert whole.text.endswith("END\n")


# -- judgements on real containers: each verdict both ways --------------------------------------

GOOD_POLICY = {"health": "required", "read_only_rootfs": True, "published_ports": []}


@pytest.mark.parametrize("aspect", list(ASPECTS))
def test_good_container_passes(running: Running, aspect: str):
    assert judged(aspect, running, "good", **GOOD_POLICY) == []


def test_good_container_logs_are_clean(running: Running):
    chosen = policy(running, "good")
    assert log_errors(chosen, look(chosen), reader(chosen)) == []


def test_exited_container_is_not_running(running: Running):
    assert judged("running", running, "exited") == [
        f"{running.names['exited']}: exited with code 1; expected running"
    ]


def test_health_required_needs_a_healthcheck(running: Running):
    assert judged("health", running, "bad", health="required") == [
        f"{running.names['bad']}: no healthcheck defined; expected one that reports healthy "
        "(HEALTHCHECK in the image or `healthcheck:` in compose)"
    ]


def test_health_if_defined_passes_without_a_healthcheck(running: Running):
    assert judged("health", running, "bad", health="if_defined") == []


def test_unhealthy_container_is_named_with_its_last_check(running: Running):
    (problem,) = judged("health", running, "unhealthy", health="if_defined")
    name = running.names["unhealthy"]
    assert problem.startswith(f"{name}: unhealthy; last check said \"wget: can't connect")
    assert problem.endswith("; expected healthy")


def test_starting_counts_as_not_healthy(running: Running):
    assert judged("health", running, "starting") == [
        f"{running.names['starting']}: health starting: no check has passed yet, which is not "
        "healthy; expected healthy"
    ]


def test_health_ignore_passes_unhealthy(running: Running):
    assert judged("health", running, "unhealthy", health="ignore") == []


def test_restart_policy_no_is_a_problem(running: Running):
    assert judged("restart_policy", running, "bad") == [
        f"{running.names['bad']}: restart policy no; expected unless-stopped or always "
        "(`restart: unless-stopped` in compose)"
    ]


def test_restart_policy_any_when_null(running: Running):
    assert judged("restart_policy", running, "bad", restart_policy=None) == []


def test_root_user_is_a_problem(running: Running):
    assert judged("user", running, "bad") == [
        f"{running.names['bad']}: runs as root (user ''); expected a non-root user "
        "(set USER in the image or `user:` in compose)"
    ]


def test_root_user_allowed_when_non_root_is_off(running: Running):
    assert judged("user", running, "bad", non_root=False) == []


def test_missing_limits_are_a_problem(running: Running):
    assert judged("limits", running, "bad") == [
        f"{running.names['bad']}: no CPU and no memory limit; expected both "
        "(--cpus and --memory, or deploy.resources.limits in compose)"
    ]


def test_limits_over_their_bounds(running: Running):
    bounds = {"max_cpus": 0.25, "max_memory": "32M"}
    name = running.names["good"]
    assert judged("limits", running, "good", limits=bounds) == [
        f"{name}: CPU limit 0.5; expected at most 0.25",
        f"{name}: memory limit 64 MiB; expected at most 32 MiB",
    ]


def test_limits_within_their_bounds(running: Running):
    bounds = {"max_cpus": 1, "max_memory": "64M", "min_memory": "32M"}
    assert judged("limits", running, "good", limits=bounds) == []


def test_memory_under_its_floor(running: Running):
    assert judged("limits", running, "good", limits={"min_memory": "128M"}) == [
        f"{running.names['good']}: memory limit 64 MiB; expected at least 128 MiB"
    ]


def test_privileged_and_sys_admin_are_problems(running: Running):
    name = running.names["privileged"]
    assert judged("privileges", running, "privileged") == [
        f"{name}: runs privileged (every capability, every device); expected unprivileged "
        "(drop --privileged / `privileged: true`)",
        f"{name}: adds 1 forbidden capability SYS_ADMIN; expected none of them "
        "(remove from cap_add)",
    ]


def test_privileged_allowed_and_capability_not_forbidden(running: Running):
    fields = {"allow_privileged": True, "forbidden_capabilities": ["NET_ADMIN"]}
    assert judged("privileges", running, "privileged", **fields) == []


def test_privileged_facts(running: Running):
    (facts,) = look(policy(running, "privileged")).containers
    assert facts.privileged
    assert facts.cap_add == ("SYS_ADMIN",)


def test_sys_admin_without_privileged(running: Running):
    assert judged("privileges", running, "bad") == [
        f"{running.names['bad']}: adds 1 forbidden capability SYS_ADMIN; expected none of them "
        "(remove from cap_add)"
    ]


def test_latest_image_is_a_problem(running: Running):
    assert judged("image", running, "bad") == [
        f"{running.names['bad']}: runs {running.lab.latest_image}; expected an explicit tag "
        "other than latest, or a digest"
    ]


def test_pinned_tag_passes_tag_but_not_digest(running: Running):
    assert judged("image", running, "good", image="tag") == []
    assert judged("image", running, "good", image="digest") == [
        f"{running.names['good']}: runs {running.lab.healthy_image}; expected a digest reference "
        "(name@sha256:...), so every host runs the same bytes"
    ]


def test_published_ports_when_none_expected(running: Running):
    first, second = running.bad_ports
    (problem,) = judged("published_ports", running, "bad", published_ports=[])
    assert problem == (
        f"{running.names['bad']}: publishes 127.0.0.1:{first}->80/tcp, "
        f"127.0.0.1:{second}->81/tcp; expected no published ports "
        f"(extra: {first}, {second})"
    )


def test_published_ports_as_expected(running: Running):
    assert judged("published_ports", running, "bad", published_ports=running.bad_ports) == []


def test_published_ports_extra_and_missing(running: Running):
    first, second = running.bad_ports
    missing = next(port for port in (9, 7, 13) if port not in running.bad_ports)
    (problem,) = judged("published_ports", running, "bad", published_ports=[first, missing])
    assert problem.endswith(f"(extra: {second}; missing: {missing})")


def test_published_ports_missing_on_a_container_without_any(running: Running):
    assert judged("published_ports", running, "good", published_ports=[8080]) == [
        f"{running.names['good']}: publishes no ports; expected host ports 8080 (missing: 8080)"
    ]


def test_too_many_restarts(running: Running):
    assert judged("restarts", running, "crashloop", max_restarts=1) == [
        f"{running.names['crashloop']}: restarted 2 times; expected at most 1 "
        "(crash loop? read its logs)"
    ]
    assert judged("restarts", running, "crashloop", max_restarts=3) == []


def test_writable_rootfs_when_read_only_required(running: Running):
    assert judged("read_only", running, "bad", read_only_rootfs=True) == [
        f"{running.names['bad']}: root filesystem is writable; expected read-only "
        "(--read-only, or `read_only: true` in compose)"
    ]
    assert judged("read_only", running, "bad", read_only_rootfs=False) == []


def test_json_file_without_max_size_is_a_problem(running: Running):
    (problem,) = judged("log_rotation", running, "bad")
    assert problem.startswith(f"{running.names['bad']}: log driver json-file without max-size")


def test_local_log_driver_rotates_itself(running: Running):
    assert judged("log_rotation", running, "local") == []


def test_log_driver_none_is_a_problem(running: Running):
    assert judged("log_rotation", running, "nolog") == [
        f"{running.names['nolog']}: log driver none keeps no logs; expected rotated logs "
        "(json-file with max-size, or local)"
    ]


def test_log_rotation_not_asked(running: Running):
    assert judged("log_rotation", running, "bad", logs={"rotation": False}) == []


def test_error_lines_are_counted_and_quoted(running: Running):
    chosen = policy(running, "bad")
    (problem,) = log_errors(chosen, look(chosen), reader(chosen))
    name = running.names["bad"]
    assert problem.startswith(f"{name}: 4 log lines match ")
    quoted = problem.partition("; first: ")[2].split(" | ")
    assert quoted[:2] == ["'ERROR: on stderr'", "'ERROR: database unreachable'"]
    assert quoted[2] == repr(LONG_LINE[:197] + "...")
    assert len(quoted) == 3
    assert "stopped at max_bytes" not in problem


def test_error_lines_past_the_cap_are_unread_and_said_so(running: Running):
    chosen = policy(running, "bad")
    (problem,) = log_errors(chosen, look(chosen), reader(chosen, max_bytes=20))
    assert ": 1 log line match " in problem  # of 'ERROR: on stderr\nsta'
    assert "in the 20 bytes read, stopped at max_bytes; expected none" in problem


def test_error_lines_since_start(running: Running):
    chosen = policy(running, "since")
    (problem,) = log_errors(chosen, look(chosen), reader(chosen))
    assert problem.endswith("first: 'ERROR old line'")


def test_error_lines_before_the_window_are_left_out(running: Running):
    # The old line is written at start, the new one 2 s later; a window opening 1 s after the
    # start holds only the new one.
    chosen = policy(running, "since", logs={"since": "10s"})
    found = look(chosen)
    (facts,) = found.containers
    assert facts.started_at is not None
    now = facts.started_at + timedelta(seconds=11)
    since = since_for(chosen, facts, now)
    assert since == facts.started_at + timedelta(seconds=1)
    excerpt = read_logs(
        facts, engine=chosen.engine, since=since, max_bytes=4096, timeout_s=TIMEOUT_S
    )
    assert excerpt.text == "fine new line\n"
    assert log_errors(chosen, found, lambda _: excerpt) == []


def test_log_errors_on_a_driver_that_keeps_none(running: Running):
    chosen = policy(running, "nolog")
    assert log_errors(chosen, look(chosen), reader(chosen)) == [
        f"{running.names['nolog']}: log driver none keeps no logs, so error lines cannot be "
        "looked for; expected readable logs (json-file or local)"
    ]


def test_replicas_fewer_than_expected(running: Running):
    select = ContainerSelector(project=running.web_project, service=running.web_service)
    chosen = policy(running, select=select, replicas=3)
    found = look(chosen)
    names = ", ".join(c.name for c in found.containers)
    assert judge.replicas(chosen, found) == [
        f"{select.describe()} on {running.lab.engine}: 2 running ({names}); expected 3"
    ]


def test_replicas_as_expected(running: Running):
    select = ContainerSelector(project=running.web_project, service=running.web_service)
    for count in (2, None):
        chosen = policy(running, select=select, replicas=count)
        assert judge.replicas(chosen, look(chosen)) == []


def test_replicas_none_running(running: Running):
    (problem,) = judged("replicas", running, "exited")
    assert problem.endswith(
        f": none running ({running.names['exited']} exited); expected at least one"
    )


def test_replicas_counts_only_running(running: Running):
    select = running.lab.select("exited")
    assert judged("replicas", running, "exited", replicas=1) == [
        f"{select.describe()} on {running.lab.engine}: 0 running; expected 1"
    ]


def test_no_match_is_a_problem_for_every_aspect(running: Running):
    select = ContainerSelector(labels={"org.gonogo.test": f"{running.lab.session}-nobody"})
    chosen = policy(running, select=select)
    found = look(chosen)
    expected = [f"no container matches {select.describe()} on {running.lab.engine}"]
    for aspect, check in ASPECTS.items():
        assert check(chosen, found) == expected, aspect
    assert log_errors(chosen, found, reader(chosen)) == expected


def test_scaled_to_zero(running: Running):
    nobody = ContainerSelector(labels={"org.gonogo.test": f"{running.lab.session}-nobody"})
    chosen = policy(running, select=nobody, replicas=0)
    assert judge.replicas(chosen, look(chosen)) == []
    (problem,) = judged("replicas", running, "good", replicas=0)
    assert problem.endswith(f": 1 running ({running.names['good']}); expected none")


# -- judgements on facts built by hand: what a local engine cannot show -------------------------


def _facts(**fields) -> ContainerFacts:
    base = {
        "name": "api-1",
        "id": "0123456789ab",
        "image": "registry.example.com/api:1.42.0",
        "image_id": "sha256:" + "0" * 64,
        "labels": {},
        "status": "running",
        "exit_code": 0,
        "started_at": datetime(2026, 1, 1, tzinfo=UTC),
        "health": None,
        "healthcheck_defined": False,
        "health_output": "",
        "restart_policy": "unless-stopped",
        "restart_count": 0,
        "user": "app",
        "privileged": False,
        "cap_add": (),
        "cpus": 1.0,
        "memory": 256 * 1024**2,
        "published_ports": (),
        "read_only_rootfs": False,
        "log_driver": "json-file",
        "log_options": {"max-size": "10m"},
    }
    return ContainerFacts(**{**base, **fields})


def _one(**fields) -> ContainerSet:
    return ContainerSet("unix:///test.sock", (_facts(**fields),), 0.0)


API = ContainerPolicy(select=ContainerSelector(container="api-1"))


@pytest.mark.parametrize(
    ("reference", "passes"),
    [
        ("registry.example.com/api:1.42.0", True),
        ("registry.example.com:5000/api:1.42.0", True),
        ("registry.example.com:5000/api", False),
        ("localhost:5000/team/api:latest", False),
        ("api", False),
        ("api@sha256:" + "a" * 64, True),
        ("registry.example.com:5000/api:1.42.0@sha256:" + "a" * 64, True),
        ("sha256:" + "b" * 64, True),  # an image id: pinned to its bytes
    ],
)
def test_image_tag_rules(reference, passes):
    assert (judge.image(API, _one(image=reference)) == []) is passes


def test_image_without_tag_says_latest():
    assert judge.image(API, _one(image="localhost:5000/api")) == [
        "api-1: runs localhost:5000/api (no tag, so latest); expected an explicit tag other "
        "than latest, or a digest"
    ]


def test_digest_required():
    digest = API.model_copy(update={"image": "digest"})
    assert judge.image(digest, _one(image="api@sha256:" + "a" * 64)) == []
    assert judge.image(digest, _one(image="sha256:" + "b" * 64)) != []


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("", True),
        ("0", True),
        ("root", True),
        ("0:0", True),
        ("root:app", True),
        ("app", False),
        ("10001", False),
        ("10001:0", False),
    ],
)
def test_root_user_forms(user, root):
    assert (judge.user(API, _one(user=user)) != []) is root


def test_capabilities_with_cap_prefix_and_all():
    (problem,) = judge.privileges(API, _one(cap_add=("CAP_SYS_ADMIN", "cap_net_admin", "CHOWN")))
    assert problem == (
        "api-1: adds 2 forbidden capabilities NET_ADMIN, SYS_ADMIN; expected none of them "
        "(remove from cap_add)"
    )
    (problem,) = judge.privileges(API, _one(cap_add=("ALL",)))
    assert "1 forbidden capability ALL" in problem


def test_restarting_container_says_how_often():
    assert judge.running(API, _one(status="restarting", exit_code=137, restart_count=7)) == [
        "api-1: restarting (last exit code 137, restarted 7 times); expected running"
    ]


def test_other_log_drivers_rotate_elsewhere():
    for driver in ("journald", "syslog", "fluentd", "local"):
        assert judge.log_rotation(API, _one(log_driver=driver, log_options={})) == []
    assert judge.log_rotation(API, _one(log_options={"max-size": "-1"})) != []


def test_log_errors_reads_nothing_without_a_logs_section():
    quiet = API.model_copy(update={"logs": None})

    def never(_facts):
        raise AssertionError("read without a logs section")

    assert log_errors(quiet, _one(), never) == []


def test_log_errors_uses_the_pattern():
    custom = ContainerPolicy(select=API.select, logs={"error_pattern": r"^panic:"})
    excerpt = LogExcerpt("ERROR not ours\npanic: nil map\n", 30, truncated=False)
    assert log_errors(custom, _one(), lambda _: excerpt) == [
        "api-1: 1 log line match '^panic:' in the 30 bytes read; expected none; "
        "first: 'panic: nil map'"
    ]


def test_since_for():
    facts = _facts()
    now = datetime(2026, 1, 2, tzinfo=UTC)
    started = facts.started_at
    assert started is not None
    assert since_for(API, facts, now) == started - timedelta(seconds=1)
    windowed = ContainerPolicy(select=API.select, logs={"since": "10m"})
    assert since_for(windowed, facts, now) == now - timedelta(minutes=10)
    never = _facts(started_at=None, status="created")
    assert since_for(API, never, now) == datetime.fromtimestamp(0, UTC)


def test_aspects_cover_every_judgement():
    assert set(ASPECTS) == {
        "replicas",
        "running",
        "health",
        "restart_policy",
        "user",
        "limits",
        "privileges",
        "image",
        "published_ports",
        "restarts",
        "read_only",
        "log_rotation",
    }
