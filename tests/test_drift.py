"""`gonogo diff` and the fingerprints behind it, against the real demo and a real nginx.

Blue and green are the same deployment with green's planted regressions, so their
fingerprints must differ exactly there. The gate's own run records a fingerprint that a later
`gonogo diff --last` compares with: unchanged while blue stays live, the regressions once
green is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from gonogo.demo.config import SECRET_VARIABLES
from gonogo.demo.deployment import DemoConfig, switch
from gonogo.drift import Difference, aspects, differences, observe, render
from gonogo.drift_cli import main
from gonogo.environment import Environment
from gonogo.environment_file import load_environment
from gonogo.fingerprint import AREAS, area_of, container_fingerprint, port_fingerprint
from gonogo.history import History
from gonogo.probes.containers import ContainerSet, close_clients
from gonogo.probes.ports import PortFact, PortState, ScanResult
from tests.certificates import trusted_leaf
from tests.nginx_server import free_ports, running_nginx
from tests.test_demo_suite import DEMO_ENV, REPO, run_suite

DIFF = [
    sys.executable,
    "-c",
    "import sys; from gonogo.drift_cli import main; raise SystemExit(main(sys.argv[1:]))",
]
TLS_ASPECTS = (
    "protocols",
    "TLS 1.2 suites",
    "TLS 1.3 suites",
    "certificate issuer",
    "certificate key",
    "certificate signature",
    "certificate trusted",
    "certificate expires",
)
# Spelt out, not imported: a header added to the fingerprint (Set-Cookie...) must show here.
HEADER_ASPECTS = (
    "status",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Referrer-Policy",
    "Strict-Transport-Security",
    "Content-Security-Policy",
    "Permissions-Policy",
    "Cross-Origin-Opener-Policy",
    "Cross-Origin-Resource-Policy",
    "Server",
    "X-Powered-By",
)
CONTAINER_ASPECTS = (
    "replicas",
    "image",
    "status",
    "health",
    "user",
    "cpus",
    "memory",
    "restart policy",
    "published ports",
    "read-only rootfs",
    "privileged",
    "added capabilities",
    "log rotation",
)
DEMO_KEYS = (
    {f"tls demo-tls: {aspect}" for aspect in TLS_ASPECTS}
    | {
        f"headers {label}: {aspect}"
        for label in ("api", "login-page-headers")
        for aspect in HEADER_ASPECTS
    }
    | {
        f"ports {label}: {aspect}"
        for label in ("demo-ports", "privileged-ports")
        for aspect in ("open", "filtered")
    }
    | {f"containers worker: {aspect}" for aspect in CONTAINER_ASPECTS}
)
TLS13_SUITES = {"TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"}


@pytest.fixture(scope="module", autouse=True)
def engine_clients() -> Iterator[None]:
    """The container probe keeps its Docker clients for the process: closed after this module."""
    yield
    close_clients()


@pytest.fixture(scope="module")
def seen(demo: DemoConfig) -> dict[str, dict[str, str]]:
    """The demo's fingerprint while each release is live; blue is live again afterwards."""
    environment = _demo_environment(demo)
    try:
        switch(demo, "blue")
        blue = observe(environment)
        switch(demo, "green")
        green = observe(environment)
    finally:
        switch(demo, "blue")
    return {"blue": blue, "green": green}


def _demo_environment(demo: DemoConfig) -> Environment:
    return load_environment(DEMO_ENV, {**os.environ, **demo.variables()}).environment


def _ports(*ports: int) -> str:
    return ", ".join(str(port) for port in sorted(ports))


def _cells(line: str) -> list[str]:
    """The cells of one line of `render`'s table (an empty last cell leaves a bare ` |`)."""
    return [cell.strip() for cell in f"{line} ".split(" | ")]


