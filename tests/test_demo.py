"""The demo deployment: real nginx, uvicorn and Redis processes on loopback, no mocks."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gonogo.demo import cli
from gonogo.demo._processes import children
from gonogo.demo.deployment import DemoConfig, DemoError, down, status, switch, up
from gonogo.demo.pki import ensure_pki
from gonogo.postgres_cluster import cluster_for

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "x-xss-protection": "1; mode=block",
    "content-security-policy": "default-src 'self'",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def _tls_context(config: DemoConfig) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(config.ca_file))


@pytest.fixture
def client(demo: DemoConfig) -> Iterator[httpx.Client]:
    """HTTPS client that trusts only the demo CA; per test, since a switch reloads nginx."""
    with httpx.Client(
        base_url=demo.url, verify=_tls_context(demo), timeout=5.0, trust_env=False
    ) as http:
        yield http


@pytest.fixture
def token(client: httpx.Client, demo: DemoConfig) -> str:
    """A bearer token from a real login (nginx allows 20 logins in a burst)."""
    password = demo.variables()["GONOGO_DEMO_PASSWORD"]
    response = client.post("/api/v1/login", json={"username": "demo", "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _database(config: DemoConfig) -> psycopg.Connection:
    """A connection of our own to the demo's database, as the API's role, beside the API."""
    return psycopg.connect(
        host="127.0.0.1",
        port=config.postgres_port,
        user="demo",
        password=config.variables()["GONOGO_DEMO_POSTGRES_PASSWORD"],
        dbname="demo",
        connect_timeout=5,
    )


def _upload(client: httpx.Client, token: str, data: bytes, content_type: str) -> httpx.Response:
    files = {"file": ("sample.bin", data, content_type)}
    return client.post("/api/v1/files", files=files, headers=_auth(token))


def _wait_until_stopped(config: DemoConfig, name: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while status(config).component(name).running:
        assert time.monotonic() < deadline, f"{name} still running after {timeout_s} s"
        time.sleep(0.1)


def test_up_starts_every_component(demo: DemoConfig) -> None:
    state = status(demo)
    assert state.all_running, state
    assert state.active == "blue"
    assert state.url == f"https://127.0.0.1:{demo.https_port}"


def test_second_up_leaves_running_processes_alone(demo: DemoConfig) -> None:
    before = {c.name: c.pid for c in status(demo).components}
    after = {c.name: c.pid for c in up(demo).components}
    assert after == before


@pytest.mark.parametrize(("header", "expected"), SECURITY_HEADERS.items())
def test_https_sends_security_header(client: httpx.Client, header: str, expected: str) -> None:
    response = client.get("/health/live")
    assert response.headers.get(header) == expected


def test_server_does_not_announce_its_version(client: httpx.Client) -> None:
    assert client.get("/health/live").headers["server"] == "nginx"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_version_is_accepted(demo: DemoConfig, version: ssl.TLSVersion) -> None:
    context = _tls_context(demo)
    context.minimum_version = context.maximum_version = version
    with (
        socket.create_connection(("127.0.0.1", demo.https_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() == version.name.replace("_", ".")


def test_tls_1_1_is_refused_by_the_server(demo: DemoConfig) -> None:
    context = _tls_context(demo)
    # Lowered security level so our client offers TLS 1.1: the refusal must come from nginx.
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    with (
        socket.create_connection(("127.0.0.1", demo.https_port), timeout=5) as raw,
        pytest.raises(ssl.SSLError) as refused,
        context.wrap_socket(raw, server_hostname="127.0.0.1"),
    ):
        pass
    assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION"


def test_http_redirects_to_https_on_the_same_path(demo: DemoConfig) -> None:
    with httpx.Client(timeout=5.0, trust_env=False) as plain:
        response = plain.get(f"http://127.0.0.1:{demo.http_port}/api/v1/status?probe=1")
    assert response.status_code == 301
    assert response.headers["location"] == f"{demo.url}/api/v1/status?probe=1"


def test_health_reports_redis_and_postgres_ok(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["release"], body["version"]) == ("ok", "blue", "1.4.2")
    for store in ("redis", "postgres"):
        assert body["checks"][store]["status"] == "ok"
        assert body["checks"][store]["latency_ms"] >= 0


def test_login_with_the_right_password_returns_a_bearer_token(
    client: httpx.Client, demo: DemoConfig
) -> None:
    password = demo.variables()["GONOGO_DEMO_PASSWORD"]
    response = client.post("/api/v1/login", json={"username": "demo", "password": password})
    assert response.status_code == 200
    body = response.json()
    assert (body["token_type"], body["expires_in"]) == ("bearer", 3600)
    assert len(body["access_token"]) >= 40


def test_login_with_a_wrong_password_is_401(client: httpx.Client) -> None:
    response = client.post("/api/v1/login", json={"username": "demo", "password": "guess"})
    assert (response.status_code, response.json()) == (401, {"detail": "invalid credentials"})


def test_items_round_trip(client: httpx.Client, token: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    created = client.post(
        "/api/v1/items", json={"name": "canary", "description": "first"}, headers=auth
    )
    assert created.status_code == 201, created.text
    item = created.json()
    assert item == {"id": item["id"], "name": "canary", "description": "first"}
    assert client.get(f"/api/v1/items/{item['id']}", headers=auth).json() == item
    assert item in client.get("/api/v1/items", headers=auth).json()
    assert client.delete(f"/api/v1/items/{item['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/items/{item['id']}", headers=auth).status_code == 404


def test_items_live_in_postgres(client: httpx.Client, token: str, demo: DemoConfig) -> None:
    created = client.post(
        "/api/v1/items", json={"name": "stored", "description": "in a table"}, headers=_auth(token)
    )
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    query = "SELECT name, description, created_at IS NOT NULL FROM items WHERE id = %s"
    with _database(demo) as conn:
        assert conn.execute(query, (item_id,)).fetchone() == ("stored", "in a table", True)
    assert client.delete(f"/api/v1/items/{item_id}", headers=_auth(token)).status_code == 204
    with _database(demo) as conn:
        assert conn.execute(query, (item_id,)).fetchone() is None


def test_file_round_trip_keeps_every_byte(client: httpx.Client, token: str) -> None:
    data = bytes(range(256)) * 4
    uploaded = _upload(client, token, data, "application/x-gonogo-sample")
    assert uploaded.status_code == 201, uploaded.text
    info = uploaded.json()
    assert info == {
        "id": info["id"],
        "filename": "sample.bin",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    downloaded = client.get(f"/api/v1/files/{info['id']}", headers=_auth(token))
    assert downloaded.status_code == 200
    assert downloaded.content == data
    assert downloaded.headers["content-type"] == "application/x-gonogo-sample"
    assert client.delete(f"/api/v1/files/{info['id']}", headers=_auth(token)).status_code == 204
    assert client.get(f"/api/v1/files/{info['id']}", headers=_auth(token)).status_code == 404
    assert client.delete(f"/api/v1/files/{info['id']}", headers=_auth(token)).status_code == 404


def test_files_need_a_token(client: httpx.Client) -> None:
    response = client.post("/api/v1/files", files={"file": ("a.txt", b"a", "text/plain")})
    assert (response.status_code, response.json()) == (401, {"detail": "not authenticated"})


def test_file_over_1_mib_is_413(client: httpx.Client, token: str) -> None:
    assert _upload(client, token, b"x" * 1024 * 1024, "text/plain").status_code == 201
    response = _upload(client, token, b"x" * (1024 * 1024 + 1), "text/plain")
    assert response.status_code == 413
    assert response.json() == {"detail": "file larger than 1048576 bytes, the most this API stores"}


def test_login_with_wrong_types_is_422(client: httpx.Client) -> None:
    response = client.post("/api/v1/login", json={"username": 1, "password": []})
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json()["detail"]} == {
        ("body", "username"),
        ("body", "password"),
    }


def test_openapi_document_describes_the_api(client: httpx.Client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"] == {"title": "gonogo demo API", "version": "1.4.2"}
    paths = document["paths"]
    assert {"/api/v1/items", "/api/v1/files", "/api/v1/files/{file_id}"} <= set(paths)
    answer = paths["/api/v1/status"]["get"]["responses"]["200"]["content"]["application/json"]
    status_schema = document["components"]["schemas"][answer["schema"]["$ref"].split("/")[-1]]
    assert set(status_schema["properties"]) == {"service", "release", "version"}
    # Every GET declares what a 200 holds, so a client can check real answers against it.
    for path, operations in paths.items():
        if "get" in operations:
            assert operations["get"]["responses"]["200"]["content"], path
    assert client.get("/docs").status_code == 404


def test_item_id_must_be_32_hex_digits(client: httpx.Client, token: str) -> None:
    response = client.get("/api/v1/items/NOT-AN-ID", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    assert "NOT-AN-ID" not in response.text  # rejected input is not echoed back


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
def test_items_without_a_valid_token_are_401(
    client: httpx.Client, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.get("/api/v1/items", headers=headers)
    assert (response.status_code, response.json()) == (401, {"detail": "not authenticated"})
    assert response.headers["www-authenticate"] == "Bearer"


def test_metrics_label_requests_by_route_template(client: httpx.Client, token: str) -> None:
    client.get(f"/api/v1/items/{'0' * 32}", headers={"Authorization": f"Bearer {token}"})
    metrics = client.get("/metrics").text
    assert 'http_requests_total{method="GET",path="/api/v1/items/{item_id}",status="404"}' in (
        metrics
    )
    assert "http_request_duration_seconds_bucket{" in metrics


@pytest.fixture(scope="class")
def green(demo: DemoConfig) -> Iterator[None]:
    """nginx serving the green release for one test class, then blue again."""
    assert switch(demo, "green").active == "green"
    try:
        yield
    finally:
        switch(demo, "blue")


@pytest.mark.usefixtures("green")
class TestGreenRelease:
    """Green's planted regressions are visible through nginx."""

    def test_ready_is_503(self, client: httpx.Client) -> None:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert response.json() == {"status": "not ready", "reason": "database migrations pending"}

    def test_catalog_is_500_without_details(self, client: httpx.Client) -> None:
        response = client.get("/api/v1/catalog")
        assert (response.status_code, response.json()) == (
            500,
            {"detail": "internal server error"},
        )

    def test_status_is_slower_than_half_a_second(self, client: httpx.Client) -> None:
        response = client.get("/api/v1/status")
        assert response.json()["release"] == "green"
        assert response.elapsed.total_seconds() > 0.5

    def test_download_corrupts_binary_but_not_ascii(self, client: httpx.Client, token: str) -> None:
        for data, intact in ((b"plain ASCII text\n", True), (bytes(range(256)), False)):
            file_id = _upload(client, token, data, "application/octet-stream").json()["id"]
            downloaded = client.get(f"/api/v1/files/{file_id}", headers=_auth(token)).content
            assert (downloaded == data) is intact, downloaded[:40]

    def test_login_with_wrong_types_is_500(self, client: httpx.Client) -> None:
        for body in ({"username": 1, "password": []}, {"password": "only"}):
            response = client.post("/api/v1/login", json=body)
            assert (response.status_code, response.json()) == (
                500,
                {"detail": "internal server error"},
            )


