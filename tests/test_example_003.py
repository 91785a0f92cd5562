"""Example 003 (examples/operations-*.yaml, the Timbel operations manual's checklists): each
cadence run against a local reproduction of the system, as a reader would run it.

The manual shows no nginx.conf and no backend, only what its scripts ask: the backend's
/health on 3001, the frontend on 3000, PostgreSQL and Redis, Prometheus on 9090 with its
http_requests_total, http_request_duration_seconds, cpu_usage_percent and memory_usage_percent,
a certificate on 443, /etc/logrotate.d/timbel, backups under /opt/backups/timbel. Here: two
stand-ins, the real PostgreSQL and Redis of tests/dependency_servers.py, a real Prometheus
scraping an exporter of those series, nginx terminating TLS with nginx's default ciphers
(tests/examples/003/nginx-edge.conf.template), the manual's logrotate file, and this machine
as the Docker host. Not reproduced: the compose containers (no project to inspect), ufw, and
what listens on this shared machine's public addresses.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gonogo.environment_file import load_environment
from tests.certificates import trusted_leaf
from tests.example_stack import (
    EXAMPLES,
    Answer,
    not_passed,
    run_example,
    running_prometheus,
    serving_metrics,
    stand_in,
)
from tests.nginx_server import free_ports, running_nginx
from tests.server_kit import HOST

HERE = Path(__file__).parent / "examples" / "003"
FILES = [
    "_operations.yaml",
    "operations-daily.yaml",
    "operations-weekly.yaml",
    "operations-monthly.yaml",
]
JOB = "timbel-backend"
# Not reproduced: the compose containers, and this shared machine's firewall, public sockets
# and public ports (the monthly security review's), which the reproduction does not own.
NOT_HERE = "not test_container and not firewall and not listening and not test_ports"
MARKS = "not load and not watch"


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    """The manual's series on a loopback port, with a request every 20 ms (all 200, 40 ms)."""
    registry = CollectorRegistry()
    requests = Counter("http_requests_total", "Requests.", ["status"], registry=registry)
    duration = Histogram("http_request_duration_seconds", "Latency.", registry=registry)
    Gauge("cpu_usage_percent", "CPU.", registry=registry).set(35)
    Gauge("memory_usage_percent", "Memory.", registry=registry).set(60)

    def traffic() -> None:
        requests.labels(status="200").inc()
        duration.observe(0.04)

    with serving_metrics(registry, traffic) as target:
        yield target


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, exporter: str) -> Iterator[str]:
    """Prometheus scraping the exporter every second as job timbel-backend, until rates exist."""
    directory = tmp_path_factory.mktemp("prometheus-003")
    scrape = {"job_name": JOB, "static_configs": [{"targets": [exporter]}]}
    with running_prometheus(
        directory, [scrape], "sum(rate(http_request_duration_seconds_count[1m])) > 0"
    ) as url:
        yield url


