"""Example 002 (examples/fastapi-react-staging.yaml, the AI model management staging plan) run
against a local reproduction of its edge, as a reader would run it.

The plan's edge is an AWS ALB with no configuration of its own in the document, so nginx
stands in, configured to what the document states (tests/examples/002/alb-edge.conf.template):
listeners on 80 and 443, the security policy an ALB gets when none is named, and the CORS
origin and per-client rate limits the FastAPI app enforces. Behind it: the API as a stand-in
answering the health endpoints with 5.2's security headers, a MinIO liveness stand-in, the
real Redis of tests/dependency_servers.py (password and TLS, as 5.3 asks), and a real
Prometheus scraping 4.1's two jobs with 7.2's measured values. Not reproduced, and left out
of the runs: DocumentDB (no MongoDB in Debian), the compose containers, the EC2 hosts and
their security groups (inside), the flows (the document shows no API shapes), the load
stage and the ten-minute watch window.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gonogo.environment_file import load_environment
from tests.certificates import Leaf, trusted_leaf
from tests.example_stack import (
    EXAMPLES,
    Answer,
    not_passed,
    run_example,
    running_prometheus,
    serving_metrics,
    stand_in,
)
from tests.nginx_server import free_ports, nginx_conf, nginx_test, running_nginx
from tests.server_kit import HOST

HERE = Path(__file__).parent / "examples" / "002"
EXAMPLE = "fastapi-react-staging.yaml"
MARKS = "not inside and not load and not watch and not e2e"
# DocumentDB: no MongoDB server in Debian. The stores' 100 ms connect budget (gonogo's default;
# the document sets none for Redis): a TLS handshake on a loaded two-core CI machine is not
# what it is about, and a loopback store answers well within it otherwise.
NOT_HERE = "not mongodb and not test_dependency_latency_within_budget"
# 5.2 애플리케이션 보안, backend/security.py, verbatim.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Content-Security-Policy": "default-src 'self'",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# ELBSecurityPolicy-2016-08, what an ALB listener gets when the API or Terraform names none.
ALB_DEFAULT_POLICY = (
    "TLSv1 TLSv1.1 TLSv1.2",
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256:"
    "ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-SHA384:"
    "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES256-SHA:AES128-GCM-SHA256:"
    "AES128-SHA256:AES128-SHA:AES256-GCM-SHA384:AES256-SHA256:AES256-SHA",
)
# ELBSecurityPolicy-TLS13-1-2-Res-2021-06: TLS 1.2 and 1.3, AEAD suites only.
ALB_RESTRICTED_POLICY = (
    "TLSv1.2 TLSv1.3",
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
)
FORWARD = "proxy_pass http://targets;"


def _api_answers() -> dict[str, Answer]:
    """What the ALB's targets answer. The document shows no bodies; the headers are 5.2's."""

    def ok(body: object) -> Answer:
        return Answer(body, 200, SECURITY_HEADERS)

    get_200 = {"get": {"responses": {"200": {"description": "OK"}}}}
    openapi = {
        "openapi": "3.1.0",
        "info": {"title": "AI Model Management (stand-in)", "version": "staging"},
        "paths": {"/api/health": get_200, "/api/health/detailed": get_200},
    }
    return {
        "/": ok({"app": "react"}),  # the frontend tier, behind the same ALB
        "/api/health": ok({"status": "ok"}),
        "/api/health/detailed": ok({"status": "ok"}),
        "/openapi.json": ok(openapi),
        "/api/auth/login": ok({"detail": "stand-in"}),
        "/api/models": ok([]),
        "/api/evaluations": ok([]),
        "/api/files/upload": ok({"detail": "stand-in"}),
    }


@pytest.fixture(scope="module")
def exporter() -> Iterator[str]:
    """4.1's series on a loopback port: requests all 200 at 180 ms (7.2's P50), CPU 45 % and
    memory 60 % used (7.2's "CPU 사용률: 45%", "메모리 사용률: 60%")."""
    registry = CollectorRegistry()
    requests = Counter("http_requests", "Requests.", ["status"], registry=registry)
    duration = Histogram("http_request_duration_seconds", "Latency.", registry=registry)
    cpu = Counter("node_cpu_seconds", "CPU time.", ["cpu", "mode"], registry=registry)
    Gauge("node_memory_MemTotal_bytes", "Memory.", registry=registry).set(8e9)
    Gauge("node_memory_MemAvailable_bytes", "Free.", registry=registry).set(3.2e9)

    def traffic() -> None:
        requests.labels(status="200").inc()
        duration.observe(0.18)
        cpu.labels(cpu="0", mode="idle").inc(0.02 * 0.55)
        cpu.labels(cpu="0", mode="user").inc(0.02 * 0.45)

    with serving_metrics(registry, traffic) as target:
        yield target


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, exporter: str) -> Iterator[str]:
    """Prometheus scraping the exporter every second as 4.1's jobs, until rates exist."""
    directory = tmp_path_factory.mktemp("prometheus-002")
    jobs = [
        {"job_name": job, "static_configs": [{"targets": [exporter]}]}
        for job in ("backend-services", "node-exporter")
    ]
    with running_prometheus(
        directory, jobs, 'sum(rate(node_cpu_seconds_total{job="node-exporter"}[1m])) > 0'
    ) as url:
        yield url


