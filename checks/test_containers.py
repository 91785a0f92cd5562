"""Containers, read from the Docker engine: running, healthy, non-root, limited, pinned, quiet."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import pytest

from fixtures.inside import ContainerInspector
from gonogo import containers
from gonogo.environment import Environment
from gonogo.environment_inside import ContainerPolicy
from gonogo.probes.containers import ContainerFacts, ContainerSet, LogExcerpt, read_logs

pytestmark = pytest.mark.inside

Judgement = Callable[[ContainerPolicy, ContainerSet], list[str]]


def test_container_replicas(
    container_policy: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.replicas, container_policy, inspect_service)


def test_container_running(
    container_policy: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.running, container_policy, inspect_service)


def test_container_healthy(
    container_health: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.health, container_health, inspect_service)


def test_container_restart_policy(
    container_restart_policy: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.restart_policy, container_restart_policy, inspect_service)


def test_container_restart_count(
    container_restarts: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.restarts, container_restarts, inspect_service)


def test_container_non_root(
    container_non_root: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.user, container_non_root, inspect_service)


def test_container_limits(
    container_limits: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.limits, container_limits, inspect_service)


def test_container_privileges(
    container_policy: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.privileges, container_policy, inspect_service)


def test_container_image_pinned(
    container_image: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.image, container_image, inspect_service)


def test_container_published_ports(
    container_ports: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.published_ports, container_ports, inspect_service)


def test_container_read_only(
    container_read_only: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.read_only, container_read_only, inspect_service)


def test_container_log_rotation(
    container_log_rotation: ContainerPolicy, inspect_service: ContainerInspector
) -> None:
    _judge(containers.log_rotation, container_log_rotation, inspect_service)


def test_container_logs_clean(
    container_logs: ContainerPolicy, inspect_service: ContainerInspector, environment: Environment
) -> None:
    found = inspect_service(container_logs)
    logs = container_logs.logs
    assert logs is not None
    now = datetime.datetime.now(datetime.UTC)
    timeout_s = container_logs.timeout_s or environment.defaults.timeout_s

    def read(facts: ContainerFacts) -> LogExcerpt:
        since = containers.since_for(container_logs, facts, now)
        return read_logs(
            facts,
            engine=container_logs.engine,
            since=since,
            max_bytes=logs.max_bytes,
            timeout_s=timeout_s,
        )

    problems = containers.log_errors(container_logs, found, read)
    assert not problems, "; ".join(problems)


def _judge(judgement: Judgement, policy: ContainerPolicy, inspect: ContainerInspector) -> None:
    problems = judgement(policy, inspect(policy))
    assert not problems, "; ".join(problems)