@pytest.fixture(scope="module")
def timbel(
    tmp_path_factory: pytest.TempPathFactory, postgres_server, redis_server, prometheus: str
) -> Iterator[dict[str, str]]:
    """The reproduction running; yields the variables the example files read."""
    directory = tmp_path_factory.mktemp("timbel")
    host_files = _host_files(directory)
    leaf, ca_file = trusted_leaf(directory)
    (https_port,) = free_ports(1)
    with contextlib.ExitStack() as stack:
        backend = stack.enter_context(stand_in({"/health": Answer({"status": "ok"})}))
        frontend = stack.enter_context(stand_in({"/": Answer("<!doctype html>")}))
        servers = (
            (HERE / "nginx-edge.conf.template")
            .read_text()
            .format(
                https_port=https_port,
                cert=leaf.pem,
                key=leaf.key,
                backend=backend.removeprefix("http://"),
            )
        )
        stack.enter_context(running_nginx(directory / "nginx", servers, [https_port]))
        yield {
            **host_files,
            "TIMBEL_HOST": HOST,
            "TIMBEL_BACKEND_PORT": backend.rsplit(":", 1)[1],
            "TIMBEL_FRONTEND_PORT": frontend.rsplit(":", 1)[1],
            "TIMBEL_PROMETHEUS_URL": prometheus,
            "TIMBEL_PROMETHEUS_JOB": JOB,
            "TIMBEL_POSTGRES_PORT": str(postgres_server.port),
            "TIMBEL_POSTGRES_USER": postgres_server.user,
            "TIMBEL_POSTGRES_DB": postgres_server.database,
            "TIMBEL_POSTGRES_PASSWORD": postgres_server.password,
            "TIMBEL_REDIS_PORT": str(redis_server.port),
            "TIMBEL_REDIS_PASSWORD": redis_server.password,
            "TIMBEL_HTTPS_PORT": str(https_port),
            "TIMBEL_CA_FILE": str(ca_file),
            "TIMBEL_WAIT_ATTEMPTS": "3",
            "TIMBEL_WAIT_INTERVAL_S": "0.2",
        }


def _host_files(directory: Path) -> dict[str, str]:
    """What the manual's cron lines and logrotate step leave on the host, under `directory`."""
    backups, scripts, logrotate = directory / "backups", directory / "scripts", directory / "lr"
    (backups / "incremental").mkdir(parents=True)
    scripts.mkdir()
    for name in ("backup-full.sh", "backup-incremental.sh", "backup-archive.sh"):
        (scripts / name).write_text("#!/bin/sh\n")
    logrotate.mkdir()
    (logrotate / "docker").write_text("")
    (logrotate / "timbel").write_text((HERE / "logrotate-timbel").read_text())
    return {
        "TIMBEL_BACKUP_DIR": str(backups),
        "TIMBEL_SCRIPTS_DIR": str(scripts),
        "TIMBEL_LOGROTATE_DIR": str(logrotate),
        "TIMBEL_HOST_BACKEND": "local://",
    }


def _messages(record: dict) -> dict[str, str]:
    return {c["id"]: c.get("message") or "" for c in record["checks"]}


def test_daily_checklist_is_go(timbel: dict[str, str], tmp_path: Path) -> None:
    done, record = run_example(
        "operations-daily.yaml", timbel, tmp_path / "report", "-m", MARKS, "-k", NOT_HERE
    )
    # Everything the manual's daily script looks at holds: health, PostgreSQL within 100 ms,
    # Redis, the backup directory and scripts, the logrotate file, memory, disk, the alerts.
    # The manual's disk warning (minor) depends on this machine, not on the reproduction.
    disk = shutil.disk_usage("/")  # available / (used + available), as df and gonogo count
    full = disk.free < 0.2 * (disk.used + disk.free)
    expected = {"test_host_disk_free[timbel-host-disk:/]"} if full else set()
    assert not_passed(record) == expected, done.stdout[-3000:]
    assert record["decision"] == "GO"
    ids = set(_messages(record))
    assert "test_host_config_valid[timbel-backups:logrotate]" in ids
    assert "test_metric_within_bound[api-error-rate]" in ids
    assert "test_dependency_latency_within_budget[postgres]" in ids


def test_weekly_checklist_finds_what_the_manual_leaves_out(
    timbel: dict[str, str], tmp_path: Path
) -> None:
    done, record = run_example(
        "operations-weekly.yaml", timbel, tmp_path / "report", "-m", MARKS, "-k", NOT_HERE
    )
    # A Prometheus minutes old has no midnight (UTC) step for the [7d:1d] subquery yet, unless
    # the run straddles midnight: no data (minor) either way but then, which is all it may say.
    per_day = "test_metric_within_bound[requests-per-day-7d]"
    assert not_passed(record) - {per_day} == {
        # The manual never sets ssl_ciphers: nginx's HIGH:!aNULL:!MD5 accepts CBC suites.
        "test_tls_ciphers[edge-tls]",
        # The slow-query analysis reads pg_stat_statements, which the manual never loads.
        "test_dependency_query_result[postgres-slow-queries]",
    }, done.stdout[-3000:]
    assert record["decision"] == "NO-GO"
    messages = _messages(record)
    assert "CBC" in messages["test_tls_ciphers[edge-tls]"]
    assert "pg_stat_statements" in messages["test_dependency_query_result[postgres-slow-queries]"]
    if per_day in not_passed(record):
        assert "no data" in messages[per_day]
    assert timbel["TIMBEL_POSTGRES_PASSWORD"] not in done.stdout