@dataclass(frozen=True)
class Backends:
    """The targets behind the ALB: where the API stand-in listens, and the variables the
    example reads for the stores and Prometheus. Every host is this machine's loopback, also
    those of checks left out of the runs."""

    upstream: str
    variables: dict[str, str]
    leaf: Leaf  # the edge's certificate
    ca_file: Path  # trusts both the edge's and Redis's certificates


@pytest.fixture(scope="module")
def backends(redis_server, prometheus: str) -> Iterator[Backends]:
    with stand_in(_api_answers()) as api, stand_in({"/minio/health/live": Answer(None)}) as minio:
        variables = {
            "AIMODEL_REDIS_HOST": HOST,
            "AIMODEL_REDIS_PORT": str(redis_server.tls_port),  # 5.3 "Redis: Auth + TLS"
            "AIMODEL_REDIS_PASSWORD": redis_server.password,
            "AIMODEL_MINIO_HOST": HOST,
            "AIMODEL_MINIO_PORT": minio.rsplit(":", 1)[1],
            "AIMODEL_MONGO_HOST": HOST,
            "AIMODEL_MONGO_PORT": str(free_ports(1)[0]),
            "AIMODEL_PROMETHEUS_URL": prometheus,
            "AIMODEL_BACKEND_1_HOST": HOST,
            "AIMODEL_FRONTEND_1_HOST": HOST,
            "AIMODEL_MONITORING_HOST": HOST,
            "AIMODEL_WAIT_ATTEMPTS": "3",
            "AIMODEL_WAIT_INTERVAL_S": "0.2",
        }
        # The example has one defaults.ca_file, and every CA of tests/certificates.py has
        # the same subject, which OpenSSL cannot tell apart in a bundle: the edge presents the
        # leaf trusted_leaf() issued next to Redis's, under the same CA.
        pki = redis_server.ca_file.parent
        leaf = Leaf(
            x509.load_pem_x509_certificate((pki / "valid.pem").read_bytes()),
            pki / "valid.pem",
            pki / "valid.key",
        )
        yield Backends(api.removeprefix("http://"), variables, leaf, redis_server.ca_file)


def _edge_servers(fills: dict[str, str], policy: tuple[str, str], http_action: str) -> str:
    """The template with its placeholders filled; the action first, as it may hold some."""
    servers = (HERE / "alb-edge.conf.template").read_text().replace("@HTTP_ACTION@", http_action)
    fills = {**fills, "@SSL_PROTOCOLS@": policy[0], "@SSL_CIPHERS@": policy[1]}
    for placeholder, value in fills.items():
        servers = servers.replace(placeholder, value)
    return servers


@contextlib.contextmanager
def alb(
    directory: Path,
    backends: Backends,
    upstream: str | None = None,
    policy: tuple[str, str] = ALB_DEFAULT_POLICY,
    http_action: str = FORWARD,
) -> Iterator[dict[str, str]]:
    """The ALB as nginx on two free loopback ports; yields the example's variables."""
    directory.mkdir(parents=True, exist_ok=True)
    http_port, https_port = free_ports(2)
    fills = {
        "@HTTP_PORT@": str(http_port),
        "@HTTPS_PORT@": str(https_port),
        "@CERT@": str(backends.leaf.pem),
        "@KEY@": str(backends.leaf.key),
        "@UPSTREAM@": upstream or backends.upstream,
    }
    servers = _edge_servers(fills, policy, http_action)
    with running_nginx(directory / "nginx", servers, [http_port, https_port]):
        yield {
            **backends.variables,
            "AIMODEL_API_HOST": HOST,
            "AIMODEL_FRONTEND_HOST": HOST,
            "AIMODEL_HTTP_PORT": str(http_port),
            "AIMODEL_HTTPS_PORT": str(https_port),
            "AIMODEL_CA_FILE": str(backends.ca_file),
        }


def _messages(record: dict) -> dict[str, str]:
    return {c["id"]: c.get("message") or "" for c in record["checks"]}


def test_the_documents_edge_fails_on_tls_and_plain_http(backends: Backends, tmp_path: Path) -> None:
    with alb(tmp_path / "alb", backends) as variables:
        done, record = run_example(
            EXAMPLE, variables, tmp_path / "report", "-m", MARKS, "-k", NOT_HERE
        )
    assert not_passed(record) == {
        # No ALB security policy in the document: ELBSecurityPolicy-2016-08 accepts TLS 1.0
        # and 1.1, refuses TLS 1.3, and offers CBC suites.
        "test_tls_protocols[api]",
        "test_tls_protocols[frontend]",
        "test_tls_ciphers[api]",
        "test_tls_ciphers[frontend]",
        # Port 80 is open (1.2) and nothing in the document redirects it to HTTPS.
        "test_http_redirects_to_https[http-to-https]",
    }, done.stdout[-4000:]
    assert record["decision"] == "NO-GO"
    messages = _messages(record)
    assert "TLSv1.3" in messages["test_tls_protocols[api]"]
    assert "TLSv1.1" in messages["test_tls_protocols[api]"]
    assert "CBC" in messages["test_tls_ciphers[api]"]
    assert "200" in messages["test_http_redirects_to_https[http-to-https]"]
    ids = set(messages)
    # What did run: the Redis of 5.3 with a password over TLS, every rate limit of 5.2, the
    # rollback triggers' PromQL against a real Prometheus.
    assert "test_dependency_round_trip[redis]" in ids
    assert "test_rate_limited[upload-10-per-minute]" in ids
    assert "test_metric_within_bound[error-ratio]" in ids
    assert backends.variables["AIMODEL_REDIS_PASSWORD"] not in done.stdout


