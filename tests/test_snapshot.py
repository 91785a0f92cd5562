"""`gonogo snapshot` against the real demo: the file it writes validates, holds for the release
it was taken from (blue: GO) and catches the other (green: NO-GO); weak spots are written as
the secure expectation unless --as-is; secrets never reach the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gonogo.demo.deployment import DemoConfig, switch
from gonogo.environment_file import load_environment
from tests.nginx_server import free_ports, running_nginx
from tests.test_demo_suite import run_suite

SECRET = "snapshot-secret-7f3a9c"


def snapshot(
    demo: DemoConfig, output: Path, *args: str, urls: tuple[str, ...] | None = None
) -> subprocess.CompletedProcess[str]:
    """`gonogo snapshot` of the demo's edge, containers and listeners, as a user runs it."""
    variables = demo.variables()
    ports = ",".join(
        str(port)
        for port in (
            demo.https_port,
            demo.http_port,
            demo.admin_port,
            demo.blue_port,
            demo.green_port,
            demo.worker_port,
        )
    )
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gonogo",
            "snapshot",
            *(urls or (demo.url, f"http://127.0.0.1:{demo.http_port}/")),
            f"--ports={ports}",
            "--server-name=localhost",
            f"--ca-file={demo.run_dir / 'pki' / 'ca.pem'}",
            f"--docker={variables['GONOGO_DEMO_DOCKER_HOST']}",
            f"--project={demo.project}",
            "--host=local://",
            f"--output={output}",
            *args,
        ],
        cwd=output.parent,
        env={**os.environ, **variables},
        capture_output=True,
        text=True,
        timeout=120,
    )


def gate(demo: DemoConfig, env_file: Path, report_dir: Path) -> dict:
    """`pytest --env FILE` in its own process, as a user runs it; its decision record."""
    return run_suite(demo, report_dir, env_file=env_file)[1]


def failing(record: dict) -> set[str]:
    return {check["id"] for check in record["checks"] if check["outcome"] != "passed"}


@pytest.fixture
def blue(demo: DemoConfig) -> DemoConfig:
    switch(demo, "blue")
    return demo


def test_snapshot_of_blue_is_go_on_blue_and_no_go_on_green(
    blue: DemoConfig, tmp_path: Path
) -> None:
    written = tmp_path / "blue.yaml"
    done = snapshot(blue, written, "--name=blue-snapshot")
    assert done.returncode == 0, done.stderr
    assert "0 weak spot(s)" in done.stderr
    loaded = load_environment(written, {})  # schema-valid, and needs no variables
    environment = loaded.environment
    assert environment.name == "blue-snapshot"
    assert {check.name for check in environment.smoke} >= {"health", "health-live", "health-ready"}
    assert environment.wait is not None and environment.wait.check == "health-live"
    assert environment.ports[0].nothing_else_open_in is not None
    assert blue.https_port in environment.ports[0].open
    assert blue.admin_port not in environment.ports[0].open
    assert environment.tls[0].protocols == ["TLSv1.2", "TLSv1.3"]
    assert environment.redirects[0].https_port == blue.https_port
    assert environment.containers[0].select.service == "worker"
    assert environment.containers[0].replicas == 1
    assert environment.containers[0].read_only_rootfs
    text = written.read_text()
    assert "FAILS NOW" not in text
    assert "min_days_left" not in text and "allow_cbc" not in text  # defaults left out

    on_blue = gate(blue, written, tmp_path / "on-blue")
    assert on_blue["decision"] == "GO", failing(on_blue)
    assert len(on_blue["checks"]) >= 30

    switch(blue, "green")
    try:
        on_green = gate(blue, written, tmp_path / "on-green")
    finally:
        switch(blue, "blue")
    assert on_green["decision"] == "NO-GO"
    assert failing(on_green) >= {
        f"test_tls_protocols[127.0.0.1:{blue.https_port}]",
        f"test_tls_ciphers[127.0.0.1:{blue.https_port}]",
        "test_nothing_else_open[127.0.0.1]",
        f"test_http_redirects_to_https[http://127.0.0.1:{blue.http_port}/]",
        "test_security_header_values[/]",
        "test_no_information_leaks[/]",
        "test_status_is_expected[health-ready]",
        "test_container_image_pinned[worker]",
        "test_container_non_root[worker]",
    }


def test_snapshot_is_stable_for_an_unchanged_deployment(blue: DemoConfig, tmp_path: Path) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    assert snapshot(blue, first).returncode == 0
    assert snapshot(blue, second).returncode == 0
    assert first.read_text() == second.read_text()