def test_switch_back_to_blue_restores_every_endpoint(
    demo: DemoConfig, client: httpx.Client
) -> None:
    switch(demo, "green")
    switch(demo, "blue")
    assert status(demo).active == "blue"
    assert client.get("/health/ready").status_code == 200
    assert client.get("/api/v1/catalog").status_code == 200
    response = client.get("/api/v1/status")
    assert response.json()["release"] == "blue"
    assert response.elapsed.total_seconds() < 0.5


def test_switch_to_an_unknown_colour_names_the_choices(demo: DemoConfig) -> None:
    with pytest.raises(DemoError, match=r"expected colour blue or green, got 'purple'"):
        switch(demo, "purple")


def test_redis_outage_turns_health_503_with_detail(demo: DemoConfig, client: httpx.Client) -> None:
    redis_pid = status(demo).component("redis").pid
    assert redis_pid is not None
    os.kill(redis_pid, signal.SIGTERM)
    try:
        _wait_until_stopped(demo, "redis")
        response = client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["checks"]["redis"]["status"] == "down"
        assert body["checks"]["redis"]["error"]
        assert client.get("/health/ready").status_code == 503
    finally:
        up(demo)
    assert client.get("/health").status_code == 200


def test_postgres_outage_turns_health_503_quickly_and_up_brings_it_back(
    demo: DemoConfig, client: httpx.Client, token: str
) -> None:
    kept = client.post("/api/v1/items", json={"name": "survivor"}, headers=_auth(token)).json()
    postgres_pid = int((demo.run_dir / "run" / "postgres.pid").read_text())
    # INT, PostgreSQL's fast shutdown: TERM would wait for the API's pooled sessions to end.
    os.kill(postgres_pid, signal.SIGINT)
    try:
        _wait_until_stopped(demo, "postgres")
        assert status(demo).component("redis").running
        started = time.monotonic()
        response = client.get("/health")
        assert time.monotonic() - started < 1.0
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "unhealthy"
        assert body["checks"]["redis"]["status"] == "ok"
        assert body["checks"]["postgres"]["status"] == "down"
        assert "refused" in body["checks"]["postgres"]["error"]
        assert client.get("/health/ready").json() == {
            "status": "not ready",
            "reason": "postgres down",
        }
        started = time.monotonic()
        items = client.get("/api/v1/items", headers=_auth(token))
        assert time.monotonic() - started < 3.0
        assert (items.status_code, items.json()) == (503, {"detail": "storage unavailable"})
    finally:
        up(demo)
    assert client.get("/health").status_code == 200
    assert client.get(f"/api/v1/items/{kept['id']}", headers=_auth(token)).json() == kept