def test_a_pinned_policy_and_a_redirect_make_it_go(backends: Backends, tmp_path: Path) -> None:
    redirect = "return 301 https://$host:@HTTPS_PORT@$request_uri;"
    with alb(
        tmp_path / "alb", backends, policy=ALB_RESTRICTED_POLICY, http_action=redirect
    ) as variables:
        done, record = run_example(
            EXAMPLE, variables, tmp_path / "report", "-m", MARKS, "-k", NOT_HERE
        )
    assert not_passed(record) == set(), done.stdout[-4000:]
    assert record["decision"] == "GO"


def test_fails_closed_when_the_api_is_down(backends: Backends, tmp_path: Path) -> None:
    with contextlib.ExitStack() as api_running:
        api = api_running.enter_context(stand_in(_api_answers()))
        with alb(tmp_path / "alb", backends, upstream=api.removeprefix("http://")) as variables:
            api_running.close()  # the stand-in stops; the ALB stays up in front of nothing
            done, record = run_example(
                EXAMPLE, variables, tmp_path / "report", "-m", "smoke", "-k", NOT_HERE
            )
    # Everything behind the ALB answers 502; the stores, probed directly, still answer.
    assert not_passed(record) == {
        "test_deployment_becomes_ready[api-health]",
        "test_status_is_expected[api-health]",
        "test_status_is_expected[api-health-detailed]",
        "test_status_is_expected[frontend]",
        "test_openapi_operations_answer[api]",
        "test_openapi_responses_match_schema[api]",
    }, done.stdout[-3000:]
    assert record["decision"] == "NO-GO"
    messages = _messages(record)
    assert "not ready after 3 attempts" in messages["test_deployment_becomes_ready[api-health]"]
    assert "status 502, expected 200" in messages["test_status_is_expected[api-health]"]


def test_nginx_accepts_the_reproduction(tmp_path: Path) -> None:
    leaf, _ = trusted_leaf(tmp_path)
    fills = {
        "@HTTP_PORT@": "8080",
        "@HTTPS_PORT@": "8443",
        "@CERT@": str(leaf.pem),
        "@KEY@": str(leaf.key),
        "@UPSTREAM@": "127.0.0.1:9",
    }
    (tmp_path / "temp").mkdir()
    for policy in (ALB_DEFAULT_POLICY, ALB_RESTRICTED_POLICY):
        conf = tmp_path / "nginx.conf"
        conf.write_text(nginx_conf(tmp_path, _edge_servers(fills, policy, FORWARD)))
        checked = nginx_test(tmp_path, conf)
        assert checked.returncode == 0, checked.stderr
        assert "test is successful" in checked.stderr


def test_example_loads_with_defaults_and_holds_no_secret() -> None:
    path = EXAMPLES / EXAMPLE
    loaded = load_environment(path, {})
    environment = loaded.environment
    assert environment.base_url == "https://api-staging.ai-model-mgmt.com:443"
    assert environment.load is not None
    assert environment.load.kpis is not None
    kpis = environment.load.kpis
    assert (kpis.p50_ms, kpis.p95_ms, kpis.p99_ms, kpis.min_rps) == (250, 500, 1000, 1000)
    assert kpis.max_error_rate == 0.001
    assert environment.rollback is not None
    assert environment.rollback.budget_s == 60
    # Unset, every secret is empty: the file itself holds none.
    assert not any(d.secret for d in environment.dependencies)
    text = path.read_text()
    # Secrets only as ${VAR} placeholders: no password, token or credentialed URL in clear.
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        for match in re.finditer(r"password:\s*([^,}\s]+)", code):
            value = match.group(1).strip("\"'")
            assert value.startswith("${") or value == "not-a-password", line
        assert not re.search(r"://[^/\s:@$]+:[^/\s@$]+@", code), line
    secret_variables = set(re.findall(r"\$\{(AIMODEL_\w*(?:PASSWORD|TOKEN|SECRET)\w*)", text))
    assert secret_variables == {
        "AIMODEL_MONGO_PASSWORD",
        "AIMODEL_REDIS_PASSWORD",
        "AIMODEL_LOGIN_PASSWORD",
    }
    public = set(yaml.safe_load(text)["public_variables"])
    assert not public & secret_variables
    used = set(re.findall(r"\$\{(AIMODEL_\w+)", text))
    assert public == used - secret_variables - {"AIMODEL_SLACK_WEBHOOK_URL"}
