"""The demo deployment as a session fixture, for any test that needs a real target."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gonogo.demo.deployment import DemoConfig, down, up

pytest_plugins = [
    "tests.dependency_servers",
    "tests.prometheus_server",
    "tests.suite_copy",
    "tests.webhook_receiver",
]


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoConfig]:
    """A running demo, blue active, on free loopback ports; stopped however the session ends,
    and its PostgreSQL cluster removed (as root it lives outside the temp dir)."""
    config = DemoConfig.with_free_ports(tmp_path_factory.mktemp("demo"))
    try:
        up(config)
        yield config
    finally:
        down(config, purge=True)