def _diff(demo: DemoConfig, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DIFF, *args],
        cwd=REPO,
        env={**os.environ, **demo.variables()},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_blue_fingerprint_holds_every_aspect_as_probed(
    demo: DemoConfig, seen: dict[str, dict[str, str]]
) -> None:
    blue = seen["blue"]
    assert set(blue) == DEMO_KEYS
    served = x509.load_pem_x509_certificate((demo.run_dir / "pki" / "server.pem").read_bytes())
    assert blue["tls demo-tls: TLS 1.3 suites"] in TLS13_SUITES
    assert {key: value for key, value in blue.items() if area_of(key) == "tls"} == {
        "tls demo-tls: protocols": "TLSv1.2, TLSv1.3",
        "tls demo-tls: TLS 1.2 suites": "ECDHE-ECDSA-AES128-GCM-SHA256, "
        "ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-CHACHA20-POLY1305",
        "tls demo-tls: TLS 1.3 suites": blue["tls demo-tls: TLS 1.3 suites"],
        "tls demo-tls: certificate issuer": "CN=gonogo demo CA,O=gonogo demo",
        "tls demo-tls: certificate key": "EC 256",
        "tls demo-tls: certificate signature": "ecdsa-with-SHA256",
        "tls demo-tls: certificate trusted": "yes",
        "tls demo-tls: certificate expires": served.not_valid_after_utc.date().isoformat(),
    }
    for label in ("api", "login-page-headers"):
        headers = {
            key.removeprefix(f"headers {label}: "): value
            for key, value in blue.items()
            if key.startswith(f"headers {label}: ")
        }
        assert headers == {
            "status": "200",
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "X-XSS-Protection": "1; mode=block",
            "Referrer-Policy": "strict-origin-when-cross-origin",
            "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
            "Content-Security-Policy": "default-src 'self'",
            "Permissions-Policy": "(absent)",
            "Cross-Origin-Opener-Policy": "(absent)",
            "Cross-Origin-Resource-Policy": "(absent)",
            "Server": "nginx",
            "X-Powered-By": "(absent)",
        }
    assert blue["ports demo-ports: open"] == _ports(demo.http_port, demo.https_port)
    assert blue["ports demo-ports: filtered"] == "none"
    assert {
        key.removeprefix("containers worker: "): value
        for key, value in blue.items()
        if area_of(key) == "containers"
    } == {
        "replicas": "1",
        "image": "gonogo-demo-worker:1.4.2",
        "status": "running",
        "health": "healthy",
        "user": "app",
        "cpus": "0.25",
        "memory": "64M",
        "restart policy": "unless-stopped",
        "published ports": "none",
        "read-only rootfs": "yes",
        "privileged": "no",
        "added capabilities": "none",
        "log rotation": "10m",
    }


def test_no_fingerprint_carries_a_secret(demo: DemoConfig, seen: dict[str, dict[str, str]]) -> None:
    secrets = [demo.variables()[name] for name in SECRET_VARIABLES]
    for fingerprint in seen.values():
        text = json.dumps(fingerprint)
        for secret in secrets:
            assert secret not in text
        assert not any("cookie" in key.lower() for key in fingerprint)


def test_blue_and_green_differ_where_green_regressed(
    demo: DemoConfig, seen: dict[str, dict[str, str]]
) -> None:
    rows = differences(seen["blue"], seen["green"])
    found = {row.key: (row.left, row.right) for row in rows}
    assert found["tls demo-tls: protocols"] == ("TLSv1.2, TLSv1.3", "TLSv1, TLSv1.2, TLSv1.3")
    blue_suites, green_suites = found["tls demo-tls: TLS 1.2 suites"]
    assert blue_suites is not None and green_suites is not None
    assert "ECDHE-ECDSA-AES128-SHA" in green_suites.split(", ")
    assert "ECDHE-ECDSA-AES128-SHA" not in blue_suites.split(", ")
    assert found["headers api: X-Frame-Options"] == ("DENY", "(absent)")
    assert found["headers login-page-headers: Referrer-Policy"] == (
        "strict-origin-when-cross-origin",
        "(absent)",
    )
    server = found["headers api: Server"]
    assert server[0] == "nginx" and str(server[1]).startswith("nginx/1.")
    assert found["ports demo-ports: open"] == (
        _ports(demo.http_port, demo.https_port),
        _ports(demo.http_port, demo.https_port, demo.admin_port),
    )
    assert found["containers worker: image"] == (
        "gonogo-demo-worker:1.4.2",
        "gonogo-demo-worker:latest",
    )
    assert found["containers worker: user"] == ("app", "root")
    assert found["containers worker: added capabilities"] == ("none", "NET_ADMIN")
    # What green did not change is no difference: the certificate, HSTS, the replica count.
    assert not [key for key in found if "certificate" in key]
    assert "headers api: Strict-Transport-Security" not in found
    assert "containers worker: replicas" not in found
    assert [row.key for row in rows] == sorted(
        found, key=lambda key: (AREAS.index(area_of(key)), key)
    )
    assert {row.area for row in differences(seen["blue"], seen["green"], areas=["tls"])} == {"tls"}


