"""The edge checks end to end against real nginx: every verdict right, in both directions.

One nginx serves a good and a bad variant of every property (TLS with each certificate case,
redirects, headers, cookies, CORS, compression, caching, body limit, rate limit, exposed
paths). One run of the suite judges them all; each check's outcome and message is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.certificates import Leaf, standard_pki
from tests.nginx_server import free_ports, running_nginx

REPO = Path(__file__).resolve().parent.parent
TLS_CASES = ("expired", "not-yet-valid", "wrong-host", "self-signed", "rsa-1024", "expiring")
GOOD_HEADERS = """
        add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;
        add_header X-Frame-Options DENY always;
        add_header X-Content-Type-Options nosniff always;
        add_header X-XSS-Protection "1; mode=block" always;
        add_header Content-Security-Policy "default-src 'self'" always;
        add_header Referrer-Policy strict-origin-when-cross-origin always;"""
BAD_HEADERS = """
        add_header Strict-Transport-Security "max-age=300" always;
        add_header Content-Security-Policy "default-src * 'unsafe-inline' 'unsafe-eval'" always;
        add_header X-Powered-By "PHP/8.1.2" always;"""


def _site(
    port: int,
    leaf: Leaf,
    body: str,
    protocols: str = "TLSv1.2 TLSv1.3",
    ciphers: str = "ECDHE+AESGCM:ECDHE+CHACHA20",
) -> str:
    return f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate "{leaf.pem}";
        ssl_certificate_key "{leaf.key}";
        ssl_protocols {protocols};
        ssl_ciphers "{ciphers}";
        {body}
    }}"""


def _http_behaviour(good: bool, spare_dir: Path) -> str:
    """The locations both HTTP sites have; `good` picks the right or the wrong behaviour."""
    cookie = "sid=s3cr3t-session; Path=/" + ("; Secure; HttpOnly; SameSite=Strict" if good else "")
    cache = "public, max-age=31536000, immutable" if good else "no-cache"
    env_file = "return 404;" if good else 'return 200 "DB_PASSWORD=x\\n";'
    listing = "return 403;" if good else f'alias "{spare_dir}/"; autoindex on;'
    limit = "limit_req zone=tight burst=2 nodelay; limit_req_status 429;" if good else ""
    limited = spare_dir.parent / "limited.txt"
    cors = (
        'if ($http_origin = "https://app.example.com") {\n'
        "                add_header Access-Control-Allow-Origin $http_origin always;\n"
        "            }"
        if good
        else "add_header Access-Control-Allow-Origin * always;\n"
        "            add_header Access-Control-Allow-Credentials true always;"
    )
    return f"""
        server_tokens {"off" if good else "on"};
        gzip {"on" if good else "off"};
        gzip_min_length 1;
        gzip_types text/plain;
        client_max_body_size {"1k" if good else "16m"};
        {GOOD_HEADERS if good else BAD_HEADERS}
        location = / {{ return 200 "home\\n"; }}
        location = /login {{
            add_header Set-Cookie "{cookie}";
            return 200 "logged in\\n";
        }}
        location = /cors {{
            {cors}
            return 200 "cors\\n";
        }}
        location = /text {{
            default_type text/plain;
            return 200 "{"compress me " * 20}\\n";
        }}
        location = /static/app.css {{
            add_header Cache-Control "{cache}";
            return 200 "body {{}}\\n";
        }}
        location = /limited {{
            {limit}
            default_type text/plain;
            alias "{limited}";
        }}
        location = /.env {{ {env_file} }}
        location /files/ {{
            {listing}
        }}
        location = /loop-a {{ return 301 /loop-b; }}
        location = /loop-b {{ return 301 /loop-a; }}"""


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int | Path]]:
    """The nginx and the certificates; returns the ports by case name and the CA file."""
    pki = standard_pki(tmp_path_factory.mktemp("pki"))
    directory = tmp_path_factory.mktemp("nginx")
    # nginx's workers run as nobody: what they serve must not sit in a private tmp dir.
    public = Path(tempfile.mkdtemp(prefix="gonogo-edge-"))
    public.chmod(0o755)
    spare = public / "files"
    spare.mkdir(mode=0o755)
    for path, text in ((spare / "backup.sql", "-- dump\n"), (public / "limited.txt", "ok\n")):
        path.write_text(text)
        path.chmod(0o644)
    valid, chained = pki["valid"], pki["chained"]
    assert isinstance(valid, Leaf) and isinstance(chained, Leaf)
    # The intermediate is in no trust store: a client gets it from the server or not at all.
    leaf_only = Leaf(chained.cert, directory / "leaf-only.pem", chained.key)
    leaf_only.pem.write_bytes(chained.cert.public_bytes(serialization.Encoding.PEM))
    names = ["good", "bad", "cbc", "chained", "leaf-only", "http", "closed", *TLS_CASES]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    servers = [
        "limit_req_zone $binary_remote_addr zone=tight:1m rate=1r/m;",
        _site(ports["good"], valid, _http_behaviour(True, spare)),
        _site(ports["bad"], valid, _http_behaviour(False, spare)),
        _site(
            ports["cbc"],
            valid,
            'return 200 "cbc\\n";',
            "TLSv1.2",
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256",
        ),
        _site(ports["chained"], chained, 'return 200 "chained\\n";'),
        _site(ports["leaf-only"], leaf_only, 'return 200 "leaf\\n";'),
        *(_site(ports[name], _leaf(pki, name), f'return 200 "{name}\\n";') for name in TLS_CASES),
        f"""
    server {{
        listen 127.0.0.1:{ports["http"]};
        location = /moved {{ return 301 https://127.0.0.1:{ports["good"]}/moved; }}
        location = /temporary {{ return 302 https://127.0.0.1:{ports["good"]}/temporary; }}
        location = /elsewhere {{ return 301 https://other.example/elsewhere; }}
        location = /plain {{ return 301 http://127.0.0.1:{ports["http"]}/plain-target; }}
        location = /looping {{ return 301 https://127.0.0.1:{ports["good"]}/loop-a; }}
    }}""",
    ]
    listening = [port for name, port in ports.items() if name != "closed"]
    try:
        with running_nginx(directory, "\n".join(servers), listening):
            yield {**ports, "ca": pki["ca"]}
    finally:
        shutil.rmtree(public)


