"""The flow runner against a real API: steps pass and fail for the right reasons, say why, mask
what they learn, and leave nothing behind."""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gonogo.environment_flows import Flow
from gonogo.flows import FlowRun, SentRequest, run_flow
from gonogo.probes.http import tls_context
from tests import flow_app
from tests.asgi_server import serve
from tests.flow_app import PASSWORD, STATE, USERNAME

RUN_ID = "run42"
AUTH = {"Authorization": "Bearer {{ token }}"}
LOGIN = {
    "name": "login",
    "request": {
        "method": "POST",
        "url": "/login",
        "json": {"username": USERNAME, "password": PASSWORD},
    },
    "capture": {"token": {"json": "access_token", "secret": True}},
}
Runner = Callable[..., FlowRun]


def create(name: str = "create", body: Any = None, **extra: Any) -> dict[str, Any]:
    """A step creating an item, capturing its id and deleting it at the end."""
    return {
        "name": name,
        "request": {
            "method": "POST",
            "url": "/items",
            "headers": AUTH,
            "json": body or {"name": f"{name}-{{{{ run_id }}}}"},
        },
        "expect": {"status": 201},
        "capture": {"id": "id"},
        "cleanup": {"request": {"method": "DELETE", "url": "/items/{{ id }}", "headers": AUTH}},
        **extra,
    }