def test_render_puts_the_releases_side_by_side_within_the_width(
    seen: dict[str, dict[str, str]],
) -> None:
    blue, green = seen["blue"], seen["green"]
    rows = differences(blue, green)
    compared = len(aspects(blue, green))
    assert compared == len(DEMO_KEYS)
    text = render(rows, "blue", "green", compared=compared, width=100)
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines[:-1])  # the summary stays one line
    assert [line for line in lines if not line.startswith(" ")][:4] == list(AREAS)
    assert _cells(lines[0]) == ["aspect", "blue", "green"]
    protocols = next(line for line in lines if "demo-tls: protocols" in line)
    assert _cells(protocols) == [
        "demo-tls: protocols",
        "TLSv1.2, TLSv1.3",
        "TLSv1, TLSv1.2, TLSv1.3",
    ]
    assert lines[-1] == (
        f"{len(rows)} differences (tls 2, headers 8, ports 1, containers 9) between blue and "
        f"green ({len(DEMO_KEYS)} aspects compared)"
    )
    assert render([], "blue", "blue", compared=compared) == (
        f"no differences between blue and blue ({compared} aspects compared)"
    )


def test_render_wraps_long_values_and_shows_what_one_side_lacks() -> None:
    policy = "default-src 'self'; script-src 'self' 'unsafe-inline' " + "https://cdn.example " * 30
    rows = [
        Difference("headers api: Content-Security-Policy", policy, None),
        Difference("tls edge: TLS 1.2 suites", "ECDHE-ECDSA-AES128-GCM-SHA256", None),
        Difference("tls edge: protocols", "TLSv1.2", "TLSv1, TLSv1.2"),
    ]
    lines = render(rows, "staging", "production", compared=7, width=100).splitlines()
    assert all(len(line) <= 100 for line in lines[:-1])
    assert _cells(lines[0]) == ["aspect", "staging", "production"]
    assert lines[1] == "headers"
    csp = [_cells(line) for line in lines[2:8]]
    assert csp[0] == [
        "api: Content-Security-Policy",
        "default-src 'self'; script-src",
        "(not observed)",
    ]
    assert csp[1][1] == "'self' 'unsafe-inline'"  # words whole, never split at a hyphen
    assert csp[-1][1].endswith(" ...")  # six lines at most, then cut
    assert lines[8] == "tls"
    assert _cells(lines[9]) == [
        "edge: TLS 1.2 suites",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "(not observed)",
    ]
    assert lines[-1] == (
        "3 differences (headers 1, tls 2) between staging and production (7 aspects compared)"
    )


def test_ports_in_a_row_read_as_a_range() -> None:
    states = dict.fromkeys((1, 2, 3, 4, 7, 9, 10), PortState.FILTERED)
    states |= {22: PortState.OPEN, 23: PortState.OPEN, 443: PortState.OPEN, 80: PortState.CLOSED}
    facts = tuple(
        PortFact("edge", "192.0.2.1", port, state, 1.0, "") for port, state in states.items()
    )
    scan = ScanResult("edge", ("192.0.2.1",), facts, 1.0)
    assert port_fingerprint("edge", scan) == {
        "ports edge: open": "22, 23, 443",
        "ports edge: filtered": "1-4, 7, 9, 10",
    }


def test_no_container_matched_leaves_only_the_count() -> None:
    assert container_fingerprint("worker", ContainerSet("unix:///x.sock", (), 0.1)) == {
        "containers worker: replicas": "0"
    }


