"""Host state through testinfra: services, packages, files, sockets, users, kernel, resources."""

from __future__ import annotations

import pytest

from fixtures.inside import HostConnector
from gonogo import host_state
from gonogo.environment_inside import HostItem, HostPolicy
from gonogo.probes import hosts

pytestmark = pytest.mark.inside


def test_host_service(host_service: HostItem, host_connection: HostConnector) -> None:
    facts = hosts.service(host_connection(host_service.host), host_service.key)
    _verdict(host_state.service_problems(host_service.host, host_service.key, facts))


def test_host_package(host_package: HostItem, host_connection: HostConnector) -> None:
    facts = hosts.package(host_connection(host_package.host), host_package.key)
    _verdict(host_state.package_problems(host_package.host, host_package.key, facts))


def test_host_file(host_file: HostItem, host_connection: HostConnector) -> None:
    facts = hosts.file(host_connection(host_file.host), host_file.key)
    _verdict(host_state.file_problems(host_file.host, host_file.key, facts))


def test_host_user(host_user: HostItem, host_connection: HostConnector) -> None:
    facts = hosts.user(host_connection(host_user.host), host_user.key)
    _verdict(host_state.user_problems(host_user.host, host_user.key, facts))


def test_host_sysctl(host_sysctl: HostItem, host_connection: HostConnector) -> None:
    value = hosts.sysctl(host_connection(host_sysctl.host), host_sysctl.key)
    _verdict(host_state.sysctl_problems(host_sysctl.host, host_sysctl.key, value))


def test_host_disk_free(host_disk: HostItem, host_connection: HostConnector) -> None:
    free = hosts.disk_free_percent(host_connection(host_disk.host), host_disk.key)
    _verdict(host_state.disk_problems(host_disk.host, host_disk.key, free))


def test_host_config_valid(host_config: HostItem, host_connection: HostConnector) -> None:
    command = host_config.host.config_tests[host_config.key]
    facts = hosts.config_test(host_connection(host_config.host), command)
    _verdict(host_state.config_test_problems(host_config.host, host_config.key, facts))


def test_host_listening_sockets(host_listening: HostPolicy, host_connection: HostConnector) -> None:
    found = hosts.listeners(host_connection(host_listening))
    _verdict(host_state.listening_problems(host_listening, found))


def test_host_memory(host_memory: HostPolicy, host_connection: HostConnector) -> None:
    used = hosts.memory_used_percent(host_connection(host_memory))
    _verdict(host_state.memory_problems(host_memory, used))


def test_host_load(host_load: HostPolicy, host_connection: HostConnector) -> None:
    load = hosts.load_per_cpu(host_connection(host_load))
    _verdict(host_state.load_problems(host_load, load))


def test_host_time_synchronised(host_time: HostPolicy, host_connection: HostConnector) -> None:
    facts = hosts.time_sync(host_connection(host_time))
    _verdict(host_state.time_problems(host_time, facts))


def _verdict(problems: list[str]) -> None:
    assert not problems, "; ".join(problems)
