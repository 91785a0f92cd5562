"""A real Prometheus for the metrics probe's tests, scraping gauges the tests set.

The distribution's Prometheus runs as our child on a free loopback port with its data in a temp
dir, scraping (every second) an exporter in the test process, and evaluating the demo's own
rules plus a few whose state never changes. Nothing starts until a test asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from gonogo.demo._prometheus import JOB, prometheus_argv, write_prometheus_config
from gonogo.probes.prometheus import Series, instant_query
from tests.nginx_server import free_ports
from tests.server_kit import HOST, end, spawn, wait_until

PROMETHEUS = "/usr/bin/prometheus"
TEST_GROUP = "gonogo-test"
# Rules whose state is known from the first evaluation on, and one Prometheus cannot evaluate:
# both gauges below carry case="held", so the two series are one label set once the name goes.
TEST_RULES = [
    {"alert": "AlwaysFiring", "expr": "vector(1) > 0", "labels": {"severity": "critical"}},
    {"alert": "NeverFiring", "expr": "vector(1) < 0"},
    {"alert": "AlwaysPending", "expr": "vector(1) > 0", "for": "1h"},
    {"alert": "Erroring", "expr": '{__name__=~"gonogo_test_(value|twin)", case="held"}'},
]


@dataclass(frozen=True)
class Exporter:
    """Gauges scraped as job `demo-api`: set `value.labels(case=...)` and Prometheus sees it
    at its next scrape. `twin` exists to make the Erroring rule fail."""

    target: str  # host:port
    value: Gauge
    twin: Gauge


@dataclass(frozen=True)
class PrometheusServer:
    url: str
    exporter: Exporter
    directory: Path


@pytest.fixture(scope="session")
def prometheus_exporter() -> Iterator[Exporter]:
    """Gauges `gonogo_test_value{case}` and `gonogo_test_twin{case}` on a loopback port; only
    case="held" (10) exists until a test sets another."""
    registry = CollectorRegistry()
    value = Gauge("gonogo_test_value", "A value a test holds.", ["case"], registry=registry)
    twin = Gauge(
        "gonogo_test_twin", "Same labels as gonogo_test_value.", ["case"], registry=registry
    )
    value.labels(case="held").set(10)
    twin.labels(case="held").set(10)
    server, thread = start_http_server(0, addr=HOST, registry=registry)
    try:
        yield Exporter(f"{HOST}:{server.server_port}", value, twin)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def prometheus_server(
    tmp_path_factory: pytest.TempPathFactory, prometheus_exporter: Exporter
) -> Iterator[PrometheusServer]:
    """Prometheus 2 scraping the exporter and evaluating rules every second, with the demo's
    rules (group gonogo-demo) and TEST_RULES (group gonogo-test) loaded; ready and scraped."""
    directory = tmp_path_factory.mktemp("prometheus")
    config = write_prometheus_config(
        directory, scrape_targets=[prometheus_exporter.target], scrape_interval_s=1
    )
    test_rules = {"groups": [{"name": TEST_GROUP, "rules": TEST_RULES}]}
    (directory / "test-rules.yml").write_text(yaml.safe_dump(test_rules, sort_keys=False))
    document = yaml.safe_load(config.read_text())
    document["rule_files"].append("test-rules.yml")
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    (port,) = free_ports(1)
    url = f"http://{HOST}:{port}"
    log = directory / "prometheus.log"
    argv = prometheus_argv(PROMETHEUS, config=config, data_dir=directory / "data", port=port)
    process = spawn(argv, log)
    try:

        def ready() -> None:
            httpx.get(f"{url}/-/ready", timeout=1).raise_for_status()

        wait_until(ready, process, log, "prometheus", 30)
        wait_until(lambda: _has_up(url), process, log, "prometheus's first scrape", 30)
        yield PrometheusServer(url, prometheus_exporter, directory)
    finally:
        end(process)


def wait_for_value(
    url: str,
    query: str,
    accept: Callable[[list[Series]], bool],
    *,
    ago_s: float = 0,
    timeout_s: float = 20,
) -> list[Series]:
    """Poll an instant query (as of `ago_s` seconds before each attempt) until its result is
    accepted: the way to know Prometheus has scraped what a test just set, or has held it for
    a while."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = instant_query(url, query, timeout_s=5, at=time.time() - ago_s)
        if accept(result):
            return result
        if time.monotonic() > deadline:
            pytest.fail(
                f"{url}: {query} (as of {ago_s:g} s ago) not as expected within {timeout_s:g} s; "
                f"last result: {[(s.label_text, s.points) for s in result]}",
                pytrace=False,
            )
        time.sleep(0.1)


def values(result: list[Series]) -> list[float]:
    """The latest value of each series, for `accept` callbacks."""
    return [s.points[-1][1] for s in result]


def _has_up(url: str) -> None:
    result = instant_query(url, f'up{{job="{JOB}"}}', timeout_s=2)
    if values(result) != [1.0]:
        raise AssertionError(f"up is {values(result)}")
