"""Example 004 (사주 챗봇): the guide's own nginx.conf, run by a real nginx in front of a stand-in
API and a real MariaDB, with examples/chatbot-nginx-mysql.yaml judging it as a reader would.

The guide's nginx.conf does not load as written (`nginx -t` says why, asserted below); the
reproduction runs the nearest valid configuration: the same text with its `limit_req_zone`
line moved up to the http block. What the stand-in cannot be (containers, CORS, trusted
hosts, input validation, the app's own rate limit, Prometheus) is left out of the run by name.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from gonogo.environment_file import load_environment
from tests.certificates import trusted_leaf
from tests.dependency_servers import DatabaseServer
from tests.example_stack import EXAMPLES, Answer, not_passed, outcomes, run_example, stand_in
from tests.nginx_server import free_ports, nginx_conf, nginx_test, running_nginx

EXAMPLE = "chatbot-nginx-mysql.yaml"
TEMPLATE = Path(__file__).parent / "examples" / "004" / "nginx.conf.template"
_ZONE = re.compile(r"^[ \t]*limit_req_zone .*;\n", re.MULTILINE)

# ## 🔐 보안 강화, 1. 보안 미들웨어: SecurityHeadersMiddleware, on every answer of the app.
APP_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "X-XSS-Protection": "1; mode=block",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# ## 📊 모니터링 및 로깅, 3. 헬스 체크 엔드포인트: what health.py means to answer.
HEALTHY = {
    "status": "healthy",
    "timestamp": "2025-01-15T09:00:00.000000",
    "checks": {
        "mysql": {"status": "healthy", "response_time": "< 100ms"},
        "chromadb": {"status": "healthy", "collections": 2},
        "openai": {"status": "healthy", "model": "gpt-3.5-turbo-0125"},
    },
}
ANSWERS = {
    "/health": Answer(HEALTHY, headers=APP_HEADERS),
    "/health/ready": Answer({"status": "ready"}, headers=APP_HEADERS),
    "/health/live": Answer({"status": "alive"}, headers=APP_HEADERS),
}

# Checks of the example that need the real app, a Docker engine or Prometheus.
NOT_HERE = " and ".join(
    f"not {name}"
    for name in (
        "test_container",  # no Docker engine: the compose services are not running here
        "test_host_file",  # the image's /app is not this machine's
        "test_host_listening_sockets",  # nor are the containers' sockets
        "test_cors",  # CORSMiddleware is the app's; the stand-in answers fixed bodies
        "unknown-host-refused",  # TrustedHostMiddleware, likewise
        "test_bad_input_rejected_cleanly",  # SecureChatRequest validation, likewise
        "test_errors_carry_no_debug_output",
        "test_healthy_after_bad_input",
        "app-api",  # RateLimitMiddleware, likewise
    )
)
MARKS = "not load and not metrics and not watch"

# What the guide's own configuration fails, each explained in the example file.
FINDINGS = {
    "test_ports_not_reachable[saju-edge]",  # compose publishes 8000 and 3306
    "test_tls_ciphers[saju-tls]",  # HIGH:!aNULL:!MD5 keeps CBC suites
    "test_security_header_values[api-headers]",  # nginx and the app both: "DENY, DENY"
    "test_content_security_policy[api-headers]",  # no CSP anywhere
    "test_no_information_leaks[api-headers]",  # no server_tokens off
    "test_security_header_values[static-headers]",  # location add_header drops the server's
    "test_hsts[static-headers]",
    "test_content_security_policy[static-headers]",
    "test_no_information_leaks[static-headers]",
    "test_rate_limited[nginx-api]",  # limit_req answers 503, not 429
}


def document_config(
    directory: Path, upstream: str, http_port: int, https_port: int, static: Path
) -> str:
    """The guide's nginx.conf with only ports, certificate, upstream and file paths adapted."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf, _ = trusted_leaf(directory)
    return TEMPLATE.read_text().format(
        upstream=upstream,
        http_port=http_port,
        https_port=https_port,
        cert=leaf.pem,
        key=leaf.key,
        static=static,
    )