def _leaf(pki: dict[str, Leaf | Path | str], name: str) -> Leaf:
    leaf = pki[name]
    assert isinstance(leaf, Leaf), leaf
    return leaf


def _environment(edge: dict[str, int | Path]) -> str:
    good, bad, http = edge["good"], edge["bad"], edge["http"]
    tls_cases = "\n".join(
        f"  - {{name: tls-{name}, url: '127.0.0.1:{edge[name]}', server_name: localhost}}"
        for name in TLS_CASES
    )
    return f"""
name: edge-cases
base_url: https://127.0.0.1:{good}
defaults: {{ca_file: {edge["ca"]}, timeout_s: 3}}
ports:
  - {{name: ports-good, host: 127.0.0.1, open: [{good}], closed: [{edge["closed"]}]}}
  - {{name: ports-bad, host: 127.0.0.1, open: [{edge["closed"]}], closed: [{good}]}}
  - {{name: range-good, host: 127.0.0.1, open: [{good}], nothing_else_open_in: "{good}-{good}"}}
  - {{name: range-bad, host: 127.0.0.1, nothing_else_open_in: "{bad}-{bad}"}}
tls:
  - {{name: tls-good, server_name: localhost}}
  - {{name: tls-cbc, url: "127.0.0.1:{edge["cbc"]}", server_name: localhost, protocols: [TLSv1.2]}}
  - name: tls-cbc-allowed
    url: "127.0.0.1:{edge["cbc"]}"
    server_name: localhost
    protocols: [TLSv1.2]
    allow_cbc: true
  - {{name: tls-chained, url: "127.0.0.1:{edge["chained"]}", server_name: localhost}}
  - {{name: tls-leaf-only, url: "127.0.0.1:{edge["leaf-only"]}", server_name: localhost}}
  - {{name: tls-ocsp, server_name: localhost, ocsp_stapling: true, full_chain: false}}
{tls_cases}
redirects:
  - {{name: moved, url: "http://127.0.0.1:{http}/moved", https_port: {good}}}
  - {{name: temporary, url: "http://127.0.0.1:{http}/temporary", https_port: {good}}}
  - {{name: elsewhere, url: "http://127.0.0.1:{http}/elsewhere", https_port: {good}}}
  - {{name: plain, url: "http://127.0.0.1:{http}/plain", https_port: {good}}}
  - name: looping
    url: "http://127.0.0.1:{http}/looping"
    to: "https://127.0.0.1:{good}/loop-a"
headers:
  - {{name: headers-good, url: /, min_grade: A}}
  - {{name: headers-bad, url: "https://127.0.0.1:{bad}/", min_grade: B}}
cookies:
  - {{name: cookie-good, request: {{url: /login}}, cookies: [sid]}}
  - {{name: cookie-bad, request: {{url: "https://127.0.0.1:{bad}/login"}}}}
cors:
  - {{name: cors-good, url: /cors, allowed_origins: ["https://app.example.com"]}}
  - {{name: cors-bad, url: "https://127.0.0.1:{bad}/cors", allowed_origins: ["https://app.example.com"]}}
endpoints:
  - {{name: text-good, url: /text, compression: [gzip], body_limit_bytes: 1024}}
  - name: text-bad
    url: "https://127.0.0.1:{bad}/text"
    compression: [gzip]
    body_limit_bytes: 1024
  - {{name: static-good, url: /static/app.css, cache: {{}}}}
  - {{name: static-bad, url: "https://127.0.0.1:{bad}/static/app.css", cache: {{}}}}
rate_limits:
  - {{name: limit-good, request: {{url: /limited}}, limit: 3, window_s: 30}}
  - name: limit-bad
    request: {{url: "https://127.0.0.1:{bad}/limited"}}
    limit: 3
    window_s: 30
exposed_paths:
  - /.env
  - /files/
  - {{name: env-bad, url: "https://127.0.0.1:{bad}/.env"}}
  - {{name: listing-bad, url: "https://127.0.0.1:{bad}/files/"}}
"""


