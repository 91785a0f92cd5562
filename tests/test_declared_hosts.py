"""Traffic goes only to declared hosts: redirects, flows, OpenAPI runs, snapshots and load runs
steered by an answer to another host send it nothing, and say so.

The deployment is a real HTTP server on 127.0.0.1; the "other host" is a real listener on
127.0.0.2 (loopback too on Linux), counting every connection it accepts, so "not followed"
is measured where it would show, not inferred from a message. Each refusal is paired with
the same run once the other host is declared, which does reach it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gonogo.declared_hosts import DeclaredHosts, declared_hosts_of, host_of
from gonogo.environment import Environment
from gonogo.environment_flows import Flow, SchemathesisRun
from gonogo.environment_load import LoadRequest, LoadScenario
from gonogo.flows import FlowRun, run_flow
from gonogo.probes.http import tls_context
from gonogo.probes.load import run_load
from gonogo.probes.openapi import call_operations, fetch_document, get_operations
from gonogo.probes.redirects import follow
from gonogo.probes.schemathesis import run_schemathesis
from gonogo.snapshot import SnapshotTargets, observe
from tests.suite_copy import decision, write_env

NOT_DECLARED = "a host the environment does not declare"
Route = tuple[int, dict[str, str], bytes]


@dataclass
class Served:
    """What one listener saw: connections accepted and request paths, in order."""

    connections: int = 0
    paths: list[str] = field(default_factory=list)
    routes: dict[str, Route] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    served: Served

    def verify_request(self, request: Any, client_address: Any) -> bool:
        with self.served.lock:
            self.served.connections += 1
        return True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        served = self.server.served
        with served.lock:
            served.paths.append(self.path)
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        status, headers, body = served.routes.get(
            self.path.split("?")[0], (404, {"content-type": "text/plain"}, b"not here\n")
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def __getattr__(self, name: str) -> Any:
        # Every method is answered (schemathesis tries TRACE, QUERY...): a 501 is a 5xx.
        if name.startswith("do_"):
            return self._answer
        raise AttributeError(name)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def listening(host: str) -> Iterator[tuple[str, Served]]:
    """An HTTP server on `host`, a free port: its base URL and what it saw; stopped after."""
    kind = _Server6 if ":" in host else _Server
    server = kind((host, 0), _Handler)
    server.served = Served()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{port}", server.served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def redirect(location: str, status: int = 302) -> Route:
    return status, {"location": location}, b""


def ok(body: Any = None) -> Route:
    return 200, {"content-type": "application/json"}, json.dumps(body or {"ok": True}).encode()


@pytest.fixture
def deployment() -> Iterator[tuple[str, Served]]:
    """The declared deployment, on 127.0.0.1."""
    with listening("127.0.0.1") as found:
        yield found


@pytest.fixture
def other() -> Iterator[tuple[str, Served]]:
    """Another host nobody declared, on 127.0.0.2: every test asserts what it received."""
    with listening("127.0.0.2") as found:
        served = found[1]
        served.routes.update({p: ok() for p in ("/final", "/steal", "/steal2", "/health")})
        yield found


# -- the policy itself ------------------------------------------------------------------------


def test_names_compare_case_insensitively_and_addresses_as_addresses() -> None:
    hosts = DeclaredHosts.of(["API.Example.com.", "[::1]", "10.0.0.7", "::ffff:10.0.0.8"])
    for allowed in ("api.example.com", "api.EXAMPLE.com.", "::1", "[::1]", "0:0::1", "10.0.0.7"):
        assert hosts.allows(allowed), allowed
    assert hosts.allows("::ffff:10.0.0.7") and hosts.allows("10.0.0.8")  # IPv4-mapped
    for refused in ("example.com", "api.example.com.evil", "::2", "10.0.0.70", "127.0.0.1", ""):
        assert not hosts.allows(refused), refused
    # Nothing is resolved: other spellings of an address are other hosts, refused.
    assert not DeclaredHosts.of(["127.0.0.1"]).allows("127.1")
    assert not DeclaredHosts.of(["127.0.0.1"]).allows("localhost")
    assert not DeclaredHosts.of(["http://{{ host }}/"]).allows("{{ host }}")


def test_every_host_field_of_an_environment_is_declared(tmp_path: Path) -> None:
    environment = Environment.model_validate(
        {
            "name": "everything",
            "base_url": "https://Base.example",
            "smoke": [{"name": "s", "request": {"url": "http://smoke.example:8080/health"}}],
            "tls": [{"url": "tls.example:8443"}],
            "redirects": [{"url": "http://redirect.example/", "to": "https://to.example/"}],
            "headers": [{"url": "https://headers.example/"}],
            "cookies": [{"name": "c", "request": {"url": "https://cookies.example/"}}],
            "cors": [{"url": "/cors", "allowed_origins": ["https://origin.example"]}],
            "endpoints": [{"url": "https://[2001:db8::5]/", "cache": {}}],
            "exposed_paths": ["https://exposed.example/.env"],
            "rate_limits": [
                {"name": "r", "request": {"url": "https://limits.example/"}, "limit": 3}
            ],
            "ports": [{"host": "ports.example", "open": [22]}],
            "reachability": [{"to": "[2001:db8::9]:5432", "expect": "closed"}],
            "containers": [{"select": {"container": "x"}, "engine": "tcp://docker.example:2376"}],
            "hosts": [{"backend": "ssh://deploy@ssh.example:2222"}, {"backend": "docker://app"}],
            "dependencies": [
                {"url": "postgresql://u@db.example/app"},
                {"url": "amqp://mq.example", "management_url": "http://mgmt.example:15672"},
            ],
            "flows": [
                {
                    "name": "f",
                    "steps": [
                        {"name": "a", "request": {"url": "https://flow.example/x"}},
                        {"name": "b", "request": {"url": "http://{{ run_id }}.example/"}},
                    ],
                }
            ],
            "bad_input": [{"url": "https://bad.example/", "healthy": "s"}],
            "openapi": [{"url": "https://openapi.example/openapi.json"}],
            "metrics": {"prometheus": "http://prometheus.example:9090"},
            "notify": [{"url": "https://hooks.example/T0"}],
        }
    )
    hosts = declared_hosts_of(environment)
    declared = [
        *("base.example", "smoke.example", "tls.example", "redirect.example", "headers.example"),
        *("cookies.example", "2001:db8::5", "exposed.example", "limits.example", "ports.example"),
        *("2001:db8::9", "docker.example", "ssh.example", "db.example", "mq.example"),
        *("mgmt.example", "flow.example", "bad.example", "openapi.example", "prometheus.example"),
        "hooks.example",
    ]
    assert [host for host in declared if not hosts.allows(host)] == []
    # Expectations about a header's value, a templated host, a container name: not places to go.
    for name in ("to.example", "origin.example", "app", "run_id.example", "disallowed.invalid"):
        assert not hosts.allows(name), name
    assert host_of("/a/path") == "" and host_of("http://[::1]:8/") == "::1"


# -- redirects --------------------------------------------------------------------------------


def test_a_redirect_to_an_undeclared_address_is_recorded_not_followed(
    deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/away"] = redirect(f"{elsewhere}/final")
    served.routes["/local"] = redirect(url.replace("127.0.0.1", "localhost") + "/final")

    chain = follow(f"{url}/away", timeout_s=3, hosts=DeclaredHosts.of(["127.0.0.1"]))
    assert [(hop.status, hop.location) for hop in chain.hops] == [(302, f"{elsewhere}/final")]
    assert (chain.final_status, chain.undeclared_host) == (None, "127.0.0.2")
    assert chain.problem == f"redirect to {elsewhere}/final not followed: 127.0.0.2 is not declared"
    # localhost was once always followed; now it is a host like any other.
    local = follow(f"{url}/local", timeout_s=3)
    assert local.undeclared_host == "localhost" and len(local.hops) == 1
    assert seen.connections == 0 and served.paths == ["/away", "/local"]

    declared = follow(f"{url}/away", timeout_s=3, hosts=DeclaredHosts.of(["127.0.0.2"]))
    assert (declared.final_status, declared.undeclared_host, declared.problem) == (200, None, None)
    assert seen.paths == ["/final"]


def test_an_ipv6_location_matches_its_declaration_however_it_is_written(
    deployment: tuple[str, Served],
) -> None:
    url, served = deployment
    with listening("::1") as (v6, seen):
        seen.routes["/v6"] = ok()
        served.routes["/to-v6"] = redirect(f"{v6}/v6")
        refused = follow(f"{url}/to-v6", timeout_s=3, hosts=DeclaredHosts.of(["::2"]))
        assert (refused.undeclared_host, seen.connections) == ("::1", 0)
        for spelling in ("[::1]", "::1", "0:0:0:0:0:0:0:1"):
            chain = follow(f"{url}/to-v6", timeout_s=3, hosts=DeclaredHosts.of([spelling]))
            assert chain.final_status == 200, (spelling, chain.problem)
        assert seen.paths == ["/v6"] * 3


def test_a_snapshot_follows_redirects_only_to_the_urls_it_was_given(
    deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/"] = redirect(f"{elsewhere}/final", 301)

    alone = observe(SnapshotTargets(urls=(f"{url}/",), timeout_s=2))
    chain = alone.sites[0].redirect
    assert chain is not None and chain.undeclared_host == "127.0.0.2"
    assert seen.connections == 0

    both = observe(SnapshotTargets(urls=(f"{url}/", f"{elsewhere}/health"), timeout_s=2))
    chain = both.sites[0].redirect
    assert chain is not None and chain.final_status == 200 and chain.undeclared_host is None
    assert "/final" in seen.paths


# -- the suite: the redirect check and flows --------------------------------------------------


def _steered(suite: pytest.Pytester, deployment: str, elsewhere: str, declare: bool) -> None:
    """An environment whose redirect chain and flows an answer points at `elsewhere`."""
    smoke = f"smoke:\n  - {{name: other, request: {{url: '{elsewhere}/health'}}}}\n"
    write_env(
        suite,
        "steered",
        f"""