def nearest_valid(config: str) -> str:
    """The guide's text with `limit_req_zone` moved from `server` up to the http block."""
    zone = _ZONE.search(config)
    assert zone is not None
    return zone.group(0).strip() + "\n" + _ZONE.sub("", config, count=1)


@contextmanager
def static_files() -> Iterator[Path]:
    """The frontend's files (`alias /var/www/static/`): nginx's workers run as nobody, so
    they sit in a world-readable directory of their own, not in the private tmp_path."""
    public = Path(tempfile.mkdtemp(prefix="gonogo-004-static-"))
    try:
        public.chmod(0o755)
        css = public / "app.css"
        css.write_text("body { font-family: sans-serif; color: #333; }\n" * 4)
        css.chmod(0o644)
        yield public
    finally:
        shutil.rmtree(public)


@contextmanager
def edge(directory: Path, upstream: str) -> Iterator[dict[str, str]]:
    """nginx running the nearest valid form of the guide's config; yields its variables."""
    http_port, https_port, redis_port = free_ports(3)
    with static_files() as static:
        config = document_config(directory, upstream, http_port, https_port, static)
        with running_nginx(directory, nearest_valid(config), [http_port, https_port]):
            yield {
                "SAJU_HOST": "127.0.0.1",
                "SAJU_HTTP_PORT": str(http_port),
                "SAJU_HTTPS_PORT": str(https_port),
                "SAJU_CA_FILE": str(directory / "ca.pem"),
                "SAJU_REDIS_PORT": str(redis_port),  # the optional Redis is not started
                "SAJU_NGINX_BACKEND": "local://",
                "SAJU_NGINX_CONF": str(directory / "nginx.conf"),
                "SAJU_WAIT_ATTEMPTS": "3",
                "SAJU_WAIT_INTERVAL_S": "0.2",
            }


def mysql_variables(server: DatabaseServer) -> dict[str, str]:
    return {
        "SAJU_MYSQL_HOST": server.host,
        "SAJU_MYSQL_PORT": str(server.port),
        "SAJU_MYSQL_USER": server.user,
        "SAJU_MYSQL_DB": server.database,
        "SAJU_MYSQL_PASSWORD": server.password,
    }


def message(record: dict[str, Any], check: str) -> str:
    found = [c for c in record["checks"] if c["id"] == check]
    assert found, f"{check} not in the record"
    return str(found[0]["message"])


def test_document_nginx_conf_does_not_load(tmp_path: Path) -> None:
    config = document_config(tmp_path, "127.0.0.1:8000", *free_ports(2), tmp_path / "static")
    (tmp_path / "temp").mkdir()
    # As compose mounts it: the whole /etc/nginx/nginx.conf, with no events or http block.
    whole = tmp_path / "as-mounted.conf"
    whole.write_text(config)
    done = nginx_test(tmp_path, whole)
    assert done.returncode == 1
    assert '"upstream" directive is not allowed here' in done.stderr
    # Included inside an http block (conf.d/), it stops at the zone declared in `server`.
    included = tmp_path / "in-http.conf"
    included.write_text(nginx_conf(tmp_path, config))
    done = nginx_test(tmp_path, included)
    assert done.returncode == 1
    assert '"limit_req_zone" directive is not allowed here' in done.stderr
    # The reproduction's one change makes it load.
    fixed = tmp_path / "nearest-valid.conf"
    fixed.write_text(nginx_conf(tmp_path, nearest_valid(config)))
    assert nginx_test(tmp_path, fixed).returncode == 0