@pytest.fixture
def lookalike(demo: DemoConfig, tmp_path: Path) -> Iterator[Path]:
    """A copy of the demo's environment file whose edge is another nginx: TLS 1.2 only with
    a CBC suite, another CA, a weaker HSTS, the version in Server. Its worker is the demo's."""
    leaf, ca = trusted_leaf(tmp_path)
    https, http = free_ports(2)
    servers = f"""
    server {{
        listen 127.0.0.1:{https} ssl;
        server_name localhost;
        ssl_certificate "{leaf.pem}";
        ssl_certificate_key "{leaf.key}";
        ssl_protocols TLSv1.2;
        ssl_ciphers "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256";
        server_tokens on;
        add_header Strict-Transport-Security "max-age=300" always;
        add_header X-Frame-Options SAMEORIGIN always;
        add_header X-Content-Type-Options nosniff always;
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{http};
        return 301 https://$host:{https}$request_uri;
    }}"""
    copy = tmp_path / "lookalike.yaml"
    text = (
        DEMO_ENV.read_text()
        .replace("name: demo\n", "name: lookalike\n")
        .replace(
            "base_url: https://127.0.0.1:${GONOGO_DEMO_HTTPS_PORT:-18443}",
            f"base_url: https://127.0.0.1:{https}",
        )
        .replace("ca_file: ${GONOGO_DEMO_DIR:-../.gonogo/demo}/pki/ca.pem", f"ca_file: {ca}")
        .replace(
            'open: ["${GONOGO_DEMO_HTTPS_PORT:-18443}", "${GONOGO_DEMO_HTTP_PORT:-18080}"]',
            f"open: [{https}, {http}]",
        )
    )
    assert text.count(str(https)) == 2 and str(ca) in text  # every replacement found its line
    copy.write_text(text)
    shutil.copytree(DEMO_ENV.parent / "files", tmp_path / "files")  # the flows' uploads
    with running_nginx(tmp_path / "nginx", servers, [https, http]):
        yield copy


def test_diff_of_two_live_targets_shows_where_they_differ(
    demo: DemoConfig, lookalike: Path
) -> None:
    switch(demo, "blue")
    done = _diff(demo, str(DEMO_ENV), str(lookalike))
    assert done.returncode == 1, done.stderr
    assert done.stderr.splitlines() == [
        "probing demo (6 entries)...",
        "probing lookalike (6 entries)...",
    ]
    lines = done.stdout.splitlines()
    assert _cells(lines[0]) == ["aspect", "demo", "lookalike"]
    headings = [line for line in lines[1:-1] if not line.startswith(" ")]
    assert headings == ["tls", "headers", "ports"]  # the same worker: no container differs
    cells = {_cells(line)[0]: _cells(line)[1:] for line in lines[1:-1] if line.startswith("  ")}
    assert cells["demo-tls: protocols"] == ["TLSv1.2, TLSv1.3", "TLSv1.2"]
    assert cells["demo-tls: certificate issuer"] == [
        "CN=gonogo demo CA,O=gonogo demo",
        "CN=gonogo test CA",
    ]
    assert cells["api: X-Frame-Options"] == ["DENY", "SAMEORIGIN"]
    assert cells["login-page-headers: Referrer-Policy"] == [
        "strict-origin-when-cross-origin",
        "(absent)",
    ]
    assert cells["api: Server"][0] == "nginx" and cells["api: Server"][1].startswith("nginx/1.")
    assert "demo-ports: open" in cells
    assert lines[-1].endswith(f"between demo and lookalike ({len(DEMO_KEYS)} aspects compared)")

    done = _diff(demo, str(DEMO_ENV), str(lookalike), "--area", "tls", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["left"] == "demo" and report["right"] == "lookalike"
    assert report["compared"] == len(TLS_ASPECTS)
    by_key = {row["key"]: row for row in report["differences"]}
    assert {row["area"] for row in report["differences"]} == {"tls"}
    assert by_key["tls demo-tls: TLS 1.3 suites"]["right"] == "none"
    assert by_key["tls demo-tls: TLS 1.2 suites"]["right"] == (
        "ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES128-SHA"
    )
    assert "tls demo-tls: certificate trusted" not in by_key  # each trusts its own CA


def test_diff_of_one_environment_with_itself_finds_nothing(demo: DemoConfig) -> None:
    switch(demo, "blue")
    done = _diff(demo, str(DEMO_ENV), str(DEMO_ENV))
    assert done.returncode == 0, done.stdout + done.stderr
    # Both sides are called demo: they are named by the files as given instead.
    assert done.stdout == (
        f"no differences between {DEMO_ENV} and {DEMO_ENV} ({len(DEMO_KEYS)} aspects compared)\n"
    )


def test_diff_last_compares_now_with_the_gate_run_recorded(
    demo: DemoConfig, tmp_path: Path
) -> None:
    switch(demo, "blue")
    edge = ("checks/test_tls.py", "checks/test_headers.py", "checks/test_ports.py")
    done, record = run_suite(demo, tmp_path, "-n", "2", *edge, marks="edge")
    assert record["decision"] == "GO", done.stdout[-3000:]
    recorded = record["fingerprint"]
    assert {area_of(key) for key in recorded} == {"tls", "headers", "ports"}
    assert recorded["tls demo-tls: protocols"] == "TLSv1.2, TLSv1.3"
    assert recorded["headers api: X-Frame-Options"] == "DENY"
    for report in ("report.html", "summary.md"):
        assert (tmp_path / report).is_file(), report
    history = str(tmp_path / "history.sqlite")
    try:
        switch(demo, "green")
        done = _diff(demo, str(DEMO_ENV), "--last", "--history", history)
        assert done.returncode == 1, done.stdout + done.stderr
        assert done.stderr == "probing demo (5 entries)...\n"
        protocols = next(line for line in done.stdout.splitlines() if "demo-tls: protocols" in line)
        assert _cells(protocols)[1:] == ["TLSv1.2, TLSv1.3", "TLSv1, TLSv1.2, TLSv1.3"]
        assert "containers" not in done.stdout  # the recorded run inspected no container
        assert " between demo run 1 (" in done.stdout and ") and demo now (" in done.stdout
    finally:
        switch(demo, "blue")
    done = _diff(demo, str(DEMO_ENV), "--last", "--history", history)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("no differences between demo run 1 (")
    assert done.stdout.endswith(f") and demo now ({len(recorded)} aspects compared)\n")


def test_an_unknown_environment_names_the_file_looked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    directory = REPO / "environments"
    assert main(["nosuch", "demo", "--environments-dir", str(directory)]) == 4
    err = capsys.readouterr().err
    assert f"no environment file {directory / 'nosuch.yaml'}" in err
    assert "available in" in err and "demo" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo"], "expected two environments to compare (LEFT RIGHT), got only demo"),
        (["demo", "staging", "--last"], "--last compares one environment with its last"),
        (["demo", "--area", "cookies"], "argument --area: invalid choice: 'cookies'"),
        (["demo", "staging", "--history", "h.sqlite"], "--history names where --last looks"),
    ],
)
def test_a_wrong_command_line_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 4
    err = capsys.readouterr().err
    assert err.startswith("usage: gonogo diff")
    assert message in err