def upload(file: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A step uploading one file (path or inline content) and capturing its id."""
    return {
        "name": "upload",
        "request": {"method": "POST", "url": "/files", "headers": AUTH, "files": {"file": file}},
        "capture": {"file_id": "id"},
        **extra,
    }


def download(expect: dict[str, Any]) -> dict[str, Any]:
    """A step downloading the uploaded file, judged by `expect`."""
    return {
        "name": "download",
        "request": {"url": "/files/{{ file_id }}", "headers": AUTH},
        "expect": expect,
    }


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    with serve(flow_app.app) as url:
        yield url


@pytest.fixture(autouse=True)
def fresh_state() -> None:
    flow_app.reset()


@pytest.fixture
def learned() -> list[str]:
    return []


@pytest.fixture
def run(service: str, learned: list[str]) -> Runner:
    """Runs a flow, or its steps in the YAML's shape, against the test API."""

    def runner(
        flow: list[dict[str, Any]] | Flow,
        *,
        default_headers: dict[str, str] | None = None,
        resolve_url: Callable[[str], str] | None = None,
    ) -> FlowRun:
        if not isinstance(flow, Flow):
            flow = Flow.model_validate({"name": "flow", "steps": flow})
        return run_flow(
            flow,
            resolve_url=resolve_url or (lambda url: service + url if url.startswith("/") else url),
            default_headers=default_headers or {},
            timeout_s=5,
            tls=tls_context(None),
            run_id=RUN_ID,
            learn_secret=learned.append,
        )

    return runner


@pytest.fixture
def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def outcomes(run: FlowRun) -> list[str]:
    return [step.outcome for step in run.steps]


def answer(run: FlowRun, step: str) -> Any:
    """The JSON a step got back."""
    response = run.step(step).response
    assert response is not None, run.step(step).describe()
    return response.json()


def sent(run: FlowRun, step: str) -> SentRequest:
    request = run.step(step).request
    assert request is not None, run.step(step).describe()
    return request


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_login_then_token_use_passes(run: Runner, learned: list[str]) -> None:
    items = {
        "name": "list",
        "request": {"url": "/items", "headers": AUTH},
        "expect": {"status": 200, "json": {"items": []}},
    }
    result = run([LOGIN, items])
    assert outcomes(result) == ["passed", "passed"]
    assert result.passed
    token = answer(result, "login")["access_token"]
    assert token in learned
    assert sent(result, "list").headers == {"Authorization": "***"}
    assert token not in repr(sent(result, "list"))
    assert '"password":"***"' in sent(result, "login").body_excerpt


def test_refused_without_a_token_as_expected(run: Runner) -> None:
    refused = {
        "name": "anonymous",
        "request": {"url": "/items"},
        "expect": {
            "status": 401,
            "headers": {"WWW-Authenticate": "Bearer"},
            "json": {"detail": "not authenticated"},
        },
    }
    assert run([refused]).passed


def test_expecting_success_without_a_token_names_the_status_and_request(
    run: Runner, service: str
) -> None:
    anonymous = {"name": "anonymous", "request": {"url": "/items"}, "expect": {"status": 200}}
    step = run([anonymous]).step("anonymous")
    assert step.outcome == "failed"
    assert step.problems == ("expected status 200, got 401 Unauthorized",)
    message = step.describe()
    assert message.startswith(
        "step anonymous: expected status 200, got 401 Unauthorized; "
        f"request: GET {service}/items; response: 401 (content-type: application/json, "
    )
    assert "www-authenticate: Bearer" in message
    assert message.endswith(') body: {"detail":"not authenticated"}')


@pytest.mark.parametrize(
    ("expect", "outcome", "problems"),
    [
        ({"status": 401}, "passed", ()),
        ({}, "failed", ("expected a 2xx status, got 401 Unauthorized",)),
    ],
)
def test_a_wrong_token_is_refused(
    run: Runner, expect: dict[str, Any], outcome: str, problems: tuple[str, ...]
) -> None:
    step = {
        "name": "forged",
        "request": {"url": "/items", "headers": {"Authorization": "Bearer forged-token"}},
        "expect": expect,
    }
    result = run([step]).step("forged")
    assert (result.outcome, result.problems) == (outcome, problems)


def test_create_read_delete_leaves_nothing_behind(run: Runner) -> None:
    steps = [
        LOGIN,
        create(expect={"status": 201, "json": {"name": "create-run42"}}),
        {
            "name": "read",
            "request": {"url": "/items/{{ id }}", "headers": AUTH},
            "expect": {"json": {"id": "{{ id }}", "name": "create-{{ run_id }}"}},
        },
        {
            "name": "delete",
            "request": {"method": "DELETE", "url": "/items/{{ id }}", "headers": AUTH},
            "expect": {"status": 204},
        },
        {
            "name": "gone",
            "request": {"url": "/items/{{ id }}", "headers": AUTH},
            "expect": {"status": 404},
        },
    ]
    result = run(steps)
    assert outcomes(result) == ["passed"] * 5
    assert [(c.step, c.status, c.ok, c.problem) for c in result.cleanups] == [
        ("create", 404, True, "")
    ]
    assert result.passed
    assert STATE.items == {}


def test_a_failed_middle_step_stops_the_flow_and_cleanup_still_runs(
    run: Runner, service: str
) -> None:
    STATE.broken_reads = True
    read = {"name": "read", "request": {"url": "/items/{{ id }}", "headers": AUTH}}
    delete = {
        "name": "delete",
        "request": {"method": "DELETE", "url": "/items/{{ id }}", "headers": AUTH},
    }
    result = run([LOGIN, create(), read, delete])
    assert outcomes(result) == ["passed", "passed", "failed", "not_run"]
    assert result.step("delete").reason == "not run: step read failed"
    assert [(c.step, c.status, c.ok) for c in result.cleanups] == [("create", 204, True)]
    assert STATE.items == {}
    assert not result.passed
    item_id = answer(result, "create")["id"]
    token = answer(result, "login")["access_token"]
    message = result.step("read").describe()
    assert message.startswith(
        "step read: expected a 2xx status, got 500 Internal Server Error; "
        f"request: GET {service}/items/{item_id} (Authorization: ***); "
        "response: 500 (content-type: text/plain; charset=utf-8, "
    )
    assert message.endswith("body: Traceback: KeyError while serving Bearer ***")
    assert token not in message


def test_upload_from_a_file_downloads_the_same_bytes(run: Runner, tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(200_000))
    upload = {
        "name": "upload",
        "request": {
            "method": "POST",
            "url": "/files",
            "headers": AUTH,
            "form": {"description": "from {{ run_id }}"},
            "files": {"file": {"path": str(blob)}},
        },
        "expect": {
            "status": 201,
            "json": {
                "size": 200_000,
                "sha256": sha256(blob.read_bytes()),
                "filename": "blob.bin",
                "description": "from run42",
            },
        },
        "capture": {"file_id": "id"},
        "cleanup": {
            "request": {"method": "DELETE", "url": "/files/{{ file_id }}", "headers": AUTH}
        },
    }
    download = {
        "name": "download",
        "request": {"url": "/files/{{ file_id }}", "headers": AUTH},
        "expect": {"body_file": str(blob), "headers": {"content-type": "application/octet-stream"}},
    }
    result = run([LOGIN, upload, download])
    assert outcomes(result) == ["passed"] * 3
    content_type = sent(result, "upload").headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert [(c.status, c.ok) for c in result.cleanups] == [(204, True)]
    assert STATE.files == {}


def test_upload_of_inline_content(run: Runner) -> None:
    notes = {
        "content": "notes for {{ run_id }}\n",
        "filename": "notes-{{ run_id }}.txt",
        "content_type": "text/plain",
    }
    cleanup = {"request": {"method": "DELETE", "url": "/files/{{ file_id }}", "headers": AUTH}}
    steps = [
        upload(
            notes,
            expect={"status": 201, "json": {"size": 16, "filename": "notes-run42.txt"}},
            cleanup=cleanup,
        ),
        download(
            {
                "body_contains": "notes for {{ run_id }}",
                "header_matches": {"Content-Type": "^text/plain"},
            }
        ),
    ]
    result = run([LOGIN, *steps])
    assert outcomes(result) == ["passed"] * 3, result.step("download").describe()
    assert STATE.files == {}


def test_a_download_that_differs_says_where(run: Runner, tmp_path: Path) -> None:
    expected = tmp_path / "expected.txt"
    expected.write_bytes(b"abcXefg")
    steps = [upload({"content": "abcdef"}), download({"body_file": str(expected)})]
    result = run([LOGIN, *steps]).step("download")
    assert result.problems == (
        f"expected the body to be the 7 bytes of {expected} (sha256 {sha256(b'abcXefg')}), "
        f"got 6 bytes (sha256 {sha256(b'abcdef')}), first difference at byte 3",
    )


@pytest.mark.parametrize(
    ("schema", "problems"),
    [
        (
            {
                "type": "object",
                "required": ["q", "params"],
                "properties": {"q": {"type": "string"}, "params": {"type": "object"}},
            },
            (),
        ),
        (
            {
                "type": "object",
                "required": ["q", "total"],
                "properties": {"q": {"type": "integer"}},
            },
            (
                "expected the body to match the JSON schema, found 2 error(s): "
                "$: 'total' is a required property; $.q: 'x' is not of type 'integer'",
            ),
        ),
        (
            {"$ref": "#/definitions/nowhere"},
            (
                "expected the body to match the JSON schema, which cannot be used: "
                "PointerToNowhere: '/definitions/nowhere' does not exist within "
                "{'$ref': '#/definitions/nowhere'}",
            ),
        ),
    ],
    ids=["matches", "does-not-match", "unusable"],
)
def test_json_schema(run: Runner, schema: dict[str, Any], problems: tuple[str, ...]) -> None:
    search = {
        "name": "search",
        "request": {"url": "/search", "query": {"q": "x"}},
        "expect": {"json_schema": schema},
    }
    assert run([search]).step("search").problems == problems


def apple_and_list(expect: dict[str, Any]) -> list[dict[str, Any]]:
    apple = {"name": "apple-{{ run_id }}", "count": 3, "tags": ["red", "fruit"]}
    listing = {"name": "list", "request": {"url": "/items", "headers": AUTH}, "expect": expect}
    return [LOGIN, create("apple", apple), listing]


def test_json_expectations_that_hold(run: Runner) -> None:
    expect = {
        "json_contains": {
            "items": {"name": "apple-run42"},
            "items.0.name": "apple",
            "items.0.tags": "red",
            "items.0": {"count": 3, "tags": ["red", "fruit"]},
        },
        "json_exists": ["items.0.id"],
        "json_absent": ["items.1", "error"],
        "json_matches": {"items.0.id": "^[0-9a-f]{12}$", "items.0.count": "^3$"},
    }
    result = run(apple_and_list(expect))
    assert outcomes(result) == ["passed"] * 3, result.step("list").describe()


def test_json_expectations_that_miss_are_all_reported(run: Runner) -> None:
    expect = {
        "json": {"items.0.count": "3", "items.0.tags": ["fruit", "red"]},
        "json_contains": {
            "items.0.name": "pear",
            "items.0.tags": "green",
            "items": {"name": "pear"},
            "items.0.count": 3,
        },
        "json_exists": ["items.0.price"],
        "json_absent": ["items.0.tags"],
        "json_matches": {"items.0.name": "^pear", "items.2.name": "."},
    }
    flow_run = run(apple_and_list(expect))
    apple = answer(flow_run, "apple")
    result = flow_run.step("list")
    assert result.outcome == "failed"
    assert list(result.problems) == [
        'expected items.0.count = "3", got 3',
        'expected items.0.tags = ["fruit", "red"], got ["red", "fruit"]',
        'expected items.0.name to contain "pear", got "apple-run42"',
        'expected items.0.tags to contain "green", got ["red", "fruit"]',
        f'expected items to contain {{"name": "pear"}}, got {json.dumps([apple])}',
        "expected items.0.count to contain 3, got 3",
        "expected items.0.price in the body, found no items.0.price",
        'expected no items.0.tags in the body, found ["red", "fruit"]',
        'expected items.0.name to match /^pear/, got "apple-run42"',
        "expected items.2.name to match /./, the body has no items.2",
    ]


def test_json_expectations_on_a_body_that_is_not_json(run: Runner) -> None:
    steps = [upload({"content": "plain words"}), download({"json_exists": ["id"]})]
    assert run([LOGIN, *steps]).step("download").problems == (
        "expected a JSON body, got one that cannot be read: body is not JSON "
        "(Expecting value: line 1 column 1 (char 0)); body: plain words",
    )


def test_a_captured_header_feeds_a_later_step(run: Runner) -> None:
    created = create(capture={"id": "id", "location": {"header": "Location"}})
    search = {
        "name": "search",
        "request": {"url": "/search", "query": {"q": "{{ location }}"}},
        "expect": {"json": {"q": "/items/{{ id }}"}},
    }
    result = run([LOGIN, created, search])
    assert outcomes(result) == ["passed"] * 3, result.step("search").describe()
    item_id = answer(result, "create")["id"]
    assert sent(result, "search").url.endswith(f"/search?q=%2Fitems%2F{item_id}")


def test_a_capture_that_finds_nothing_fails_clearly(run: Runner) -> None:
    login = {**LOGIN, "capture": {"token": "accesstoken", "where": {"header": "Location"}}}
    items = {"name": "list", "request": {"url": "/items", "headers": AUTH}}
    result = run([login, items])
    assert outcomes(result) == ["failed", "not_run"]
    assert result.step("list").reason == "not run: step login failed"
    assert result.step("login").problems == (
        'capture token: no accesstoken in the body; body: {"access_token":"***",'
        '"token_type":"bearer"}',
        "capture where: no Location header in the response; "
        "found content-length, content-type, date, server, set-cookie",
    )


def test_default_headers_are_sent_overridden_and_dropped(run: Runner) -> None:
    token = flow_app.issue_token()
    steps = [
        {"name": "list", "request": {"url": "/items"}},
        {
            "name": "echo",
            "request": {"url": "/headers", "headers": {"x-client": "custom"}},
            "expect": {"json": {"headers.x-client": "custom"}},
        },
        {
            "name": "anonymous",
            "request": {"url": "/items", "headers": {"authorization": ""}},
            "expect": {"status": 401},
        },
    ]
    defaults = {"Authorization": f"Bearer {token}", "X-Client": "gonogo"}
    result = run(steps, default_headers=defaults)
    assert outcomes(result) == ["passed"] * 3
    assert [sent(result, step.name).headers for step in result.steps] == [
        {"Authorization": "***", "X-Client": "gonogo"},
        {"Authorization": "***", "x-client": "custom"},
        {"X-Client": "gonogo"},
    ]


def test_a_latency_budget_that_is_exceeded(run: Runner) -> None:
    search = {
        "name": "search",
        "request": {"url": "/search", "query": {"q": "x"}},
        "expect": {"latency_ms": 0.001},
    }
    (problem,) = run([search]).step("search").problems
    assert re.fullmatch(r"expected an answer within 0\.001 ms, got one in \d+\.\d ms", problem)


def test_an_unreachable_target_is_an_error_and_earlier_cleanups_run(
    run: Runner, closed_port: int
) -> None:
    elsewhere = f"http://127.0.0.1:{closed_port}/health"
    steps = [
        LOGIN,
        create(),
        {"name": "elsewhere", "request": {"url": elsewhere}},
        {"name": "after", "request": {"url": "/items", "headers": AUTH}},
    ]
    result = run(steps)
    assert outcomes(result) == ["passed", "passed", "error", "not_run"]
    step = result.step("elsewhere")
    assert step.reason == f"GET {elsewhere}: connection refused (nothing listening?)"
    assert step.describe() == (
        f"step elsewhere: GET {elsewhere}: connection refused (nothing listening?); "
        f"request: GET {elsewhere}"
    )
    assert [(c.step, c.ok) for c in result.cleanups] == [("create", True)]
    assert STATE.items == {}


def test_cleanups_run_when_a_step_raises(run: Runner, service: str) -> None:
    def resolve(url: str) -> str:
        if url == "/search":
            raise RuntimeError("resolver broke")
        return service + url

    search = {"name": "search", "request": {"url": "/search"}}
    with pytest.raises(RuntimeError, match="resolver broke"):
        run([LOGIN, create(), search], resolve_url=resolve)
    assert STATE.items == {}


def test_a_failed_cleanup_is_recorded_and_the_others_still_run(
    run: Runner, service: str, closed_port: int
) -> None:
    second = create("second", capture={"second_id": "id"})
    second["cleanup"] = {
        "request": {"method": "DELETE", "url": f"http://127.0.0.1:{closed_port}/items/x"}
    }
    third = create("third", capture={"third_id": "id"})
    third["cleanup"] = {
        "request": {"method": "DELETE", "url": "/items/{{ third_id }}", "headers": AUTH},
        "status": 200,
    }
    result = run([LOGIN, create("first"), second, third])
    assert outcomes(result) == ["passed"] * 4
    assert [(c.step, c.status, c.ok) for c in result.cleanups] == [
        ("third", 204, False),
        ("second", None, False),
        ("first", 204, True),
    ]
    third_id = answer(result, "third")["id"]
    assert [c.problem for c in result.cleanups] == [
        "expected status 200, got 204 No Content; "
        f"request: DELETE {service}/items/{third_id} (Authorization: ***); body: (empty)",
        f"DELETE http://127.0.0.1:{closed_port}/items/x: connection refused (nothing listening?)",
        "",
    ]
    assert [item["name"] for item in STATE.items.values()] == ["second-run42"]
    assert not result.passed


def test_learn_secret_gets_issued_tokens_cookies_and_secret_captures(
    run: Runner, learned: list[str], service: str
) -> None:
    created = create(capture={"id": {"json": "id", "secret": True}})
    read = {"name": "read", "request": {"url": "/items/{{ id }}", "headers": AUTH}}
    result = run([LOGIN, created, read])
    assert result.passed
    login = result.step("login").response
    assert login is not None
    token = login.json()["access_token"]
    cookie = login.set_cookies[0].split(";")[0].removeprefix("session=")
    item_id = answer(result, "create")["id"]
    assert sorted(learned) == sorted([PASSWORD, token, cookie, item_id])
    assert sent(result, "read").url == f"{service}/items/***"
    assert item_id not in result.step("read").describe()


def test_a_whole_variable_keeps_the_captured_type(run: Runner) -> None:
    first = create(
        "first",
        {"name": "first", "count": 3, "tags": ["a", "b"], "meta": {"k": True}},
        capture={"id": "id", "count": "count", "tags": "tags", "meta": "meta"},
    )
    second = create(
        "second",
        {
            "name": "second-{{ count }}",
            "count": "{{ count }}",
            "tags": "{{ tags }}",
            "meta": "{{meta}}",
            "label": "m={{ meta }}",
        },
        expect={"status": 201, "json": {"count": "{{ count }}", "tags": "{{ tags }}"}},
    )
    result = run([LOGIN, first, second])
    assert outcomes(result) == ["passed"] * 3, result.step("second").describe()
    stored = answer(result, "second")
    assert (stored["name"], stored["count"], stored["tags"], stored["meta"], stored["label"]) == (
        "second-3",
        3,
        ["a", "b"],
        {"k": True},
        'm={"k": true}',
    )
    # Each cleanup was filled in when its step passed: `id` changed since, both items went.
    assert [(c.step, c.status) for c in result.cleanups] == [("second", 204), ("first", 204)]
    assert STATE.items == {}


def test_query_values_read_as_json_would(run: Runner) -> None:
    search = {
        "name": "search",
        "request": {"url": "/search", "query": {"q": "a b", "exact": True, "limit": 5}},
        "expect": {"json": {"params": {"q": "a b", "exact": "true", "limit": "5"}}},
    }
    assert run([search]).passed


def test_form_and_raw_bodies_are_sent_as_given(run: Runner) -> None:
    login = {
        "name": "login",
        "request": {
            "method": "POST",
            "url": "/login",
            "form": {"username": USERNAME, "password": PASSWORD},
        },
        "expect": {"json_exists": ["access_token"]},
    }
    form = {
        "name": "form",
        "request": {"method": "POST", "url": "/echo", "form": {"a": "1 2", "b": "{{ run_id }}"}},
        "expect": {
            "json": {
                "content_type": "application/x-www-form-urlencoded",
                "body": "a=1+2&b=run42",
            }
        },
    }
    raw = {
        "name": "raw",
        "request": {
            "method": "POST",
            "url": "/echo",
            "headers": {"Content-Type": "text/plain"},
            "body": '{"raw": "{{ run_id }}"}',
        },
        "expect": {"json": {"content_type": "text/plain", "body": '{"raw": "run42"}'}},
    }
    result = run([login, form, raw])
    assert outcomes(result) == ["passed"] * 3, [step.describe() for step in result.steps]


def test_a_request_that_cannot_be_built_is_an_error(
    run: Runner, service: str, tmp_path: Path
) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"x")
    upload = {
        "name": "upload",
        "request": {"method": "POST", "url": "/files", "files": {"file": {"path": str(blob)}}},
    }
    flow = Flow.model_validate({"name": "flow", "steps": [LOGIN, create(), upload]})
    blob.unlink()  # gone between reading the environment file and running the flow
    result = run(flow)
    assert outcomes(result) == ["passed", "passed", "error"]
    assert result.step("upload").reason == (
        f"POST {service}/files: cannot build the request: "
        f"[Errno 2] No such file or directory: '{blob}'"
    )
    assert STATE.items == {}