def test_example_against_the_document_edge(tmp_path: Path, mariadb_server: DatabaseServer) -> None:
    with stand_in(ANSWERS) as api, edge(tmp_path / "nginx", api.removeprefix("http://")) as env:
        variables = {
            **env,
            **mysql_variables(mariadb_server),
            "SAJU_APP_HOST": "127.0.0.1",
            "SAJU_APP_PORT": api.rsplit(":", 1)[1],
        }
        done, record = run_example(
            EXAMPLE, variables, tmp_path / "report", "-m", MARKS, "-k", NOT_HERE
        )
    assert not_passed(record) == FINDINGS, done.stdout[-4000:]
    assert record["decision"] == "NO-GO"
    checks = outcomes(record)
    for passed in (
        "test_status_is_expected[health]",
        "test_json_fields_match[health]",
        "test_dependency_query_result[mysql]",
        "test_http_redirects_to_https[http-to-https]",
        "test_tls_protocols[saju-tls]",
        "test_hsts[api-headers]",
        "test_response_is_compressed[json-gzip]",
        "test_cache_headers[static-cache]",
        "test_body_limit[body-limit]",
        "test_host_config_valid[nginx:nginx]",
    ):
        assert checks.get(passed) == "passed", passed
    limited = message(record, "test_rate_limited[nginx-api]")
    assert "none refused with 429" in limited and "503 x" in limited
    assert "DENY, DENY" in message(record, "test_security_header_values[api-headers]")
    assert "nginx/1." in message(record, "test_no_information_leaks[api-headers]")
    assert "CBC" in message(record, "test_tls_ciphers[saju-tls]")
    assert str(mariadb_server.port) in message(record, "test_ports_not_reachable[saju-edge]")


def test_example_fails_closed(tmp_path: Path, mariadb_server: DatabaseServer) -> None:
    """The API stopped, and nginx.conf as the guide mounts it: NO-GO, saying both."""
    with stand_in(ANSWERS) as api:
        upstream = api.removeprefix("http://")  # nothing listens there once the block ends
    with edge(tmp_path / "nginx", upstream) as env:
        mounted = tmp_path / "nginx" / "as-mounted.conf"
        as_written = document_config(tmp_path / "doc", upstream, 80, 443, tmp_path / "static")
        mounted.write_text(as_written)
        variables = {
            **env,
            **mysql_variables(mariadb_server),
            "SAJU_APP_HOST": "127.0.0.1",
            "SAJU_APP_PORT": upstream.rsplit(":", 1)[1],
            "SAJU_NGINX_CONF": str(mounted),
        }
        done, record = run_example(
            EXAMPLE, variables, tmp_path / "report", "-m", "smoke or inside", "-k", NOT_HERE
        )
    assert done.returncode == 1
    assert record["decision"] == "NO-GO"
    failed = not_passed(record)
    assert {
        "test_deployment_becomes_ready[app-health]",
        "test_status_is_expected[health]",
        "test_host_config_valid[nginx:nginx]",
    } <= failed
    assert "test_dependency_answers[mysql]" not in failed
    assert '"upstream" directive is not allowed here' in message(
        record, "test_host_config_valid[nginx:nginx]"
    )


def test_example_holds_no_literal_secret() -> None:
    path = EXAMPLES / EXAMPLE
    loaded = load_environment(path, {})
    environment = loaded.environment
    assert environment.base_url == "https://127.0.0.1:443"
    text = path.read_text()
    # The guide's .env files carry literal credentials; none of them belongs here.
    for literal in ("staging_password", "production_password", "sk-staging", "sk-production"):
        assert literal not in text
    assert not re.search(r"://[^/@\s$]+:[^/@\s$]+@", text)  # no user:password@ in a URL

    def secrets(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
        if isinstance(node, dict):
            for name, value in node.items():
                yield from secrets(value, str(name))
        elif isinstance(node, list):
            for item in node:
                yield from secrets(item, key)
        elif re.search("password|token|secret|api_key|authorization", key, re.IGNORECASE):
            yield key, node

    found = list(secrets(yaml.safe_load(text)))
    assert found
    for key, value in found:
        assert isinstance(value, str) and re.fullmatch(r"\$\{[A-Z0-9_]+(:-)?\}", value), key