name: steered
base_url: {deployment}
defaults: {{timeout_s: 3}}
{smoke if declare else ""}
redirects:
  - {{name: chain, url: "{deployment}/start", to: "{deployment}/landing"}}
flows:
  - name: steer
    steps:
      - {{name: where, request: {{url: /where}}, capture: {{next: next}}}}
      - {{name: go, request: {{url: "{{{{ next }}}}"}}}}
  - name: steer-path
    steps:
      - {{name: where, request: {{url: /where}}, capture: {{path: path}}}}
      - {{name: go, request: {{url: "/{{{{ path }}}}"}}}}
""",
    )


def _run(suite: pytest.Pytester) -> dict[str, tuple[str, str]]:
    suite.runpytest(
        "--env=steered", "checks/test_redirects.py", "checks/test_flows.py", "checks/test_smoke.py"
    )
    return {c["id"]: (c["outcome"], c.get("message") or "") for c in decision(suite)["checks"]}


@pytest.fixture
def steering(deployment: tuple[str, Served], other: tuple[str, Served]) -> tuple[str, str]:
    url, served = deployment
    elsewhere, _ = other
    served.routes.update(
        {
            "/start": redirect(f"{url}/landing", 301),
            "/landing": redirect(f"{elsewhere}/final"),
            "/where": ok({"next": f"{elsewhere}/steal", "path": f"{elsewhere}/steal2"}),
        }
    )
    return url, elsewhere


def test_the_suite_sends_nothing_to_a_host_an_answer_names(
    suite: pytest.Pytester, steering: tuple[str, str], other: tuple[str, Served]
) -> None:
    url, elsewhere = steering
    _steered(suite, url, elsewhere, declare=False)
    verdicts = _run(suite)

    assert verdicts["test_http_redirects_to_https[chain]"] == (
        "failed",
        f"chain ({url}/start): redirect to 127.0.0.2, {NOT_DECLARED}, not followed; "
        f"expected 301 or 308 to {url}/landing",
    )
    for flow, path in (("steer", "steal"), ("steer-path", "steal2")):
        outcome, message = verdicts[f"test_flow_step[{flow}/2-go]"]
        assert outcome == "failed"
        assert message == (
            f"{flow}: step go: not sent: GET {elsewhere}/{path} goes to 127.0.0.2, {NOT_DECLARED}"
        )
        assert verdicts[f"test_flow_step[{flow}/1-where]"][0] == "passed"
    assert other[1].connections == 0


def test_the_suite_follows_an_answer_to_a_declared_host(
    suite: pytest.Pytester, steering: tuple[str, str], other: tuple[str, Served]
) -> None:
    url, elsewhere = steering
    _steered(suite, url, elsewhere, declare=True)
    verdicts = _run(suite)

    for check in (
        "test_http_redirects_to_https[chain]",
        "test_flow_step[steer/2-go]",
        "test_flow_step[steer-path/2-go]",
        "test_status_is_expected[other]",
    ):
        assert verdicts[check][0] == "passed", (check, verdicts[check])
    assert sorted(other[1].paths) == ["/final", "/health", "/steal", "/steal2"]


def test_the_api_client_of_own_checks_refuses_undeclared_hosts(
    suite: pytest.Pytester, deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/health"] = ok()
    write_env(suite, "own", f"name: own\nbase_url: {url}\n")
    (suite.path / "checks" / "test_own.py").write_text(
        "def test_declared(api_client):\n"
        "    assert api_client.get('/health').status_code == 200\n"
        "\n"
        "def test_undeclared(api_client):\n"
        f"    api_client.get('{elsewhere}/steal')\n"
    )
    result = suite.runpytest("--env=own", "checks/test_own.py")
    result.assert_outcomes(passed=1, failed=1)
    checks = {c["id"]: (c["outcome"], c.get("message")) for c in decision(suite)["checks"]}
    assert checks["test_undeclared"] == (
        "failed",
        f"api_client: not sent: GET {elsewhere}/steal goes to 127.0.0.2, {NOT_DECLARED}",
    )
    assert served.paths == ["/health"] and seen.connections == 0


def test_a_flow_run_without_a_policy_allows_only_its_own_hosts(
    deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/where"] = ok({"next": f"{elsewhere}/steal"})
    served.routes["/made"] = ok({"id": "x", "undo": f"{elsewhere}/steal"})

    def flow_run(steps: list[dict[str, Any]], hosts: DeclaredHosts | None = None) -> FlowRun:
        return run_flow(
            Flow.model_validate({"name": "f", "steps": steps}),
            resolve_url=lambda path: url + path if path.startswith("/") else path,
            default_headers={},
            timeout_s=3,
            tls=tls_context(None),
            run_id="r1",
            learn_secret=lambda secret: None,
            hosts=hosts,
        )

    where = {"name": "where", "request": {"url": "/where"}, "capture": {"next": "next"}}
    go = {"name": "go", "request": {"url": "{{ next }}"}}
    made = {
        "name": "made",
        "request": {"method": "POST", "url": "/made"},
        "capture": {"undo": "undo"},
        "cleanup": {"request": {"method": "DELETE", "url": "{{ undo }}"}},
    }
    run = flow_run([made, where, go])
    assert [step.outcome for step in run.steps] == ["passed", "passed", "failed"]
    assert run.step("go").request is None  # never sent
    assert [(c.ok, c.problem) for c in run.cleanups] == [
        (False, f"not sent: DELETE {elsewhere}/steal goes to 127.0.0.2, {NOT_DECLARED}")
    ]
    # A URL the flow itself writes is the flow's own declaration.
    literal = flow_run([{"name": "there", "request": {"url": f"{elsewhere}/health"}}, where, go])
    assert [step.outcome for step in literal.steps] == ["passed"] * 3
    assert seen.paths == ["/health", "/steal"]


# -- OpenAPI ----------------------------------------------------------------------------------


def _document(servers: str | None = None, **extra: Any) -> dict[str, Any]:
    items: dict[str, Any] = {
        "get": {
            "operationId": "items",
            "responses": {"200": {"description": "ok", "content": {"application/json": {}}}},
            **extra,
        }
    }
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {"/items": items},
    }
    if servers is not None:
        document["servers"] = [{"url": servers}]
    return document


def test_an_openapi_smoke_calls_only_the_documents_origin(
    deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/openapi.json"] = ok(_document(servers=f"{elsewhere}/v2"))
    served.routes["/items"] = ok([])
    document = fetch_document(f"{url}/openapi.json", headers={}, timeout_s=3)
    operations = get_operations(document, document_url=f"{url}/openapi.json", exclude=[], limit=9)
    [answer] = call_operations(operations, headers={}, timeout_s=3)
    assert (answer.operation.url, answer.status) == (f"{url}/items", 200)
    assert seen.connections == 0


def _schemathesis(url: str, document_path: str = "/openapi.json") -> str:
    outcome = run_schemathesis(
        f"{url}{document_path}", url, SchemathesisRun(max_examples=2, max_duration_s=60), {}
    )
    return ("passed: " if outcome.passed else "failed: ") + outcome.summary


def test_schemathesis_is_never_handed_a_document_pointing_elsewhere(
    deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    remote = _document(parameters=[{"$ref": f"{elsewhere}/parameters.json#/q"}])
    served.routes["/remote-ref.json"] = ok(remote)
    example = {"name": "q", "in": "query", "schema": {"type": "string"}}
    example["examples"] = {"a": {"externalValue": f"{elsewhere}/example.txt"}}
    served.routes["/external-value.json"] = ok(_document(parameters=[example]))
    served.routes["/relative-ref.json"] = ok(_document(parameters=[{"$ref": "common.json#/q"}]))
    served.routes["/moved.json"] = redirect(f"{elsewhere}/openapi.json")

    assert _schemathesis(url, "/remote-ref.json") == (
        "failed: not run: schemathesis would fetch what the document points to, from wherever "
        f"it points: $ref '{elsewhere}/parameters.json#/q' at paths./items.get.parameters[0] "
        f"names 127.0.0.2, {NOT_DECLARED}; bundle them into the document"
    )
    assert f"externalValue '{elsewhere}/example.txt' at " in _schemathesis(
        url, "/external-value.json"
    )
    assert "$ref 'common.json#/q' at paths./items.get.parameters[0] is outside the document" in (
        _schemathesis(url, "/relative-ref.json")
    )
    assert _schemathesis(url, "/moved.json").startswith(
        f"failed: not run, the document was not read: {url}/moved.json: expected status 200 "
    )
    assert seen.connections == 0


def test_schemathesis_sends_to_the_base_url_whatever_the_servers_say(
    deployment: tuple[str, Served], other: tuple[str, Served]
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/openapi.json"] = ok(_document(servers=f"{elsewhere}/v2"))
    served.routes["/items"] = ok([])
    assert _schemathesis(url).startswith("passed: ")
    assert "/items" in served.paths
    assert seen.connections == 0


# -- load -------------------------------------------------------------------------------------


def test_a_load_request_for_another_host_is_refused_and_counted(
    deployment: tuple[str, Served], other: tuple[str, Served], tmp_path: Path
) -> None:
    url, served = deployment
    elsewhere, seen = other
    served.routes["/fast"] = ok()
    scenario = LoadScenario.model_validate(
        {
            "users": 2,
            "spawn_rate": 100,
            "wait_s": [0.02, 0.02],
            "duration_s": 2,
            "processes": 1,
            "grace_s": 20,
            "requests": [{"name": "home", "path": "/fast"}],
        }
    )
    # Validation allows only paths on base_url (`//host/x` included: it is refused there too);
    # requests built around it must still not leave the host.
    double_slash = f"//{elsewhere.removeprefix('http://')}/x"
    with pytest.raises(ValidationError, match="names another host"):
        LoadRequest.model_validate({"name": "double-slash", "path": double_slash})
    built = [
        LoadRequest.model_construct(
            name=name, method="GET", path=path, weight=1, headers={}, json_body=None,
            expect_status=None,
        )
        for name, path in (("double-slash", double_slash), ("absolute", f"{elsewhere}/x"))
    ]  # fmt: skip
    scenario = scenario.model_copy(update={"requests": [*scenario.requests, *built]})
    load_run = run_load(
        scenario,
        base_url=url,
        headers={},
        ca_file=None,
        verify_tls=True,
        report_dir=tmp_path,
        progress=lambda line: None,
    )

    counts: dict[str, list[int]] = {}  # name -> [failures, requests]
    for row in load_run.results["slices"]:
        total = counts.setdefault(row["name"], [0, 0])
        total[0] += row["failures"]
        total[1] += row["histogram"]["count"]
    assert set(counts) == {"home", "double-slash", "absolute"}, load_run.output_tail
    for refused in ("absolute", "double-slash"):
        failures, attempts = counts[refused]
        assert failures == attempts > 0, counts  # every attempt a failure, none sent
    assert counts["home"][0] == 0 and counts["home"][1] == served.paths.count("/fast") > 0
    assert set(served.paths) == {"/fast"}
    # Locust's error report, at the end of its output, names each refusal.
    assert (
        f"RefusedError('request absolute: {elsewhere}/x goes to 127.0.0.2, not to 127.0.0.1, "
        "the host the environment declares; not sent')"
    ) in load_run.output_tail
    assert (
        f"RefusedError('request double-slash: //{elsewhere.removeprefix('http://')}/x starts "
        "with //, which reads as another host (//host/path); not sent')"
    ) in load_run.output_tail
    assert seen.connections == 0