def test_monthly_checklist_is_go(timbel: dict[str, str], tmp_path: Path) -> None:
    done, record = run_example(
        "operations-monthly.yaml", timbel, tmp_path / "report", "-m", MARKS, "-k", NOT_HERE
    )
    assert not_passed(record) == set(), done.stdout[-3000:]
    assert record["decision"] == "GO"
    assert "test_metric_within_bound[availability-30d]" in _messages(record)


def test_daily_checklist_fails_closed(timbel: dict[str, str], tmp_path: Path) -> None:
    """The backend stopped, no backups, a mistyped logrotate file, no Docker engine: NO-GO,
    and every one of them a failure that says so, never a skip."""
    with stand_in({"/health": Answer({"status": "ok"})}) as stopped:
        pass
    (closed,) = free_ports(1)
    backups, logrotate = tmp_path / "no-backups", tmp_path / "lr"
    logrotate.mkdir()
    (logrotate / "docker").write_text("")
    typo = (HERE / "logrotate-timbel").read_text().replace("rotate 30", "rotat 30")
    (logrotate / "timbel").write_text(typo)
    variables = {
        **timbel,
        "TIMBEL_BACKEND_PORT": stopped.rsplit(":", 1)[1],
        "TIMBEL_BACKUP_DIR": str(backups),
        "TIMBEL_LOGROTATE_DIR": str(logrotate),
        "TIMBEL_DOCKER_HOST": f"tcp://{HOST}:{closed}",
    }
    done, record = run_example("operations-daily.yaml", variables, tmp_path / "report", "-m", MARKS)
    assert record["decision"] == "NO-GO"
    assert done.returncode == 1
    failed = not_passed(record)
    containers = {check for check in failed if check.startswith("test_container_")}
    assert failed - containers == {
        "test_deployment_becomes_ready[backend-health]",
        "test_status_is_expected[backend-health]",
        "test_latency_within_budget[backend-health]",
        f"test_host_file[timbel-backups:{backups}]",
        f"test_host_file[timbel-backups:{backups}/incremental]",
        "test_host_config_valid[timbel-backups:logrotate]",
    }
    messages = _messages(record)
    # Every container check of every service failed, naming the engine that did not answer.
    assert len(containers) > 5 * 10
    assert all(f"{HOST}:{closed} did not answer" in messages[check] for check in containers)
    assert "connection refused" in messages["test_deployment_becomes_ready[backend-health]"]
    assert "is absent" in messages[f"test_host_file[timbel-backups:{backups}]"]
    assert "unknown option 'rotat'" in messages["test_host_config_valid[timbel-backups:logrotate]"]


@pytest.mark.parametrize("name", FILES)
def test_example_loads_with_defaults_and_holds_no_secret(name: str) -> None:
    path = EXAMPLES / name
    loaded = load_environment(path, {})
    assert loaded.environment.base_url == "http://127.0.0.1:3001"
    text = path.read_text()
    for line in text.splitlines():
        if re.search(r"(password|token|secret)\s*:", line, re.IGNORECASE):
            assert re.search(r":\s*\$\{TIMBEL_[A-Z_]+:-\}\s*$", line), line
    assert not re.search(r"://[^/\s:@]+:[^@\s${}]+@", text), "credentials in a URL"
