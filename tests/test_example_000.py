"""examples/flask-nginx-compose.yaml (Like-Opt, seeds/000) against a loopback copy of the
plan's edge: its own nginx.conf, a stand-in Flask API and ChromaDB, and a real Redis."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gonogo.environment_file import load_environment
from tests.certificates import Leaf, standard_pki
from tests.dependency_servers import RedisServer
from tests.example_stack import EXAMPLES, Answer, not_passed, outcomes, run_example, stand_in
from tests.nginx_server import free_ports, nginx_conf, nginx_test, running_nginx

EXAMPLE = "flask-nginx-compose.yaml"
TEMPLATE = Path(__file__).parent / "examples" / "000" / "nginx.conf.template"
# The plan's ssl_ciphers names no cipher OpenSSL knows; the nearest list it accepts.
PLAN_CIPHERS = "ECDHE-RSA-AES256-GCM-SHA512:DHE-RSA-AES256-GCM-SHA512"
NEAREST_CIPHERS = "ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384"

# The plan shows no bodies (`curl -f` judges the status); Flask's session cookie is set as
# its .env.production asks (SESSION_COOKIE_SECURE, _HTTPONLY, _SAMESITE=Strict).
APP = {
    "/api/v1/health": Answer({"status": "healthy"}),
    "/api/v1/metrics": Answer("# TYPE flask_http_request_total counter"),
    "/api/v1/session": Answer(
        {"session": "started"},
        headers={"set-cookie": "session=opaque; Secure; HttpOnly; Path=/; SameSite=Strict"},
    ),
}
CHROMA_0X = {"/api/v1/heartbeat": Answer({"nanosecond heartbeat": 1_760_000_000_000_000_000})}
# chromadb/chroma:latest is 1.x since 2025: the v1 API is gone.
CHROMA_1X = {
    "/api/v1/heartbeat": Answer(
        {"error": "Unimplemented", "message": "The v1 API is deprecated. Please use /v2 apis"},
        410,
    )
}
# What cannot run here: no Docker images of the plan's, no ufw, no Fluentd or Elasticsearch,
# and this machine's own public sockets are not the plan's host. Nor are latency budgets
# (100 ms per store) judged on a shared two-core CI machine.
NOT_HERE = (
    "not test_container and not test_firewall and not test_host_listening"
    " and not like-opt-server and not like-opt-redis and not fluentd and not elasticsearch"
    " and not latency_within_budget"
)

# Each one comes from the plan's own configuration (see the example's comments).
FINDINGS = {
    # ssl_ciphers ...-SHA512: nginx -t fails, nginx would not start
    "test_host_config_valid[like-opt-nginx:nginx]",
    # no Content-Security-Policy; no `server_tokens off`
    "test_content_security_policy[site]",
    "test_no_information_leaks[site]",
    # add_header in `location /static/` drops the server's security headers there
    "test_security_header_values[static]",
    "test_hsts[static]",
    # `location /api/` makes Prometheus's scrape path public
    "test_path_not_served[/api/v1/metrics]",
    # try_files ... /index.html answers every unknown path 200 (minor: not blocking)
    "test_path_not_served[/.env]",
    "test_path_not_served[/.env.production]",
    "test_path_not_served[/.git/config]",
    "test_path_not_served[/nginx_status]",
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Leaf, Path]:
    """An RSA leaf for localhost and 127.0.0.1 (the plan's suites are all RSA) and its CA."""
    made = standard_pki(tmp_path_factory.mktemp("pki"))
    leaf, ca = made["valid-rsa"], made["ca"]
    assert isinstance(leaf, Leaf) and isinstance(ca, Path)
    return leaf, ca


@pytest.fixture(scope="module")
def html() -> Iterator[Path]:
    """The frontend build nginx serves; outside pytest's root-only tmp dir, since nginx's
    workers do not run as root."""
    with tempfile.TemporaryDirectory(prefix="gonogo-likeopt-") as name:
        root = Path(name)
        root.chmod(0o755)
        (root / "static").mkdir(mode=0o755)
        (root / "index.html").write_text("<!doctype html><title>Like-Opt</title><div id=app>")
        (root / "static" / "app.js").write_text("console.log('like-opt');\n" * 200)
        (root / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
        for path in root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield root


def render(directory: Path, pki: tuple[Leaf, Path], html: Path, upstream: str) -> str:
    """The plan's whole nginx.conf, adapted as its header says; ports are fresh each time."""
    leaf, _ = pki
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    http_port, https_port = free_ports(2)
    values = {
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "CERT": str(leaf.pem),
        "KEY": str(leaf.key),
        "UPSTREAM": upstream,
        "DIR": str(logs),
        "HTML": str(html),
    }
    return re.sub(r"@([A-Z_]+)@", lambda m: values[m.group(1)], TEMPLATE.read_text())


def ports_of(conf: str) -> list[int]:
    return [int(port) for port in re.findall(r"listen 127\.0\.0\.1:(\d+)", conf)]


def http_block(conf: str) -> str:
    """What goes inside `http { }`: tests/nginx_server.py writes the rest of nginx.conf."""
    found = re.search(r"^http \{\n(.*)^\}\s*\Z", conf, re.MULTILINE | re.DOTALL)
    assert found, "the template's http block"
    return found.group(1)


def nearest_valid(conf: str) -> str:
    assert conf.count(PLAN_CIPHERS) == 1
    return conf.replace(PLAN_CIPHERS, NEAREST_CIPHERS)


def nginx_t(directory: Path, conf: str) -> subprocess.CompletedProcess[str]:
    path = directory / "nginx-t.conf"
    path.write_text(conf)
    return nginx_test(directory, path)


@contextmanager
def edge(
    directory: Path, pki: tuple[Leaf, Path], html: Path, app_url: str, chroma_url: str
) -> Iterator[dict[str, str]]:
    """nginx with the plan's configuration (nearest valid ciphers) in front of `app_url`;
    yields the example's variables. The config test is pointed at the plan's own file."""
    upstream = urlsplit(app_url).netloc
    plan_conf = render(directory, pki, html, upstream)
    plan_file = directory / "plan-nginx.conf"
    plan_file.write_text(plan_conf)
    running = nearest_valid(plan_conf)
    http_port, https_port = ports_of(running)
    chroma = urlsplit(chroma_url)
    with running_nginx(directory / "nginx", http_block(running), [http_port, https_port]):
        yield {
            "LIKEOPT_HOST": "127.0.0.1",
            "LIKEOPT_HTTP_PORT": str(http_port),
            "LIKEOPT_HTTPS_PORT": str(https_port),
            "LIKEOPT_TLS_SERVER_NAME": "localhost",
            "LIKEOPT_CA_FILE": str(pki[1]),
            "LIKEOPT_APP_URL": app_url,
            "LIKEOPT_CHROMA_HOST": str(chroma.hostname),
            "LIKEOPT_CHROMA_PORT": str(chroma.port),
            "LIKEOPT_NGINX_BACKEND": "local://",
            "LIKEOPT_NGINX_CONF": str(plan_file),
            "LIKEOPT_WAIT_INTERVAL_S": "0.2",
        }


def redis_variables(redis: RedisServer) -> dict[str, str]:
    return {
        "LIKEOPT_REDIS_HOST": redis.host,
        "LIKEOPT_REDIS_PORT": str(redis.port),
        "LIKEOPT_REDIS_PASSWORD": redis.password,
    }


def messages(record: dict) -> dict[str, str]:
    return {check["id"]: check["message"] or "" for check in record["checks"]}


def test_the_plan_s_nginx_conf_fails_nginx_t_on_its_cipher_list(
    tmp_path: Path, pki: tuple[Leaf, Path], html: Path
) -> None:
    conf = render(tmp_path, pki, html, "127.0.0.1:9")
    plan = nginx_t(tmp_path, conf)
    assert plan.returncode == 1, plan.stderr
    assert f'SSL_CTX_set_cipher_list("{PLAN_CIPHERS}") failed' in plan.stderr
    assert "no cipher match" in plan.stderr
    # The nearest valid list, in the whole nginx.conf the reproduction runs, loads.
    (tmp_path / "temp").mkdir()
    nearest = nginx_t(tmp_path, nginx_conf(tmp_path, http_block(nearest_valid(conf))))
    assert nearest.returncode == 0, nearest.stderr
    assert "syntax is ok" in nearest.stderr


def test_the_example_finds_what_the_plan_s_configuration_gets_wrong(
    tmp_path: Path, pki: tuple[Leaf, Path], html: Path, redis_server: RedisServer
) -> None:
    with (
        stand_in(APP) as app_url,
        stand_in(CHROMA_0X) as chroma_url,
        edge(tmp_path, pki, html, app_url, chroma_url) as variables,
    ):
        done, record = run_example(
            EXAMPLE,
            {**variables, **redis_variables(redis_server)},
            tmp_path / "report",
            "-m",
            "not load and not metrics and not watch",
            "-k",
            NOT_HERE,
        )
    assert not_passed(record) == FINDINGS, done.stdout[-4000:]
    assert record["decision"] == "NO-GO"
    # Everything else the plan asks and this machine can show holds.
    seen = outcomes(record)
    for check in (
        "test_deployment_becomes_ready[api-health]",
        "test_tls_protocols[like-opt-tls]",
        "test_tls_ciphers[like-opt-tls]",
        "test_http_redirects_to_https[http-to-https]",
        "test_cache_headers[static-asset]",
        "test_response_is_compressed[static-asset]",
        "test_body_limit[upload-limit]",
        "test_cookie_flags[session]",
        "test_dependency_round_trip[redis]",
        "test_dependency_answers[chromadb]",
        "test_ports_not_reachable[like-opt-ports]",
    ):
        assert seen[check] == "passed", check
    said = messages(record)
    assert "no cipher match" in said["test_host_config_valid[like-opt-nginx:nginx]"]
    assert re.search(r"Server: nginx/\d", said["test_no_information_leaks[site]"], re.I)
    assert "X-Frame-Options missing" in said["test_security_header_values[static]"]
    # The try_files fallback findings are warnings, not what blocks.
    assert "test_path_not_served[/.env]" not in record["blocking"]
    assert "test_path_not_served[/api/v1/metrics]" in record["blocking"]


def test_the_example_fails_closed_when_the_app_is_down(
    tmp_path: Path, pki: tuple[Leaf, Path], html: Path, redis_server: RedisServer
) -> None:
    """The Flask stand-in stopped, and ChromaDB answering as chromadb/chroma:latest does."""
    with stand_in(APP) as app_url:
        pass  # stopped: nginx answers 502 and the app's own port refuses
    with (
        stand_in(CHROMA_1X) as chroma_url,
        edge(tmp_path, pki, html, app_url, chroma_url) as variables,
    ):
        done, record = run_example(
            EXAMPLE,
            {**variables, **redis_variables(redis_server)},
            tmp_path / "report",
            "-m",
            "smoke",
            "-k",
            NOT_HERE,
        )
    assert record["decision"] == "NO-GO", done.stdout[-4000:]
    assert not_passed(record) == {
        "test_deployment_becomes_ready[api-health]",
        "test_status_is_expected[api-health]",
        "test_status_is_expected[health]",
        "test_status_is_expected[app-health]",
        "test_status_is_expected[app-metrics]",
        "test_dependency_answers[chromadb]",
    }
    said = messages(record)
    assert "status 502" in said["test_deployment_becomes_ready[api-health]"]
    assert "connection refused" in said["test_status_is_expected[app-health]"]
    assert "status 410" in said["test_dependency_answers[chromadb]"]


def test_the_example_loads_with_its_defaults_and_holds_no_literal_secret() -> None:
    path = EXAMPLES / EXAMPLE
    loaded = load_environment(path, {})
    environment = loaded.environment
    assert environment.base_url == "https://127.0.0.1:443"
    (redis,) = (d for d in environment.dependencies if d.name == "redis")
    assert redis.password == ""  # only ever from LIKEOPT_REDIS_PASSWORD
    # With every variable unset gonogo knows no secret: none is written into the file
    # (a literal credential in a header, URL or password would be one).
    assert not loaded.redactor
    text = path.read_text(encoding="utf-8")
    # The plan's own placeholders: .env.production's your-... and Azure's inline PASSWORD.
    assert "your-" not in text
    assert not re.search(r"password:\s*PASSWORD", text)
    for line in text.splitlines():
        key, _, value = line.split("#")[0].partition(":")
        if re.search(r"password|token|secret|webhook", key, re.I) and value.strip():
            assert value.strip().lstrip('"').startswith("${"), line