def test_diff_last_needs_a_recorded_fingerprint(
    demo: DemoConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in demo.variables().items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "history.sqlite"
    last = [str(DEMO_ENV), "--last", "--history", str(path)]
    assert main(last) == 4
    assert f"no history file at {path}" in capsys.readouterr().err
    History.open(path).close()
    assert main(last) == 4
    assert f"{path}: no run of demo recorded yet" in capsys.readouterr().err
    with History.open(path) as history:
        history.append(
            {
                "decision": "GO",
                "environment": "demo",
                "started_at": "2026-11-20T10:00:00.000+00:00",
                "duration_s": 3.0,
                "exit_code": 0,
                "checks": [],
            }
        )
    assert main(last) == 4
    assert (
        f"{path}: run 1 of demo (2026-11-20T10:00:00+00:00) recorded no fingerprint; it ran "
        "before gonogo recorded fingerprints, or with no tls/headers/ports/containers checks"
    ) in capsys.readouterr().err


def test_a_target_that_refuses_shows_an_error_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (closed,) = free_ports(1)
    refusing = tmp_path / "refusing.yaml"
    refusing.write_text(
        f"""
name: refusing
base_url: https://127.0.0.1:{closed}
defaults: {{timeout_s: 2}}
tls: [{{name: edge, server_name: localhost}}]
headers: [{{name: edge, url: /}}]
ports: [{{name: edge, host: 127.0.0.1, closed: [{closed}]}}]
"""
    )
    # Both sides equally unreachable is no match: an entry nobody observed is always shown.
    assert main([str(refusing), str(refusing), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    errors = {row["key"]: row for row in report["differences"]}
    assert set(errors) == {"tls edge: error", "headers edge: error"}
    assert "refused" in str(errors["tls edge: error"]["left"])
    assert errors["headers edge: error"]["right"] == (
        f"GET https://127.0.0.1:{closed}/: connection refused (nothing listening?)"
    )
    assert report["compared"] == 4  # the two errors, and the scan's open and filtered ports