def test_postgres_that_hangs_is_reported_down_not_waited_for(
    demo: DemoConfig, client: httpx.Client, token: str
) -> None:
    postgres_pid = status(demo).component("postgres").pid
    assert postgres_pid is not None
    # Server and backends stopped, sockets open: connections neither refused nor answered.
    frozen = {postgres_pid, *children(postgres_pid)}
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = client.get("/health")
        assert time.monotonic() - started < 1.5
        assert response.status_code == 503
        assert response.json()["checks"]["postgres"] == {
            "status": "down",
            "error": "no answer within 0.8 s",
        }
        started = time.monotonic()
        items = client.get("/api/v1/items", headers=_auth(token))
        assert time.monotonic() - started < 3.5
        assert (items.status_code, items.json()) == (503, {"detail": "storage unavailable"})
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert client.get("/health").status_code == 200
    assert client.get("/api/v1/items", headers=_auth(token)).status_code == 200


def test_up_on_other_ports_asks_for_down_first(demo: DemoConfig) -> None:
    moved = DemoConfig.with_free_ports(demo.run_dir)
    with pytest.raises(DemoError, match=r"state\.json: .*run `gonogo demo down` first"):
        up(moved)


def test_variables_hold_the_ports_and_the_passwords(demo: DemoConfig) -> None:
    variables = demo.variables()
    assert variables["GONOGO_DEMO_DIR"] == str(demo.run_dir)
    assert variables["GONOGO_DEMO_HTTPS_PORT"] == str(demo.https_port)
    assert variables["GONOGO_DEMO_REDIS_PORT"] == str(demo.redis_port)
    assert variables["GONOGO_DEMO_POSTGRES_PORT"] == str(demo.postgres_port)
    redis_conf = (demo.run_dir / "redis.conf").read_text()
    assert f"requirepass {variables['GONOGO_DEMO_REDIS_PASSWORD']}\n" in redis_conf
    env_file = demo.env_file.read_text()
    for name in (
        "GONOGO_DEMO_PASSWORD",
        "GONOGO_DEMO_POSTGRES_PASSWORD",
        "GONOGO_DEMO_REDIS_PASSWORD",
    ):
        assert len(variables[name]) >= 20
        assert f"{name}={variables[name]}\n" in env_file