def test_green_weak_spots_are_written_secure_or_as_found(blue: DemoConfig, tmp_path: Path) -> None:
    switch(blue, "green")
    try:
        secure = snapshot(blue, tmp_path / "secure.yaml", "--name=green")
        as_is = snapshot(blue, tmp_path / "as-is.yaml", "--name=green", "--as-is")
        secure_run = gate(blue, tmp_path / "secure.yaml", tmp_path / "secure-run")
        as_is_run = gate(blue, tmp_path / "as-is.yaml", tmp_path / "as-is-run")
    finally:
        switch(blue, "blue")
    assert secure.returncode == 0 and as_is.returncode == 0, secure.stderr + as_is.stderr
    for weak in (
        "accepts TLSv1",
        "TLS 1.2 accepts CBC suites: ECDHE-ECDSA-AES128-SHA",
        "answers 302 (temporary)",
        "X-Frame-Options missing",
        "Server: nginx/",
        "GET /health/ready answers 503",
        "runs gonogo-demo-worker:latest",
    ):
        assert weak in secure.stderr, weak
    text = (tmp_path / "secure.yaml").read_text()
    assert "# FAILS NOW: accepts TLSv1" in text
    secure_env = load_environment(tmp_path / "secure.yaml", {}).environment
    assert secure_env.tls[0].protocols == ["TLSv1.2", "TLSv1.3"]  # the secure expectation
    assert secure_env.redirects[0].status == [301, 308]
    assert secure_run["decision"] == "NO-GO"
    assert f"test_tls_protocols[127.0.0.1:{blue.https_port}]" in failing(secure_run)

    found = load_environment(tmp_path / "as-is.yaml", {}).environment
    assert found.tls[0].protocols == ["TLSv1", "TLSv1.2", "TLSv1.3"]
    assert found.tls[0].allow_cbc
    assert found.redirects[0].status == [302]
    assert found.headers[0].allow_information_leaks
    assert not found.containers[0].non_root
    as_is_text = (tmp_path / "as-is.yaml").read_text()
    assert "WEAK (written as found, --as-is): accepts TLSv1" in as_is_text
    assert as_is_run["decision"] == "GO", failing(as_is_run)


def test_secrets_become_placeholders(blue: DemoConfig, tmp_path: Path) -> None:
    written = tmp_path / "keyed.yaml"
    done = snapshot(blue, written, "--name=keyed", f"--header=X-Api-Key: {SECRET}")
    assert done.returncode == 0, done.stderr
    text = written.read_text()
    assert SECRET not in text + done.stdout + done.stderr
    assert "X-Api-Key: '${KEYED_X_API_KEY}'" in text
    assert "Set KEYED_X_API_KEY before running" in text
    loaded = load_environment(written, {"KEYED_X_API_KEY": SECRET})
    assert loaded.environment.defaults.headers == {"X-Api-Key": SECRET}


def test_plain_http_and_missing_headers_on_a_real_nginx(tmp_path: Path) -> None:
    """A site with no https at all: the redirect it lacks and the headers it lacks are written
    as the secure expectation, each with the reason it fails now."""
    (port,) = free_ports(1)
    health = 'default_type application/json; return 200 \'{"status":"up"}\';'
    servers = (
        f"server {{ listen 127.0.0.1:{port}; location / {{ return 200 'ok'; }}"
        f" location = /healthz {{ {health} }} }}"
    )
    with running_nginx(tmp_path / "nginx", servers, [port]):
        done = subprocess.run(
            [sys.executable, "-m", "gonogo", "snapshot", f"http://127.0.0.1:{port}/"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(done.stdout)
    assert document["base_url"] == f"http://127.0.0.1:{port}"
    assert document["smoke"] == [
        {
            "name": "healthz",
            "request": {"url": "/healthz"},
            "expect": {"status": 200, "json": {"status": "up"}},
            "severity": "critical",
        }
    ]
    assert document["redirects"] == [{"url": f"http://127.0.0.1:{port}/"}]
    assert "# FAILS NOW: serves plain HTTP (status 200), no redirect" in done.stdout
    assert "# FAILS NOW: X-Frame-Options missing" in done.stdout
    assert "# FAILS NOW: no Strict-Transport-Security" in done.stdout
    assert port in document["ports"][0]["open"]
    assert 6379 in document["ports"][0]["closed"]


def test_refused_base_url_is_an_error_not_an_empty_file(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    done = subprocess.run(
        [sys.executable, "-m", "gonogo", "snapshot", f"https://127.0.0.1:{port}", "-o", "x.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert f"https://127.0.0.1:{port} did not answer" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://user:pw@127.0.0.1:1"], "credentials in a URL would be written to the file"),
        (["ftp://127.0.0.1/"], "expected an http:// or https:// URL with a host"),
        (["http://127.0.0.1:1", "--ports=99999"], "--ports '99999'"),
        (["http://127.0.0.1:1", "--header=NoColon"], "expected 'Name: value'"),
        (["http://127.0.0.1:1", "--timeout=0"], "expected seconds in (0, 60]"),
        (["http://127.0.0.1:1", "--ca-file=missing.pem"], "--ca-file missing.pem: no such file"),
        (["http://127.0.0.1:1", "-o", "exists.yaml"], "exists.yaml exists; expected a new file"),
    ],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "exists.yaml").write_text("name: kept\n")
    done = subprocess.run(
        [sys.executable, "-m", "gonogo", "snapshot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 4, done.stderr
    assert message in done.stderr
    assert (tmp_path / "exists.yaml").read_text() == "name: kept\n"
