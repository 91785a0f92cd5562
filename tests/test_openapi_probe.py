"""The OpenAPI smoke against a real API: which GETs it calls, where it sends them, and how it
reads the answers against the document, in OpenAPI 3.1, 3.0 (YAML) and Swagger 2.0."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from gonogo.environment_flows import SchemathesisRun
from gonogo.errors import GonogoError, TargetUnreachableError
from gonogo.probes.openapi import (
    Operation,
    call_operations,
    fetch_document,
    get_operations,
    response_problems,
    run_schemathesis,
)
from tests.negative_app import PROBE_HEADERS, serve


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture(scope="module")
def document(api: str) -> dict[str, Any]:
    return fetch_document(f"{api}/openapi.json", headers={}, timeout_s=5)


def _closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def test_parameterless_gets_are_chosen(api: str, document: dict[str, Any]) -> None:
    operations = get_operations(
        document, document_url=f"{api}/openapi.json", exclude=["/admin/*"], limit=100
    )
    # Not /api/items/{item_id} (a path parameter), /api/search and /search (a required
    # query parameter), /admin/stats (excluded), nor any POST.
    assert [(op.path, op.url) for op in operations] == [
        ("/api/broken", f"{api}/api/broken"),
        ("/api/crash", f"{api}/api/crash"),
        ("/api/items", f"{api}/api/items"),
    ]
    assert operations[2].operation_id == "items_api_items_get"
    unfiltered = get_operations(document, document_url=f"{api}/openapi.json", exclude=[], limit=2)
    assert [op.path for op in unfiltered] == ["/admin/stats", "/api/broken"]


def test_answers_are_judged_against_the_document(api: str, document: dict[str, Any]) -> None:
    operations = get_operations(
        document, document_url=f"{api}/openapi.json", exclude=["/admin/*"], limit=100
    )
    answers = call_operations(operations, headers={}, timeout_s=5)
    assert [(a.operation.path, a.status, a.error) for a in answers] == [
        ("/api/broken", 200, None),
        ("/api/crash", 500, None),
        ("/api/items", 200, None),
    ]
    problems = {
        a.operation.path: response_problems(
            document, a.operation.path, a.status or 0, a.content_type, a.body
        )
        for a in answers
    }
    assert problems == {
        "/api/broken": ["body at $.id: 'not-an-int' is not of type 'integer'"],
        "/api/crash": ["status 500 not declared; declared: 200"],
        "/api/items": [],
    }


def test_served_content_type_and_body_must_fit_the_declaration(document: dict[str, Any]) -> None:
    assert response_problems(document, "/api/items", 200, "text/html", b"<html>") == [
        "content-type text/html not declared for status 200; declared: application/json"
    ]
    [not_json] = response_problems(document, "/api/items", 200, "application/json", b"<html>")
    assert not_json.startswith("content-type application/json but the body is not JSON (")
    wrong = json.dumps([{"id": "a"}, {"id": "b", "name": 1}, {}, {}]).encode()
    problems = response_problems(document, "/api/items", 200, "application/json", wrong)
    assert problems == [
        "body at $[0]: 'name' is a required property",
        "body at $[0].id: 'a' is not of type 'integer'",
        "body at $[1].id: 'b' is not of type 'integer'",
        "and 5 more schema error(s)",
    ]
    assert response_problems(document, "/nowhere", 200, "application/json", b"{}") == [
        "GET /nowhere is not in the document"
    ]


def test_openapi_30_yaml_with_nullable_and_a_relative_server(api: str) -> None:
    url = f"{api}/legacy/openapi.yaml"
    document = fetch_document(url, headers={}, timeout_s=5)
    assert document["openapi"] == "3.0.3"
    # /keyed needs the `key` parameter, declared through a $ref.
    operations = get_operations(document, document_url=url, exclude=[], limit=10)
    assert operations == [Operation("/maybe", "maybe", f"{api}/legacy/maybe")]
    [answer] = call_operations(operations, headers={"X-Gonogo-Probe": "smoke"}, timeout_s=5)
    assert PROBE_HEADERS[-1] == "smoke"
    assert answer.status == 200
    assert response_problems(document, "/maybe", 200, answer.content_type, answer.body) == []
    wrong = b'{"id": 1, "note": 5, "owner": {}}'
    problems = response_problems(document, "/maybe", 200, "application/json", wrong)
    assert [problem.split(":")[0] for problem in problems] == ["body at $.note", "body at $.owner"]


def test_servers_on_another_host_are_ignored(api: str) -> None:
    url = f"{api}/foreign/openapi.json"
    document = fetch_document(url, headers={}, timeout_s=5)
    assert document["servers"] == [{"url": "https://elsewhere.example/v2"}]
    operations = get_operations(document, document_url=url, exclude=["/admin/*"], limit=100)
    assert [op.url for op in operations] == [
        f"{api}/api/broken",
        f"{api}/api/crash",
        f"{api}/api/items",
    ]
    answers = call_operations(operations, headers={}, timeout_s=5)
    assert [a.status for a in answers] == [200, 500, 200]


def test_a_server_on_the_documents_own_origin_is_used(api: str) -> None:
    url = f"{api}/same-origin/openapi.json"
    document = fetch_document(url, headers={}, timeout_s=5)
    operations = get_operations(document, document_url=url, exclude=[], limit=10)
    assert [op.url for op in operations] == [f"{api}/legacy/maybe"]


def test_swagger_20_base_path_and_definitions() -> None:
    document = {
        "swagger": "2.0",
        "host": "elsewhere.example",
        "basePath": "/v1",
        "paths": {
            "/ping": {
                "get": {
                    "responses": {
                        "2XX": {"description": "ok", "schema": {"$ref": "#/definitions/Pong"}},
                        "default": {"description": "error"},
                    }
                }
            }
        },
        "definitions": {
            "Pong": {
                "type": "object",
                "properties": {"n": {"maximum": 5, "exclusiveMaximum": True}},
            }
        },
    }
    operations = get_operations(
        document, document_url="http://127.0.0.1:9/swagger.json", exclude=[], limit=10
    )
    assert operations == [Operation("/ping", "GET /ping", "http://127.0.0.1:9/v1/ping")]
    assert response_problems(document, "/ping", 204, "application/json", b'{"n": 4}') == []
    assert response_problems(document, "/ping", 200, "application/json", b'{"n": 5}') == [
        "body at $.n: 5 is greater than or equal to the maximum of 5"
    ]
    assert response_problems(document, "/ping", 503, "text/html", b"<html>") == []


def test_non_openapi_answers_are_refused_in_clear_words(api: str) -> None:
    with pytest.raises(GonogoError, match=r"found a mapping with keys query, results$") as caught:
        fetch_document(f"{api}/search?q=x", headers={}, timeout_s=5)
    assert str(caught.value).startswith(
        f"{api}/search?q=x: expected an OpenAPI document (a mapping with an `openapi` or "
        "`swagger` key)"
    )
    with pytest.raises(GonogoError, match=r"expected status 200 .* found 404 \("):
        fetch_document(f"{api}/nothing-here.json", headers={}, timeout_s=5)
    with pytest.raises(GonogoError, match=r"expected an OpenAPI document .* found <!DOCTYPE html>"):
        fetch_document(f"{api}/docs", headers={}, timeout_s=5)


def test_closed_port_gives_no_answer() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(TargetUnreachableError, match="connection refused"):
        fetch_document(f"{url}/openapi.json", headers={}, timeout_s=2)
    [answer] = call_operations([Operation("/x", "x", f"{url}/x")], headers={}, timeout_s=2)
    assert (answer.status, answer.body) == (None, b"")
    assert answer.error == f"GET {url}/x: connection refused (nothing listening?)"


def test_schemathesis_finds_the_crash_within_its_bound(api: str) -> None:

    run = SchemathesisRun(max_examples=3, max_duration_s=60)
    started = time.monotonic()
    outcome = run_schemathesis(f"{api}/openapi.json", api, run, {"X-Gonogo-Probe": "fuzz"})
    assert time.monotonic() - started < run.max_duration_s
    assert not outcome.passed
    assert "GET /api/crash" in outcome.summary
    assert "POST /fragile/login" in outcome.summary
    assert "ST101 Server error" in outcome.output_tail


def test_schemathesis_passes_a_sound_api(api: str) -> None:

    run = SchemathesisRun(max_examples=2, max_duration_s=60)
    PROBE_HEADERS.clear()
    outcome = run_schemathesis(
        f"{api}/legacy/openapi.yaml", f"{api}/legacy", run, {"X-Gonogo-Probe": "fuzz"}
    )
    assert outcome.passed, outcome.output_tail
    assert "failing" not in outcome.summary
    assert PROBE_HEADERS and set(PROBE_HEADERS) == {"fuzz"}


def test_schemathesis_is_stopped_at_its_bound(api: str) -> None:

    run = SchemathesisRun(max_examples=1000, max_duration_s=3)
    started = time.monotonic()
    outcome = run_schemathesis(f"{api}/openapi.json", api, run, {})
    assert time.monotonic() - started < run.max_duration_s + 10 + 2
    assert not outcome.passed
    assert outcome.summary.startswith("not finished within 3 s; ")