@pytest.mark.parametrize("name", ["demo.env", "redis.conf", "pki/server.key"])
def test_secret_files_are_private(demo: DemoConfig, name: str) -> None:
    assert stat.S_IMODE((demo.run_dir / name).stat().st_mode) == 0o600


def test_passwords_stay_off_command_lines(demo: DemoConfig) -> None:
    variables = demo.variables()
    secrets = {
        variables[name]
        for name in (
            "GONOGO_DEMO_PASSWORD",
            "GONOGO_DEMO_POSTGRES_PASSWORD",
            "GONOGO_DEMO_REDIS_PASSWORD",
        )
    }
    for component in status(demo).components:
        assert component.pid is not None, component.name
        # PostgreSQL's backends are children of the postmaster, with titles of their own.
        for pid in {component.pid, *children(component.pid)}:
            cmdline = Path(f"/proc/{pid}/cmdline").read_text()
            assert not any(secret in cmdline for secret in secrets), component.name


def test_cli_status_lists_running_components(
    demo: DemoConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["status", "--dir", str(demo.run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"nginx {demo.url} -> blue (api-blue :{demo.blue_port})" in out
    postgres = status(demo).component("postgres")
    assert re.search(
        rf"^  postgres +running +pid {postgres.pid} +:{demo.postgres_port}$", out, re.M
    )


def test_cli_traffic_sends_a_bounded_stream_of_user_requests(
    demo: DemoConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    switch(demo, "blue")
    assert (
        cli.main(["traffic", "--duration", "2s", "--rate", "10", "--dir", str(demo.run_dir)]) == 0
    )
    out = capsys.readouterr().out
    # 20 requests in 2 s: 3 in 5 fine, 1 in 5 a feedback without its rating, which blue refuses.
    assert re.fullmatch(
        rf"demo traffic: 20 requests in [12]\.\d s to {demo.url}: 200 x12, 202 x4, 422 x4\n", out
    ), out
    assert cli.main(["traffic", "--rate", "1000", "--dir", str(demo.run_dir)]) == 2
    assert "rate: expected 0 < requests/s <= 200" in capsys.readouterr().err


def test_cli_reports_a_demo_error_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["switch", "green", "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gonogo demo: switch to green: nginx is not running in ")
    assert "Traceback" not in err


def test_down_stops_exactly_its_own_processes(tmp_path: Path) -> None:
    config = DemoConfig.with_free_ports(tmp_path / "demo")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        up(config)
        # Backends of the APIs' pools, which must end with the server.
        for port in (config.blue_port, config.green_port):
            assert httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False).status_code == 200
        postgres_pid = status(config).component("postgres").pid
        assert postgres_pid is not None
        backends = children(postgres_pid)
        assert backends
        assert sorted(down(config)) == [
            "api-blue",
            "api-green",
            "nginx",
            "postgres",
            "prometheus",
            "redis",
            "worker",
        ]
        assert bystander.poll() is None
        assert not [pid for pid in {postgres_pid, *backends} if Path(f"/proc/{pid}").exists()]
        state = status(config)
        assert not any(component.running for component in state.components), state
        assert list((config.run_dir / "run").iterdir()) == []
        # A pid file naming a recycled pid: not ours, so never signalled.
        (config.run_dir / "run" / "redis.pid").write_text(f"{bystander.pid}\n")
        assert down(config) == []
        assert bystander.poll() is None
    finally:
        down(config, purge=True)
        bystander.kill()
        bystander.wait(timeout=5)


def test_down_keeps_the_cluster_until_purged_and_a_lost_password_starts_afresh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As root the cluster lives outside the run dir, so `make clean` removes its password
    but not the cluster; the next `up` must not meet a cluster it cannot log into."""
    config = DemoConfig.with_free_ports(tmp_path / "demo")
    cluster = cluster_for(config.project, config.run_dir / "postgres")
    try:
        up(config)
        with _database(config) as conn:
            conn.execute("INSERT INTO items (id, name) VALUES ('kept', 'until purged')")
        down(config)
        assert cluster.initialised
        config.env_file.unlink()
        up(config)
        with _database(config) as conn:
            assert conn.execute("SELECT count(*) FROM items").fetchone() == (0,)
    finally:
        down(config)
    assert cli.main(["down", "--purge", "--dir", str(config.run_dir)]) == 0
    assert f"removed the PostgreSQL cluster {cluster.data_dir}" in capsys.readouterr().out
    assert not cluster.data_dir.exists()


def test_up_names_what_it_waited_for_and_shows_the_log(tmp_path: Path) -> None:
    config = DemoConfig.with_free_ports(tmp_path / "demo")
    try:
        with pytest.raises(DemoError) as not_ready:
            up(config, timeout_s=0)
    finally:
        down(config, purge=True)
    names = "(redis|postgres|api-blue|api-green|prometheus|nginx)"
    assert re.match(
        rf"{names} \(pid \d+\) not ready within 0 s: waited for .+; last answer: .+; "
        rf"last \d+ lines of {re.escape(str(config.run_dir))}/logs/{names}\.log:\n--- ",
        str(not_ready.value),
    )


def test_up_refuses_a_port_held_by_another_process(tmp_path: Path) -> None:
    config = DemoConfig.with_free_ports(tmp_path / "demo")
    with socket.create_server(("127.0.0.1", config.redis_port)):
        with pytest.raises(DemoError) as taken:
            up(config)
        assert down(config, purge=True) == []
    assert str(taken.value) == (
        f"redis: port {config.redis_port} on 127.0.0.1 is taken by a process outside this demo; "
        "stop that process, or choose another port with GONOGO_DEMO_REDIS_PORT"
    )


def test_up_refuses_a_postgres_port_held_by_another_process(tmp_path: Path) -> None:
    config = DemoConfig.with_free_ports(tmp_path / "demo")
    with socket.create_server(("127.0.0.1", config.postgres_port)):
        try:
            with pytest.raises(DemoError) as taken:
                up(config)
        finally:
            down(config, purge=True)
    assert str(taken.value) == (
        f"postgres: port {config.postgres_port} on 127.0.0.1 is taken by a process outside this "
        "demo; stop that process, or choose another port with GONOGO_DEMO_POSTGRES_PORT"
    )


def test_variables_before_the_first_up_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(
        DemoError, match=r"demo\.env: no GONOGO_DEMO_PASSWORD; run `gonogo demo up`"
    ):
        DemoConfig.with_free_ports(tmp_path).variables()


@pytest.mark.parametrize("value", ["https", "80", "70000"])
def test_from_environ_names_the_bad_port_variable(tmp_path: Path, value: str) -> None:
    with pytest.raises(ValueError, match=rf"^GONOGO_DEMO_HTTPS_PORT: expected .*{value}"):
        DemoConfig.from_environ({"GONOGO_DEMO_HTTPS_PORT": value}, tmp_path)


def test_from_environ_defaults_to_a_dir_under_cwd(tmp_path: Path) -> None:
    config = DemoConfig.from_environ({"GONOGO_DEMO_REDIS_PORT": "26379"}, tmp_path)
    assert config.run_dir == (tmp_path / ".gonogo" / "demo").resolve()
    assert (config.https_port, config.redis_port, config.postgres_port) == (18443, 26379, 15432)


def test_from_environ_reads_the_postgres_port(tmp_path: Path) -> None:
    config = DemoConfig.from_environ({"GONOGO_DEMO_POSTGRES_PORT": "25432"}, tmp_path)
    assert config.postgres_port == 25432
    assert config.ports()["postgres_port"] == 25432


def test_pki_is_reused_while_the_leaf_has_time_left(tmp_path: Path) -> None:
    first = ensure_pki(tmp_path)
    chain = first.server_cert.read_bytes()
    assert ensure_pki(tmp_path).server_cert.read_bytes() == chain
    leaf, ca = x509.load_pem_x509_certificates(chain)
    assert ca.public_bytes(Encoding.PEM) == first.ca_cert.read_bytes()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "::1"]
    assert (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days == 90