@pytest.fixture(scope="module")
def edge_run(edge: dict[str, int | Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run of the real suite, `-m edge`; returns its report directory."""
    directory = tmp_path_factory.mktemp("edge-run")
    env_file = directory / "edge.yaml"
    env_file.write_text(_environment(edge))
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "pytest", f"--env={env_file}", f"--report-dir={directory}"),
            *("-p", "no:cacheprovider", "-m", "edge"),
        ],
        cwd=REPO,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout[-3000:]
    assert "s3cr3t-session" not in done.stdout + (directory / "junit.xml").read_text()
    return directory


@pytest.fixture(scope="module")
def verdicts(edge_run: Path) -> dict[str, tuple[str, str]]:
    """check id -> (outcome, message)."""
    record = json.loads((edge_run / "decision.json").read_text())
    return {c["id"]: (c["outcome"], c.get("message") or "") for c in record["checks"]}


def test_tls_evidence_reaches_the_junit_report(edge_run: Path) -> None:
    junit = (edge_run / "junit.xml").read_text()
    assert 'name="evidence" value="negotiated TLSv1.3' in junit
    assert "issuer CN=gonogo test CA" in junit


def _check(verdicts: dict[str, tuple[str, str]], check_id: str, *fragments: str) -> None:
    outcome, message = verdicts[check_id]
    if not fragments:
        assert outcome == "passed", f"{check_id}: {message}"
        return
    assert outcome == "failed", f"{check_id} passed; expected a finding with {fragments}"
    for fragment in fragments:
        assert fragment in message, f"{check_id}: {message!r} lacks {fragment!r}"


def test_ports(verdicts: dict[str, tuple[str, str]], edge: dict[str, int | Path]) -> None:
    _check(verdicts, "test_ports_open[ports-good]")
    _check(verdicts, "test_ports_not_reachable[ports-good]")
    _check(verdicts, "test_ports_open[ports-bad]", f"port {edge['closed']} closed on 127.0.0.1")
    _check(
        verdicts, "test_ports_not_reachable[ports-bad]", f"port {edge['good']} open on 127.0.0.1"
    )
    _check(verdicts, "test_nothing_else_open[range-good]")
    _check(
        verdicts,
        "test_nothing_else_open[range-bad]",
        f"port {edge['bad']} open on 127.0.0.1 in {edge['bad']}-{edge['bad']}; expected only none",
    )


def test_tls_good_endpoint_passes_every_check(verdicts: dict[str, tuple[str, str]]) -> None:
    for check in ("protocols", "ciphers", "certificate_trusted", "certificate_lifetime"):
        _check(verdicts, f"test_tls_{check}[tls-good]")
    _check(verdicts, "test_tls_certificate_key[tls-good]")
    _check(verdicts, "test_tls_chain_served[tls-good]")


@pytest.mark.parametrize(
    ("case", "check", "fragments"),
    [
        ("expired", "certificate_trusted", ("expired on",)),
        ("expired", "certificate_lifetime", ("expired on", "expected at least 30 days left")),
        ("not-yet-valid", "certificate_trusted", ("not valid before",)),
        ("wrong-host", "certificate_trusted", ("localhost",)),
        ("self-signed", "certificate_trusted", ("self-signed",)),
        ("rsa-1024", "certificate_key", ("RSA 1024-bit key, expected at least 2048",)),
        ("expiring", "certificate_lifetime", ("10 days left", "expected at least 30")),
    ],
)
def test_tls_certificate_cases_fail_with_the_reason(
    verdicts: dict[str, tuple[str, str]], case: str, check: str, fragments: tuple[str, ...]
) -> None:
    _check(verdicts, f"test_tls_{check}[tls-{case}]", *fragments)


def test_tls_certificate_cases_pass_what_they_get_right(
    verdicts: dict[str, tuple[str, str]],
) -> None:
    _check(verdicts, "test_tls_certificate_trusted[tls-expiring]")
    _check(verdicts, "test_tls_certificate_lifetime[tls-wrong-host]")
    _check(verdicts, "test_tls_certificate_key[tls-expired]")
    _check(verdicts, "test_tls_protocols[tls-expired]")


def test_tls_suites_and_chain(verdicts: dict[str, tuple[str, str]]) -> None:
    _check(verdicts, "test_tls_ciphers[tls-cbc]", "ECDHE-ECDSA-AES128-SHA (CBC)")
    _check(verdicts, "test_tls_ciphers[tls-cbc-allowed]")
    _check(verdicts, "test_tls_protocols[tls-cbc]")
    _check(verdicts, "test_tls_chain_served[tls-chained]")
    _check(verdicts, "test_tls_certificate_trusted[tls-chained]")
    _check(verdicts, "test_tls_chain_served[tls-leaf-only]", "only the leaf", "intermediate")
    _check(verdicts, "test_tls_ocsp_stapled[tls-ocsp]", "no OCSP response stapled")


def test_redirects(verdicts: dict[str, tuple[str, str]]) -> None:
    _check(verdicts, "test_http_redirects_to_https[moved]")
    _check(verdicts, "test_http_redirects_to_https[temporary]", "answered 302 (temporary)")
    _check(
        verdicts,
        "test_http_redirects_to_https[elsewhere]",
        "points to https://other.example/elsewhere (another host: other.example)",
    )
    _check(verdicts, "test_http_redirects_to_https[plain]", "(stays on http://)")
    _check(verdicts, "test_http_redirects_to_https[looping]", "loop")


def test_headers(verdicts: dict[str, tuple[str, str]]) -> None:
    for check in ("security_header_values", "hsts", "content_security_policy"):
        _check(verdicts, f"test_{check}[headers-good]")
    _check(verdicts, "test_no_information_leaks[headers-good]")
    _check(verdicts, "test_header_grade[headers-good]")
    _check(
        verdicts, "test_security_header_values[headers-bad]", "X-Frame-Options missing", "nosniff"
    )
    _check(verdicts, "test_hsts[headers-bad]", "max-age 300, expected at least 31536000")
    _check(
        verdicts, "test_content_security_policy[headers-bad]", "'unsafe-inline'", "'unsafe-eval'"
    )
    _check(verdicts, "test_no_information_leaks[headers-bad]", "X-Powered-By", "nginx/")
    _check(
        verdicts,
        "test_header_grade[headers-bad]",
        "grade D (30)",
        "expected B or better",
        "X-Powered-By",
    )


def test_cookies_and_cors(verdicts: dict[str, tuple[str, str]]) -> None:
    _check(verdicts, "test_cookie_flags[cookie-good]")
    _check(
        verdicts,
        "test_cookie_flags[cookie-bad]",
        "sid: no Secure, no HttpOnly, SameSite=(not set)",
    )
    _check(verdicts, "test_cors_allows_listed_origins[cors-good]")
    _check(verdicts, "test_cors_refuses_other_origins[cors-good]")
    _check(
        verdicts,
        "test_cors_refuses_other_origins[cors-bad]",
        "Access-Control-Allow-Origin '*'",
        "* with credentials",
    )


def test_endpoints(verdicts: dict[str, tuple[str, str]]) -> None:
    _check(verdicts, "test_response_is_compressed[text-good]")
    _check(verdicts, "test_response_is_compressed[text-bad]", "Content-Encoding (none)")
    _check(verdicts, "test_body_limit[text-good]")
    _check(verdicts, "test_body_limit[text-bad]", "a 1025-byte body got status 200")
    _check(verdicts, "test_cache_headers[static-good]")
    _check(verdicts, "test_cache_headers[static-bad]", "no public", "no immutable", "max-age")


def test_rate_limits_and_exposed_paths(verdicts: dict[str, tuple[str, str]]) -> None:
    _check(verdicts, "test_rate_limited[limit-good]")
    _check(verdicts, "test_rate_limited[limit-bad]", "5 requests", "none refused with 429")
    _check(verdicts, "test_path_not_served[/.env]")
    _check(verdicts, "test_path_not_served[/files/]")
    _check(verdicts, "test_path_not_served[env-bad]", "served with status 200")
    _check(verdicts, "test_path_not_served[listing-bad]", "as a directory listing")
